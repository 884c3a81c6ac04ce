"""Log lines counted until the engine stops (``log_count/<LEVEL>`` stats), not only until the spider closes.

Scrapy's ``LogCount`` removes its counting handler in its own ``spider_closed`` receiver, before the
receivers connected after it have run: the warnings and errors that components log as the spider
closes (skipped client-side listings, a run row the store refused, a coverage report) were printed
but missing from ``log_count/*``, so the run summary's ``warnings=``/``errors=`` said fewer than the
log held. This one counts until ``engine_stopped``, after every ``spider_closed`` receiver and the
stats dump; the summary, logged after the crawl, reads the final counts.
"""

from __future__ import annotations

from scrapy import signals
from scrapy.extensions.logcount import LogCount


class LogCountToTheEnd(LogCount):
    """Scrapy's ``LogCount`` (same stats, same ``LOG_LEVEL``), its handler removed when the engine stops."""

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def engine_stopped(self) -> None:
        self.spider_closed(self.crawler.spider, "engine_stopped")
