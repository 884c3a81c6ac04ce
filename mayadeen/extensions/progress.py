"""A progress line every ``MAYADEEN_PROGRESS_INTERVAL`` seconds, and the run's row kept up to date.

Replaces Scrapy's once-a-minute ``Crawled N pages`` (``LogStats``) with what an operator watches::

    Progress: requests queued=120 waiting=3 in flight=2 done=480, items new=35 updated=2 unchanged=410
    given up=1, errors=0, 52 pages/min

(``waiting``: requests held for a retry or a ``Retry-After``; the rate is over the last interval) and
writes the same figures into the run's ``crawl_runs`` row (``items_*``, ``requests``, ``errors``,
``updated_at``), so a long crawl can be followed from the store (``sqlite3 -readonly``, ``psql``). 0 turns it off.
"""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet.task import LoopingCall

from mayadeen.pipelines.store import StorePipeline, run_figures
from mayadeen.scrapy_contact import in_downloader

logger = logging.getLogger(__name__)


class Progress:
    def __init__(self, crawler, interval: float):
        self.crawler = crawler
        self.stats = crawler.stats
        self.interval = interval
        self.loop: LoopingCall | None = None  # made when the spider opens: it needs the installed reactor
        self.last_done = 0

    @classmethod
    def from_crawler(cls, crawler):
        interval = crawler.settings.getfloat("MAYADEEN_PROGRESS_INTERVAL", 60.0)
        if interval <= 0:
            raise NotConfigured
        ext = cls(crawler, interval)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider) -> None:
        self.loop = LoopingCall(self.tick)
        self.loop.start(self.interval, now=False)

    def spider_closed(self, spider, reason: str) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()

    def line(self) -> str:
        stats = self.stats.get_stats()
        engine = self.crawler.engine
        scheduler = engine.scheduler
        held = len(getattr(scheduler, "held", ()))
        done = stats.get("downloader/response_count", 0)
        rate, self.last_done = (done - self.last_done) * 60.0 / self.interval, done
        return (
            f"Progress: requests queued={len(scheduler) - held if scheduler is not None else 0}"
            f" waiting={held} in flight={len(in_downloader(self.crawler))} done={done},"
            f" items new={stats.get('mayadeen/items/new', 0)} updated={stats.get('mayadeen/items/updated', 0)}"
            f" unchanged={stats.get('mayadeen/items/unchanged', 0)} given up={stats.get('mayadeen/given_up', 0)},"
            f" errors={stats.get('log_count/ERROR', 0)}, {rate:.0f} pages/min"
        )

    def tick(self) -> None:
        logger.info("%s", self.line())
        pipeline = self.crawler.get_item_pipeline(StorePipeline)
        run_id = self.stats.get_value("mayadeen/run_id")
        if pipeline is not None and pipeline.writer is not None and run_id:
            figures = run_figures(self.stats.get_stats())
            written = pipeline.write(lambda store: store.update_run(run_id, figures))  # off the reactor
            written.addErrback(
                lambda failure: logger.warning("Could not update crawl run %s: %s", run_id, failure.value)
            )
