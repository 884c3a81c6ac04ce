"""Log lines counted until the engine stops (``log_count/<LEVEL>`` stats), not only until the spider closes.

Scrapy's ``LogCount`` removes its counting handler in its own ``spider_closed`` receiver, before the
receivers connected after it have run: the warnings and errors that components log as the spider
closes (skipped client-side listings, a run row the store refused, a coverage report) were printed
but missing from ``log_count/*``, so the run summary's ``warnings=``/``errors=`` said fewer than the
log held. This one counts until ``engine_stopped``, after every ``spider_closed`` receiver and the
stats dump; the summary, logged after the crawl, reads the final counts. And it counts from the
moment the crawl builds its extensions, before the item pipelines open (they open before
``spider_opened``: the store's warning that an earlier run was killed went uncounted).
"""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.extensions.logcount import LogCount
from scrapy.utils.log import LogCounterHandler


class _CrawlLogCounter(LogCounterHandler):
    """Counts until removed, unless its crawl ended before its spider opened: a crawl that fails while
    building its components sends no signal that would remove the handler, so it counts nothing more
    and the next crawl's ``LogCountToTheEnd`` removes it (a stopped crawl is not crawling either, but
    its spider opened)."""

    opened = False

    def ended(self) -> bool:
        """Whether its crawl ended before its spider opened (the handler counts nothing more)."""
        return not (self.opened or self.crawler.crawling)

    def filter(self, record):
        return not self.ended() and super().filter(record)


class LogCountToTheEnd(LogCount):
    """Scrapy's ``LogCount`` (same stats, same ``LOG_LEVEL``), its handler added when the crawl builds
    its extensions and removed when the engine stops."""

    started = False

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        for handler in list(logging.root.handlers):  # those of crawls that ended before their spider opened
            if isinstance(handler, _CrawlLogCounter) and handler.ended():
                logging.root.removeHandler(handler)
        ext.handler = _CrawlLogCounter(crawler, level=crawler.settings.get("LOG_LEVEL"))
        logging.root.addHandler(ext.handler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.engine_started, signal=signals.engine_started)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def spider_opened(self, spider) -> None:
        if self.handler is not None:
            self.handler.opened = True

    def engine_started(self) -> None:
        self.started = True

    def spider_closed(self, spider, reason: str) -> None:
        # A spider closed before the engine started (CloseSpider from a spider_opened receiver, e.g. a
        # distributed worker that cannot reach Redis) gets no engine_stopped: remove the handler now.
        if not self.started:
            super().spider_closed(spider, reason)

    def engine_stopped(self) -> None:
        LogCount.spider_closed(self, self.crawler.spider, "engine_stopped")
