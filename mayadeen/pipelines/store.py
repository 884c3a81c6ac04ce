"""Writes every record that survived validation and dedupe to the SQLite store.

A thin Scrapy wrapper around ``mayadeen.store.sqlite.ArticleStore``: it opens the store when the
spider opens, stores each record under its identity (with the URLs and the discovery date it was
found with, from the spider), counts what each record did to it, and files a ``crawl_runs`` row from
the crawl's stats when the spider closes. Its connection is the crawl's only one to the store: the
spider's freshness checks, the field coverage and the sitemap reads go through it too
(``open_store``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import NotConfigured

from mayadeen.store import run_progress
from mayadeen.store.sqlite import ArticleStore

logger = logging.getLogger(__name__)

_STATUS_PREFIX = "downloader/response_status_count/"
#: Spider attributes that are Scrapy's, not crawl arguments.
_NOT_ARGUMENTS = frozenset({"crawler", "settings", "name", "start_urls", "custom_settings"})


class SQLiteStorePipeline:
    """Upserts items into ``MAYADEEN_SQLITE_PATH``; off when that setting is empty.

    Settings: ``MAYADEEN_SQLITE_PATH`` (the file; its directory is created),
    ``MAYADEEN_SQLITE_BUSY_TIMEOUT`` (seconds a write waits for another crawl's transaction, default 60).
    A record the store could not take (a full disk, an I/O error) is logged, counted in
    ``mayadeen/lost/store`` (the run then fails with ``lost_records``) and passed on to the feeds.
    Runs that died without closing their ``crawl_runs`` row are marked ``killed``
    (``mayadeen.store.run_progress``).
    Stats: ``mayadeen/items/new``, ``mayadeen/items/updated``, ``mayadeen/items/unchanged``, and
    ``mayadeen/run_id`` (the ``crawl_runs`` id of this crawl).

    Other components add writes that belong with an item (``add_item_write``): they are made in the
    item's own transaction, so they are stored together with it or not at all.
    """

    def __init__(self, crawler, path: str, busy_timeout: float):
        self.crawler = crawler
        self.stats = crawler.stats
        self.path = path
        self.busy_timeout = busy_timeout
        self.store: ArticleStore | None = None
        self.run_id: int | None = None
        self.item_writes: list[Callable[[Any, sqlite3.Connection], None]] = []

    @classmethod
    def from_crawler(cls, crawler):
        path = crawler.settings.get("MAYADEEN_SQLITE_PATH") or ""
        if not path.strip():
            raise NotConfigured("MAYADEEN_SQLITE_PATH is empty")
        pipeline = cls(crawler, path, crawler.settings.getfloat("MAYADEEN_SQLITE_BUSY_TIMEOUT", 60.0))
        # The run is filed on spider_closed, not in close_spider: only then are finish_reason and the
        # final downloader stats known. The connection stays open until the engine stops, for what
        # other components add to the run when the spider closes.
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(pipeline.engine_stopped, signal=signals.engine_stopped)
        return pipeline

    def open_spider(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.store = ArticleStore(self.path, busy_timeout=self.busy_timeout)
        spider = self.crawler.spider
        self.run_id = self.store.start_run(spider.name, spider_arguments(spider))
        self.stats.set_value("mayadeen/run_id", self.run_id)  # for components adding to the run later
        logger.info("Storing items in %s (crawl run %d)", self.path, self.run_id)
        run_progress.migrate(self.store.conn)
        run_progress.claim(self.store.conn, self.run_id)
        for run in run_progress.mark_killed(self.store.conn, self.run_id):
            logger.warning("Crawl run %d in %s never finished (its process died): marked killed", run, self.path)

    def add_item_write(self, write: Callable[[Any, sqlite3.Connection], None]) -> None:
        """Have ``write(item, conn)`` run inside the transaction that stores each item."""
        self.item_writes.append(write)

    def process_item(self, item: Any) -> Any:
        def also(conn: sqlite3.Connection) -> None:
            for write in self.item_writes:
                write(item, conn)

        record = ItemAdapter(item).asdict()
        origin_of = getattr(self.crawler.spider, "origin_of", None)
        origin = origin_of(record.get("url")) if origin_of else None
        try:
            outcome = self.store.upsert(record, aliases=origin.urls if origin else (),
                                        listed=origin.listed if origin else None, run_id=self.run_id,
                                        also=also if self.item_writes else None)
        except sqlite3.Error as exc:
            self.stats.inc_value("mayadeen/lost/store")
            logger.error("Could not store %s in %s: %s", record.get("url"), self.path, exc)
            return item
        self.stats.inc_value(f"mayadeen/items/{outcome}")
        return item

    def spider_closed(self, spider, reason: str) -> None:
        if self.store is not None and self.run_id is not None:
            self.store.finish_run(self.run_id, finish_reason=reason, **run_figures(self.stats.get_stats()))

    def engine_stopped(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


def open_store(crawler) -> ArticleStore | None:
    """The crawl's store: the pipeline's connection, or (pipeline off) the file opened read-only.

    None when there is no store (``MAYADEEN_SQLITE_PATH`` empty, or no file to read).
    """
    pipeline = crawler.get_item_pipeline(SQLiteStorePipeline)
    if pipeline is not None and pipeline.store is not None:
        return pipeline.store
    path = (crawler.settings.get("MAYADEEN_SQLITE_PATH") or "").strip()
    if not path or not Path(path).exists():
        return None
    store = ArticleStore(path, readonly=True)
    crawler.signals.connect(store.close, signal=signals.engine_stopped, weak=False)
    return store


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
