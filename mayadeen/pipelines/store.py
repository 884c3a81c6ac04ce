"""Writes every record that survived validation and dedupe to the store (SQLite or PostgreSQL).

A thin Scrapy wrapper around the store (``mayadeen.store.interface.Store``): it opens the store when
the spider opens, stores each record under its identity (with the URLs and the discovery date it was
found with, which the item carries from the spider), counts what each record did to it, and files a
``crawl_runs`` row from the crawl's stats when the spider closes. The writes (items, run figures) are
made off the reactor, in order, by a ``StoreWriter`` with its own connection, so waiting for a lock or
for a server that went away stops no download and no heartbeat. The pipeline's other connection, on the
reactor thread, is the one the spider's freshness checks, the field coverage and the sitemap reads use
(``open_store``): its waits for a lock or a lost server are bounded by
``MAYADEEN_STORE_REACTOR_TIMEOUT``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import NotConfigured, ScrapyDeprecationWarning
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred

from mayadeen.items import ArticleItem
from mayadeen.pipelines.store_writer import StoreWriter
from mayadeen.store.engines import SQLITE, StoreTarget, connect, store_target
from mayadeen.store.freshness import comparable_items_seen
from mayadeen.store.interface import Store

logger = logging.getLogger(__name__)

_STATUS_PREFIX = "downloader/response_status_count/"
#: Spider attributes that are Scrapy's, not crawl arguments.
_NOT_ARGUMENTS = frozenset({"crawler", "settings", "name", "start_urls", "custom_settings"})


class StorePipeline:
    """Upserts items into the store; off when there is none.

    Settings: ``MAYADEEN_STORE_URL`` (``sqlite:///path`` or ``postgresql://user@host:port/db``), else
    ``MAYADEEN_SQLITE_PATH`` (the SQLite file; its directory is created);
    ``MAYADEEN_SQLITE_BUSY_TIMEOUT`` (seconds a write waits for another crawl's transaction or row
    lock, default 60); ``MAYADEEN_STORE_RETRY_TIMEOUT`` (seconds a PostgreSQL store that went away is
    retried, default 60) — both off the reactor; ``MAYADEEN_STORE_REACTOR_TIMEOUT`` (seconds a read or
    write on the reactor thread may wait, default 10). A record the store could not take (a full
    disk, an I/O error) is logged, counted in
    ``mayadeen/lost/store`` (the run then fails with ``lost_records``) and passed on to the feeds.
    Runs that died without closing their ``crawl_runs`` row are marked ``killed``
    (``mayadeen.store.run_progress``).
    Stats: ``mayadeen/items/new``, ``mayadeen/items/updated``, ``mayadeen/items/unchanged``, and
    ``mayadeen/run_id`` (the ``crawl_runs`` id of this crawl).

    Other components add writes that belong with an item (``add_item_write``): they are made in the
    item's own transaction, so they are stored together with it or not at all.
    """

    def __init__(self, crawler, target: StoreTarget, busy_timeout: float, retry_timeout: float):
        self.crawler = crawler
        self.stats = crawler.stats
        self.target = target
        self.busy_timeout = busy_timeout
        self.retry_timeout = retry_timeout
        self.store: Store | None = None  # the reactor thread's connection
        self.writer: StoreWriter | None = None
        self.run_id: int | None = None
        self.item_writes: list[Callable[[Any, Store], None]] = []

    @classmethod
    def from_crawler(cls, crawler):
        target = store_target(crawler.settings)
        if target is None:
            raise NotConfigured("MAYADEEN_STORE_URL and MAYADEEN_SQLITE_PATH are empty")
        pipeline = cls(
            crawler,
            target,
            crawler.settings.getfloat("MAYADEEN_SQLITE_BUSY_TIMEOUT", 60.0),
            crawler.settings.getfloat("MAYADEEN_STORE_RETRY_TIMEOUT", 60.0),
        )
        # The run is filed on spider_closed, not in close_spider: only then are finish_reason and the
        # final downloader stats known. The connection stays open until the engine stops, for what
        # other components add to the run when the spider closes.
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(pipeline.engine_stopped, signal=signals.engine_stopped)
        return pipeline

    def open_spider(self) -> None:
        if self.target.engine == SQLITE:
            Path(self.target.location).parent.mkdir(parents=True, exist_ok=True)
        self.store = connect_on_reactor(self.crawler.settings, self.target)
        spider = self.crawler.spider
        self.run_id = self.store.start_run(spider.name, spider_arguments(spider))
        self.stats.set_value("mayadeen/run_id", self.run_id)  # for components adding to the run later
        logger.info("Storing items in %s (crawl run %d)", self.target, self.run_id)
        self.store.claim_run(self.run_id)
        for run in self.store.mark_killed(self.run_id):
            logger.warning("Crawl run %d in %s never finished (its process died): marked killed", run, self.target)
        from twisted.internet import reactor

        self.writer = StoreWriter(
            reactor, lambda: connect(self.target, busy_timeout=self.busy_timeout, retry_timeout=self.retry_timeout)
        )

    def write(self, work: Callable[[Store], Any]) -> Deferred:
        """``work(store)`` in the writer's thread, after the writes submitted before; a Deferred of its result."""
        return self.writer.submit(work)

    def add_item_write(self, write: Callable[[Any, Store], None]) -> None:
        """Have ``write(item, store)`` run inside the transaction that stores each item."""
        self.item_writes.append(write)

    async def process_item(self, item: Any) -> Any:
        record = ItemAdapter(item).asdict()
        origin = item.origin() if isinstance(item, ArticleItem) else None
        found = {"aliases": origin.urls, "listed": origin.listed} if origin else {}
        writes, errors = list(self.item_writes), self.store.errors

        def upsert(store: Store) -> str:
            also = (lambda: [write(item, store) for write in writes]) if writes else None
            return store.upsert(record, run_id=self.run_id, also=also, **found)

        try:
            outcome = await maybe_deferred_to_future(self.write(upsert))
        except errors as exc:
            self.stats.inc_value("mayadeen/lost/store")
            logger.error("Could not store %s in %s: %s", record.get("url"), self.target, exc)
            return item
        self.stats.inc_value(f"mayadeen/items/{outcome}")
        return item

    async def spider_closed(self, spider, reason: str) -> None:
        if self.writer is None or self.run_id is None:
            return
        figures = run_figures(self.stats.get_stats())
        await maybe_deferred_to_future(
            self.write(lambda store: store.finish_run(self.run_id, finish_reason=reason, **figures))
        )

    async def engine_stopped(self) -> None:
        if self.writer is None:
            return
        writer, self.writer = self.writer, None
        try:
            await maybe_deferred_to_future(writer.close())
        finally:
            if self.store is not None:
                self.store.close()
                self.store = None


def connect_on_reactor(settings, target: StoreTarget, *, readonly: bool = False) -> Store:
    """A connection for reads and writes made on the reactor thread: it waits for a lock, or retries a
    server that went away, for at most ``MAYADEEN_STORE_REACTOR_TIMEOUT`` seconds (less than a lease)."""
    timeout = settings.getfloat("MAYADEEN_STORE_REACTOR_TIMEOUT", 10.0)
    return connect(target, readonly=readonly, busy_timeout=timeout, retry_timeout=timeout)


class SQLiteStorePipeline(StorePipeline):
    """The name ``StorePipeline`` had before it stored into PostgreSQL too: an ``ITEM_PIPELINES``
    entry in a project's settings may still name it. Deprecated."""

    @classmethod
    def from_crawler(cls, crawler):
        warnings.warn(
            "mayadeen.pipelines.store.SQLiteStorePipeline is deprecated: name"
            " mayadeen.pipelines.store.StorePipeline in ITEM_PIPELINES",
            ScrapyDeprecationWarning,
            stacklevel=2,
        )
        return super().from_crawler(crawler)


def open_store(crawler) -> Store | None:
    """The crawl's store: the pipeline's connection, or (pipeline off) the store opened read-only.

    None when there is no store (no ``MAYADEEN_STORE_URL`` nor ``MAYADEEN_SQLITE_PATH``, or nothing to read).
    """
    pipeline = crawler.get_item_pipeline(StorePipeline)
    if pipeline is not None and pipeline.store is not None:
        return pipeline.store
    target = store_target(crawler.settings)
    if target is None or (target.engine == SQLITE and not Path(target.location).exists()):
        return None
    try:
        store = connect_on_reactor(crawler.settings, target, readonly=True)
    except FileNotFoundError:  # a database without the store's tables
        return None
    crawler.signals.connect(store.close, signal=signals.engine_stopped, weak=False)
    return store


def run_figures(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The ``crawl_runs`` figures found in a crawl's stats."""
    return {
        "items_new": stats.get("mayadeen/items/new", 0),
        "items_updated": stats.get("mayadeen/items/updated", 0),
        "items_unchanged": stats.get("mayadeen/items/unchanged", 0),
        "items_dropped": stats.get("item_dropped_count", 0),
        "items_seen": comparable_items_seen(stats),
        "requests": stats.get("downloader/request_count", 0),
        "responses_by_status": {
            key[len(_STATUS_PREFIX) :]: value for key, value in sorted(stats.items()) if key.startswith(_STATUS_PREFIX)
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
