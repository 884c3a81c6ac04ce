"""Writes every record that survived validation and dedupe to the SQLite store.

A thin Scrapy wrapper around ``mayadeen.store.sqlite.ArticleStore``: it opens the store as the single
writer when the spider opens, counts what each record did to it, and files a ``crawl_runs`` row from
the crawl's stats when the spider closes.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import CloseSpider, NotConfigured

from mayadeen.store import run_progress
from mayadeen.store.sqlite import ArticleStore, StoreLocked

logger = logging.getLogger(__name__)

#: finish_reason of a crawl that could not get the writer lock.
STORE_LOCKED = "store_locked"
_STATUS_PREFIX = "downloader/response_status_count/"
#: Spider attributes that are Scrapy's, not crawl arguments.
_NOT_ARGUMENTS = frozenset({"crawler", "settings", "name", "start_urls", "custom_settings"})


class SQLiteStorePipeline:
    """Upserts items into ``MAYADEEN_SQLITE_PATH``; off when that setting is empty.

    Settings: ``MAYADEEN_SQLITE_PATH`` (the file; its directory is created),
    ``MAYADEEN_SQLITE_LOCK_TIMEOUT`` (seconds to wait for another crawl's writer lock, default 0).
    If the lock stays taken, an ERROR is logged and the spider closes with finish_reason
    ``store_locked`` before any request is sent.
    A record the store could not take (a full disk, an I/O error) is logged, counted in
    ``mayadeen/lost/store`` (the run then fails with ``lost_records``) and passed on to the feeds.
    Runs that died without closing their ``crawl_runs`` row are marked ``killed``
    (``mayadeen.store.run_progress``).
    Stats: ``mayadeen/items/new``, ``mayadeen/items/updated``, ``mayadeen/items/unchanged``, and
    ``mayadeen/run_id`` (the ``crawl_runs`` id of this crawl).

    Other components add writes that belong with an item (``add_item_write``): they are made in the
    item's own transaction, so they are stored together with it or not at all.
    """

    def __init__(self, crawler, path: str, lock_timeout: float):
        self.crawler = crawler
        self.stats = crawler.stats
        self.path = path
        self.lock_timeout = lock_timeout
        self.store: ArticleStore | None = None
        self.run_id: int | None = None
        self.locked: StoreLocked | None = None
        self.item_writes: list[Callable[[Any, sqlite3.Connection], None]] = []

    @classmethod
    def from_crawler(cls, crawler):
        path = crawler.settings.get("MAYADEEN_SQLITE_PATH") or ""
        if not path.strip():
            raise NotConfigured("MAYADEEN_SQLITE_PATH is empty")
        pipeline = cls(crawler, path, crawler.settings.getfloat("MAYADEEN_SQLITE_LOCK_TIMEOUT", 0.0))
        crawler.signals.connect(pipeline.spider_opened, signal=signals.spider_opened)
        # The run is filed on spider_closed, not in close_spider: only then are finish_reason and the
        # final downloader stats known.
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.store = ArticleStore(self.path, lock_timeout=self.lock_timeout)
        except StoreLocked as exc:
            self.locked = exc  # reported in spider_opened, see there
            return
        spider = self.crawler.spider
        self.run_id = self.store.start_run(spider.name, spider_arguments(spider))
        self.stats.set_value("mayadeen/run_id", self.run_id)  # for components adding to the run later
        logger.info("Storing items in %s (crawl run %d)", self.path, self.run_id)
        run_progress.migrate(self.store.conn)
        run_progress.claim(self.store.conn, self.run_id)
        for run in run_progress.mark_killed(self.store.conn, self.run_id):
            logger.warning("Crawl run %d in %s never finished (its process died): marked killed", run, self.path)

    def spider_opened(self, spider) -> None:
        """Stops a crawl whose store is locked, before its first request.

        Done here rather than in open_spider: Scrapy starts counting log lines (``log_count/ERROR``)
        only from spider_opened on, and a refused crawl should count as one with an error. CloseSpider
        raised from this signal closes the spider with that reason and the start requests are never
        read.
        """
        if self.locked is not None:
            logger.error("%s; this crawl stops before fetching anything", self.locked)
            raise CloseSpider(STORE_LOCKED)

    def add_item_write(self, write: Callable[[Any, sqlite3.Connection], None]) -> None:
        """Have ``write(item, conn)`` run inside the transaction that stores each item."""
        self.item_writes.append(write)

    def process_item(self, item: Any) -> Any:
        def also(conn: sqlite3.Connection) -> None:
            for write in self.item_writes:
                write(item, conn)

        record = ItemAdapter(item).asdict()
        try:
            outcome = self.store.upsert(record, also=also if self.item_writes else None)
        except sqlite3.Error as exc:
            self.stats.inc_value("mayadeen/lost/store")
            logger.error("Could not store %s in %s: %s", record.get("url"), self.path, exc)
            return item
        self.stats.inc_value(f"mayadeen/items/{outcome}")
        return item

    def spider_closed(self, spider, reason: str) -> None:
        if self.store is None:  # never opened (e.g. store_locked) or already closed
            return
        try:
            self.store.finish_run(self.run_id, finish_reason=reason, **run_figures(self.stats.get_stats()))
        finally:
            self.store.close()
            self.store = None


def run_figures(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The ``crawl_runs`` figures found in a crawl's stats."""
    return {
        "items_new": stats.get("mayadeen/items/new", 0),
        "items_updated": stats.get("mayadeen/items/updated", 0),
        "items_unchanged": stats.get("mayadeen/items/unchanged", 0),
        "items_dropped": stats.get("item_dropped_count", 0),
        "requests": stats.get("downloader/request_count", 0),
        "responses_by_status": {
            key[len(_STATUS_PREFIX):]: value for key, value in sorted(stats.items()) if key.startswith(_STATUS_PREFIX)
        },
        "errors": stats.get("log_count/ERROR", 0),
    }


def spider_arguments(spider) -> dict[str, Any]:
    """The arguments a crawl was started with (``-a name=value``), for the run's record.

    Scrapy keeps no list of them: it sets them as spider attributes. A spider may say exactly which
    they were in a ``crawl_arguments`` dict; otherwise its public instance attributes are taken.
    """
    explicit = getattr(spider, "crawl_arguments", None)
    if isinstance(explicit, Mapping):
        return dict(explicit)
    return {k: v for k, v in vars(spider).items() if not k.startswith("_") and k not in _NOT_ARGUMENTS}
