"""JSON Lines output through Scrapy feed exports: the default feed and kill-safe file storage."""
