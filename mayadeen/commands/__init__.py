"""Project commands (``COMMANDS_MODULE``): ``crawl`` replaces Scrapy's to report the run's outcome;
``export`` writes datasets from the store; ``crawlstatus`` shows a distributed crawl."""
