"""Scrapy settings shared by every repwatch spider: polite by default.

`repwatch.crawl.run_spider` overrides the user agent, delay and robots.txt policy from
the config, and adds the output feed and the rejects file.
"""

from repwatch.config import CrawlConfig

_CRAWL_DEFAULTS = CrawlConfig()

BOT_NAME = "repwatch"
SPIDER_MODULES = ["spiders.sites"]
NEWSPIDER_MODULE = "spiders.sites"

USER_AGENT = _CRAWL_DEFAULTS.user_agent
ROBOTSTXT_OBEY = True

CONCURRENT_REQUESTS_PER_DOMAIN = 1
# Pages of one listing requested ahead (numbered sites); raised with --concurrency.
REPWATCH_PREFETCH_PAGES = 1
# Items of one response processed at once. Scrapy starts this many workers per response;
# its default (100) costs more than a 10-review page's parsing, for no gain at ~50 a page.
CONCURRENT_ITEMS = 16
DOWNLOAD_DELAY = _CRAWL_DEFAULTS.download_delay
# No random spread (Scrapy's default is 0.5–1.5× the delay): the configured delay is the
# least time a site waits between two of our requests, as a data engineer reads it.
DOWNLOAD_DELAY_JITTER = 0.0
DOWNLOAD_TIMEOUT = 30
# Review pages are 20 KB (JD) to 2 MB (a Reddit listing); Scrapy's default limit is 1 GB.
# A bigger page (or one that inflates past this from gzip) is refused and kept as a reject.
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = _CRAWL_DEFAULTS.download_delay
AUTOTHROTTLE_MAX_DELAY = 30.0

RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
# Scrapy's retry, plus waiting: Retry-After when the site sends it, else 1 s, 2 s, 4 s, ...
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "spiders.middlewares.BackoffRetryMiddleware": 550,
}
RETRY_BACKOFF_BASE = 1.0
RETRY_BACKOFF_MAX = 60.0
RETRY_AFTER_MAX = 300.0

# For development: `repwatch crawl --http-cache DIR` replays responses from DIR.
HTTPCACHE_ENABLED = False
HTTPCACHE_POLICY = "scrapy.extensions.httpcache.DummyPolicy"

# Spider middlewares that only look at followed requests, yet wrap every scraped item:
# page depth and URL length are never limited here, and the meta-copy check is a
# development aid. Dropping them halves Scrapy's cost per item.
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}

ITEM_PIPELINES = {
    "spiders.pipelines.PageRejectsPipeline": 100,
    "spiders.pipelines.RecordsWriterPipeline": 200,
}
REPWATCH_REJECTS_FILE = None
REPWATCH_RECORDS_FILE = None

FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"
# No consoles into the crawl process: telnet, nor the HTTP code-execution server (Scrapy 2.19).
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
