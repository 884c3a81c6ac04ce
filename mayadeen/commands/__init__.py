"""Project commands (``COMMANDS_MODULE``): ``crawl`` replaces Scrapy's to report the run's outcome;
``crawlstatus`` shows a distributed crawl."""
