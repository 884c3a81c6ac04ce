"""Archives the responses a crawl uses, and indexes each stored item's capture.

``WarcArchiveMiddleware`` (downloader, between the mirror at 950, which has put the public URL back,
and decompression at 590, so it sees each response as received) owns the run's ``WarcWriter``, run
in a worker thread (``mayadeen.archive.background``: gzip and the store's revisit lookups off the
reactor thread, records in order, at most ``QUEUE_LIMIT`` exchanges waiting; all written and the file
closed when the spider closes). It
remembers every response until its request is gone and archives it when asked; with
``MAYADEEN_WARC_ALL`` it archives every response (listings, sitemaps, feeds, errors) at once.

``ItemCaptureMiddleware`` (spider) gets, for every item a callback produces, the capture of the
response it came from: archived now if it was not yet (so only the responses that produced an item
are kept; the item waits for its record), or, in a re-extraction, the archived capture the request was
made from. It stamps the item's ``scraped_at`` with the fetch time and puts the capture in the item
(an attribute, in no record), from which the store writes its ``warc_captures`` row in the item's own
transaction.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import NotConfigured

from mayadeen import __version__
from mayadeen.archive.background import BackgroundWriter
from mayadeen.archive.reader import ARCHIVED_META
from mayadeen.archive.warc import Capture, Fetched, WarcWriter, recover
from mayadeen.items import ArticleItem
from mayadeen.pipelines.store import StorePipeline, open_store
from mayadeen.store.captures import archived_payload, index_capture
from mayadeen.store.interface import Store

logger = logging.getLogger(__name__)

#: 1 GB, as Heritrix and the WARC guidelines suggest.
DEFAULT_MAX_SIZE = 1_000_000_000
#: Exchanges waiting for the writer thread before the crawl waits (each holds a response body).
QUEUE_LIMIT = 64
#: Settings worth knowing when reading an archive, written into every file's warcinfo record.
WARCINFO_SETTINGS = (
    "USER_AGENT",
    "ROBOTSTXT_OBEY",
    "MAYADEEN_PUBLIC_URL",
    "MAYADEEN_WARC_ALL",
    "MAYADEEN_TRACKING_PARAMS",
    "DOWNLOAD_MAXSIZE",
)


def _header_pairs(headers) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, values in headers.items() for value in values]


class WarcArchiveMiddleware:
    """Settings: ``MAYADEEN_WARC_DIR`` (empty: off), ``MAYADEEN_WARC_ALL``, ``MAYADEEN_WARC_MAX_SIZE``.

    Stats: ``mayadeen/warc/responses``, ``mayadeen/warc/revisits``, ``mayadeen/warc/bytes`` (of those
    records, compressed), ``mayadeen/warc/recovered_files`` and ``mayadeen/warc/torn_bytes`` (cut from
    files of killed runs), ``mayadeen/warc/errors`` (writes that failed, e.g. a full disk: the run
    fails, ``lost_archive``; the folder is checked before the crawl by ``mayadeen.preflight``).
    """

    def __init__(self, crawler, directory: str, archive_all: bool, max_size: int):
        self.crawler = crawler
        self.stats = crawler.stats
        self.directory = directory
        self.archive_all = archive_all
        self.max_size = max_size
        self.writer: BackgroundWriter | None = None
        self.received: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # request -> Fetched
        # request -> its write (an asyncio task giving the Capture, or None when the write failed)
        self.captures: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.writes: set[asyncio.Task] = set()  # under way, awaited when the spider closes

    @classmethod
    def from_crawler(cls, crawler):
        directory = (crawler.settings.get("MAYADEEN_WARC_DIR") or "").strip()
        if not directory:
            raise NotConfigured  # silently off: archiving was turned off on purpose
        mw = cls(
            crawler,
            directory,
            crawler.settings.getbool("MAYADEEN_WARC_ALL"),
            crawler.settings.getint("MAYADEEN_WARC_MAX_SIZE", DEFAULT_MAX_SIZE),
        )
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    async def spider_opened(self, spider) -> None:
        for name, cut in recover(self.directory):
            self.stats.inc_value("mayadeen/warc/recovered_files")
            self.stats.inc_value("mayadeen/warc/torn_bytes", cut)
            logger.warning(
                "%s was left open by a killed run; closed it%s",
                name,
                f" after cutting its torn last record ({cut} bytes)" if cut else "",
            )
        started = datetime.now(UTC)
        run = f"mayadeen-{started:%Y%m%d%H%M%S}-{spider.name}-{os.getpid()}"
        settings = self.crawler.settings
        info = {
            "software": f"mayadeen/{__version__} (Scrapy {_installed('scrapy')}, warcio {_installed('warcio')})",
            "operator-spider": spider.name,
            **{f"setting-{name}": str(settings.get(name)) for name in WARCINFO_SETTINGS},
        }
        # Which payloads earlier runs archived: asked in the thread of the store's reads, which plans
        # each record (``archived`` is called there, with that thread's connection).
        reads = await open_store(self.crawler)
        archived = (lambda digest: archived_payload(reads.store, digest)) if reads is not None else None
        writer = WarcWriter(self.directory, run, max_size=self.max_size, info=info, archived=archived)
        self.writer = BackgroundWriter(writer, QUEUE_LIMIT, planner=reads)
        logger.info(
            "Archiving %s as WARC in %s", "every response" if self.archive_all else "item pages", self.directory
        )

    async def process_response(self, request, response):
        fetched = Fetched(
            response.url,
            datetime.now(UTC),
            request.method,
            _header_pairs(request.headers),
            response.status,
            response.protocol or "HTTP/1.1",
            _header_pairs(response.headers),
            response.body,
        )
        if self.archive_all:
            self.captures[request] = await self._write(fetched)
        else:
            self.received[request] = fetched
        return response

    async def capture_of(self, request) -> Capture | None:
        """The capture of the response to ``request``, archived now if it was not yet."""
        written = self.captures.get(request)
        if written is None and request in self.received:
            written = self.captures[request] = await self._write(self.received.pop(request))
        return await written if written is not None else None

    async def _write(self, fetched: Fetched) -> asyncio.Task | None:
        """Queues ``fetched`` (waiting for room); the task gives its capture once written."""
        if self.writer is None:
            return None
        task = asyncio.ensure_future(self._written(fetched.url, await self.writer.submit(fetched)))
        self.writes.add(task)
        task.add_done_callback(self.writes.discard)
        return task

    async def _written(self, url: str, written: asyncio.Future[Capture]) -> Capture | None:
        try:
            capture = await written
        except OSError as exc:  # the items are still stored; the run fails at its end (lost_archive)
            self.stats.inc_value("mayadeen/warc/errors")
            logger.error("Could not archive %s: %s", url, exc)
            return None
        self.stats.inc_value(f"mayadeen/warc/{capture.warc_type}s")
        self.stats.inc_value("mayadeen/warc/bytes", capture.length)
        return capture

    async def spider_closed(self, spider) -> None:
        if self.writer is not None:
            await asyncio.gather(*self.writes)
            await self.writer.close()
            if self.writer.writer.files:
                logger.info("WARC files of this run: %s", ", ".join(self.writer.writer.files))


class ItemCaptureMiddleware:
    """Links each item to its capture (see the module docstring); does nothing without a capture."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.archive: WarcArchiveMiddleware | None = None

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self, spider) -> None:
        self.archive = self.crawler.get_downloader_middleware(WarcArchiveMiddleware)
        store = self.crawler.get_item_pipeline(StorePipeline)
        if store is not None:
            store.add_item_write(self.index)

    async def _capture(self, response) -> Capture | None:
        archived = response.meta.get(ARCHIVED_META)
        if archived is not None:
            return archived.capture
        return await self.archive.capture_of(response.request) if self.archive is not None else None

    async def process_spider_output(self, response, result):
        async for element in result:
            if isinstance(element, ArticleItem):  # item pages only: flashes are no capture of theirs
                capture = await self._capture(response)
                if capture is not None:
                    element.note_capture(capture)
                    adapter = ItemAdapter(element)
                    if not adapter.get("scraped_at"):
                        adapter["scraped_at"] = capture.fetched_at[:19] + "Z"  # the record's form: whole seconds
            yield element

    def index(self, item: Any, store: Store) -> None:
        """The store's item write: the item's ``warc_captures`` row."""
        capture = item.capture() if isinstance(item, ArticleItem) else None
        if capture is not None:
            index_capture(store, capture, ItemAdapter(item).get("article_id"))


def _installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"
