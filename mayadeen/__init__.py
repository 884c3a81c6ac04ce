"""mayadeen: a Scrapy crawler for Al Mayadeen English."""

__version__ = "0.1.0"
