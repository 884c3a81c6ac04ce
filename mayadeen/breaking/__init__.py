"""The BREAKING ticker: its record, the rules that make each flash one record, and the Scrapy parts that
collect flashes (the ``breaking`` spider, the harvest from other crawls) and link them to articles."""
