"""Writes every record that survived validation and dedupe to the store (SQLite or PostgreSQL).

A thin Scrapy wrapper around the store (``mayadeen.store.interface.Store``): it opens the store when
the spider opens, stores each record under its identity (with the URLs and the discovery date it was
found with, which the item carries from the spider), counts what each record did to it, and files a
``crawl_runs`` row from the crawl's stats when the spider closes. Nothing of it runs on the reactor
thread (``mayadeen.pipelines.store_thread``): the writes (the run's row, items, run figures) are made
in order by one thread with its own connection, and the reads other components make (``open_store``:
freshness lookups, sitemap reads, WARC revisit lookups, field coverage) by another, so waiting for a
lock or for a server that went away stops no download and no heartbeat. A read waits for a lock or a
lost server at most ``MAYADEEN_STORE_REACTOR_TIMEOUT`` seconds.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.exceptions import DropItem, NotConfigured, ScrapyDeprecationWarning
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred

from mayadeen.extensions.run_outcome import REFUSED_STAT, items_dropped
from mayadeen.items import ArticleItem
from mayadeen.pipelines.store_thread import StoreThread
from mayadeen.plain_record import plain_record
from mayadeen.store.engines import SQLITE, StoreTarget, connect, store_errors, store_target
from mayadeen.store.freshness import comparable_items_seen
from mayadeen.store.interface import Store
from mayadeen.store.model import DEGRADED, STALE, lost_facts

logger = logging.getLogger(__name__)

_STATUS_PREFIX = "downloader/response_status_count/"
#: Spider attributes that are Scrapy's, not crawl arguments.
_NOT_ARGUMENTS = frozenset({"crawler", "settings", "name", "start_urls", "custom_settings"})
#: Signal: the store could not write ``item`` (arguments ``item``, ``reason``: the exception). A receiver
#: that will have the item's page fetched again returns True (``mayadeen.distributed.acks``).
item_not_stored = object()


class StorePipeline:
    """Upserts items into the store; off when there is none.

    Settings: ``MAYADEEN_STORE_URL`` (``sqlite:///path`` or ``postgresql://user@host:port/db``), else
    ``MAYADEEN_SQLITE_PATH`` (the SQLite file; its directory is created);
    ``MAYADEEN_SQLITE_BUSY_TIMEOUT`` (seconds a write waits for another crawl's transaction or row
    lock, default 60); ``MAYADEEN_STORE_RETRY_TIMEOUT`` (seconds a PostgreSQL store that went away is
    retried, default 60); ``MAYADEEN_STORE_REACTOR_TIMEOUT`` (seconds a read may wait, default 10) —
    all off the reactor. A record the store could not take (a full
    disk, an I/O error) is logged, counted in
    ``mayadeen/lost/store`` (the run then fails with ``lost_records``) and passed on to the feeds —
    unless its page is to be fetched again (``item_not_stored``: a distributed crawl's page keeps its
    lease, ``mayadeen.distributed.acks``), then it is a WARNING counted in ``mayadeen/store/refused`` and
    the item is dropped quietly (``not_stored``): only the copy that is stored reaches the feeds.
    Runs that died without closing their ``crawl_runs`` row are marked ``killed``
    (``mayadeen.store.run_progress``).
    A record modified before the stored version (a slow run's fetch, a cache's old copy) leaves the stored
    content as it is and is dropped (INFO); so does one lacking facts the stored version has without
    being modified since (a page broken for a while: WARNING); a ``-a full=1`` run takes what it fetches
    (``model.settled_change``). Stats: ``mayadeen/items/new``,
    ``mayadeen/items/updated``, ``mayadeen/items/unchanged``, ``mayadeen/items/stale``,
    ``mayadeen/items/degraded``,
    ``mayadeen/run_id`` (the ``crawl_runs`` id of this crawl), and ``mayadeen/lost/run_figures`` when the
    store could not take the run's figures at the close (logged; the run fails with ``lost_records``).

    Other components add writes that belong with an item (``add_item_write``): they are made in the
    item's own transaction, so they are stored together with it or not at all; and reads to make as
    the spider closes (``add_close_read``): the last point Scrapy awaits before ``spider_closed``,
    whose handlers (Spidermon's close monitors) cannot wait for the store.
    """

    def __init__(self, crawler, target: StoreTarget, busy_timeout: float, retry_timeout: float):
        self.crawler = crawler
        self.stats = crawler.stats
        self.target = target
        self.busy_timeout = busy_timeout
        self.retry_timeout = retry_timeout
        self.writer: StoreThread | None = None
        self.reader: StoreThread | None = None
        self.take_fetched = False  # set when the spider opens (``takes_what_it_fetches``)
        self.errors: tuple[type[BaseException], ...] = ()  # what the engine raises when a write fails
        self.run_id: int | None = None
        self.item_writes: list[Callable[[Any, Store], None]] = []
        self.close_reads: list[Callable[[StoreThread], Awaitable[None]]] = []

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

    async def open_spider(self) -> None:
        if self.target.engine == SQLITE:
            Path(self.target.location).parent.mkdir(parents=True, exist_ok=True)
        from twisted.internet import reactor

        self.writer = StoreThread(
            reactor,
            lambda: connect(self.target, busy_timeout=self.busy_timeout, retry_timeout=self.retry_timeout),
            name="mayadeen-store-writer",
            location=str(self.target),
            errors=store_errors(self.target),
        )
        spider = self.crawler.spider
        # A run that asked for what the site says now takes it, older than the stored version or not.
        self.take_fetched = bool(getattr(spider, "takes_what_it_fetches", False))
        arguments = spider_arguments(spider)

        def start_run(store: Store) -> tuple[int, list[int]]:
            self.errors = store.errors
            run_id = store.start_run(spider.name, arguments)
            store.claim_run(run_id)
            return run_id, store.mark_killed(run_id)

        self.run_id, killed = await self.writer.run(start_run)
        self.stats.set_value("mayadeen/run_id", self.run_id)  # for components adding to the run later
        logger.info("Storing items in %s (crawl run %d)", self.target, self.run_id)
        for run in killed:
            logger.warning("Crawl run %d in %s never finished (its process died): marked killed", run, self.target)
        # Opened once the writer has made (or upgraded) the tables.
        self.reader = reads_thread(reactor, self.crawler.settings, self.target)

    def write(self, work: Callable[[Store], Any]) -> Deferred:
        """``work(store)`` in the writer's thread, after the writes submitted before; a Deferred of its result."""
        return self.writer.submit(work)

    def add_item_write(self, write: Callable[[Any, Store], None]) -> None:
        """Have ``write(item, store)`` run inside the transaction that stores each item."""
        self.item_writes.append(write)

    def add_close_read(self, read: Callable[[StoreThread], Awaitable[None]]) -> None:
        """Have ``await read(reader)`` made with the reader's thread in ``close_spider``, after the
        items and before ``spider_closed``; ``read`` bounds its own wait and handles its errors."""
        self.close_reads.append(read)

    async def close_spider(self) -> None:
        if self.reader is not None:
            for read in self.close_reads:
                await read(self.reader)

    async def process_item(self, item: Any) -> Any:
        record = plain_record(item)
        origin = item.origin() if isinstance(item, ArticleItem) else None
        found = {"aliases": origin.urls, "listed": origin.listed} if origin else {}
        writes, errors = list(self.item_writes), self.errors

        def upsert(store: Store) -> tuple[str, list[str]]:
            also = (lambda: [write(item, store) for write in writes]) if writes else None
            outcome = store.upsert(record, run_id=self.run_id, also=also, take_fetched=self.take_fetched, **found)
            return outcome, lost_facts(record, store.get(record["article_id"])) if outcome == DEGRADED else []

        try:
            outcome, lost = await maybe_deferred_to_future(self.write(upsert))
        except errors as exc:
            answers = self.crawler.signals.send_catch_log(item_not_stored, item=item, reason=exc)
            if any(answer is True for _, answer in answers):
                self.stats.inc_value(REFUSED_STAT)
                logger.warning(
                    "Could not store %s in %s: %s; its page will be fetched again", record.get("url"), self.target, exc
                )
                # Not passed on: the feeds, the linker and the counts get the copy that is stored.
                raise DropItem(f"not_stored: {record.get('url')} (its page will be fetched again)", log_level="DEBUG")
            self.stats.inc_value("mayadeen/lost/store")
            logger.error("Could not store %s in %s: %s", record.get("url"), self.target, exc)
            return item
        except Exception:  # a record the store cannot write, whatever the store's state: lost, and said so
            self.stats.inc_value("mayadeen/lost/store")
            logger.exception("Could not store %s in %s", record.get("url"), self.target)
            return item
        self.stats.inc_value(f"mayadeen/items/{outcome}")
        # Not passed on either: the feeds would put the worse version after the better one.
        if outcome == STALE:
            logger.info(
                "Kept the stored version of %s: it was modified after the version fetched (%s)",
                record.get("url"),
                record.get("date_modified"),
            )
            raise DropItem(f"stale: {record.get('url')} (the stored version is newer)", log_level="DEBUG")
        if outcome == DEGRADED:
            logger.warning(
                "Kept the stored version of %s: the page fetched lacks what it has (%s) and was not modified"
                " since (a page broken for a while?)",
                record.get("url"),
                ", ".join(lost),
            )
            raise DropItem(f"degraded: {record.get('url')} (the stored version has more)", log_level="DEBUG")
        return item

    async def spider_closed(self, spider, reason: str) -> None:
        if self.writer is None or self.run_id is None:
            return
        figures = run_figures(self.stats.get_stats())
        try:
            await maybe_deferred_to_future(
                self.write(lambda store: store.finish_run(self.run_id, finish_reason=reason, **figures))
            )
        except self.writer.errors as exc:  # one line, and a failed run, rather than a signal handler's traceback
            self.stats.inc_value("mayadeen/lost/run_figures")
            logger.error("Could not file the figures of crawl run %d in %s: %s", self.run_id, self.target, exc)

    async def engine_stopped(self) -> None:
        threads = [thread for thread in (self.reader, self.writer) if thread is not None]
        self.reader = self.writer = None
        for thread in threads:
            await thread.close()


def reads_thread(reactor, settings, target: StoreTarget) -> StoreThread:
    """The thread for the crawl's reads of the store, read-only: each waits for a lock, or retries a
    server that went away, for at most ``MAYADEEN_STORE_REACTOR_TIMEOUT`` seconds."""
    timeout = settings.getfloat("MAYADEEN_STORE_REACTOR_TIMEOUT", 10.0)
    return StoreThread(
        reactor,
        lambda: connect(target, readonly=True, busy_timeout=timeout, retry_timeout=timeout),
        name="mayadeen-store-reads",
        location=str(target),
        errors=store_errors(target),
    )


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


async def open_store(crawler) -> StoreThread | None:
    """The thread for reads of the crawl's store: the store pipeline's, or (pipeline off) one reading
    the store read-only. Reads made through it (``await reads.run(work)``) wait off the reactor.

    None when there is no store (no ``MAYADEEN_STORE_URL`` nor ``MAYADEEN_SQLITE_PATH``, or nothing to read).
    """
    pipeline = crawler.get_item_pipeline(StorePipeline)
    if pipeline is not None and pipeline.reader is not None:
        return pipeline.reader
    target = store_target(crawler.settings)
    if target is None or (target.engine == SQLITE and not Path(target.location).exists()):
        return None
    from twisted.internet import reactor

    reads = reads_thread(reactor, crawler.settings, target)
    try:
        await reads.run(lambda store: None)  # connects
    except FileNotFoundError:  # a database without the store's tables
        await reads.close()
        return None
    crawler.signals.connect(reads.close, signal=signals.engine_stopped, weak=False)
    return reads


def run_figures(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The ``crawl_runs`` figures found in a crawl's stats."""
    return {
        "items_new": stats.get("mayadeen/items/new", 0),
        "items_updated": stats.get("mayadeen/items/updated", 0),
        "items_unchanged": stats.get("mayadeen/items/unchanged", 0),
        "items_dropped": items_dropped(stats),
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
