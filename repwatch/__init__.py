"""repwatch: online reputation monitoring — crawl reviews, check them, compute metrics, e-mail reports."""

__version__ = "0.1.0"
