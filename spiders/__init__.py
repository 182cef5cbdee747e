"""The Scrapy project: one spider per review site, all yielding `repwatch.records` records."""
