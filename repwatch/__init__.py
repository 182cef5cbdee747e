"""repwatch: crawl online reviews, check them, compute reputation metrics, e-mail reports."""

__version__ = "0.1.0"
