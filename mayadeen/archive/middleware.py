"""Archives the responses a crawl uses, and indexes each stored item's capture.

``WarcArchiveMiddleware`` (downloader, between the mirror at 950, which has put the public URL back,
and decompression at 590, so it sees each response as received) owns the run's ``WarcWriter``. It
remembers every response until its request is gone and archives it when asked; with
``MAYADEEN_WARC_ALL`` it archives every response (listings, sitemaps, feeds, errors) at once.

``ItemCaptureMiddleware`` (spider) gets, for every item a callback produces, the capture of the
response it came from: archived now if it was not yet (so only the responses that produced an item
are kept), or, in a re-extraction, the archived capture the request was made from. It stamps the
item's ``scraped_at`` with the fetch time and has the store write the capture's ``warc_captures``
row in the item's own transaction.
"""

from __future__ import annotations

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
from mayadeen.archive.reader import ARCHIVED_META
from mayadeen.archive.warc import Capture, Fetched, WarcWriter, recover
from mayadeen.items import ArticleItem
from mayadeen.pipelines.store import StorePipeline, open_store
from mayadeen.store.captures import archived_payload, index_capture
from mayadeen.store.interface import Store

logger = logging.getLogger(__name__)

#: 1 GB, as Heritrix and the WARC guidelines suggest.
DEFAULT_MAX_SIZE = 1_000_000_000
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
        self.writer: WarcWriter | None = None
        self.store: Store | None = None  # which payloads earlier runs archived
        self.received: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # request -> Fetched
        self.captures: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # request -> Capture

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

    def spider_opened(self, spider) -> None:
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
        self.store = open_store(self.crawler)  # the store pipeline's, or the store read-only
        archived = (lambda digest: archived_payload(self.store, digest)) if self.store is not None else None
        self.writer = WarcWriter(self.directory, run, max_size=self.max_size, info=info, archived=archived)
        logger.info(
            "Archiving %s as WARC in %s", "every response" if self.archive_all else "item pages", self.directory
        )

    def process_response(self, request, response):
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
            self.captures[request] = self._write(fetched)
        else:
            self.received[request] = fetched
        return response

    def capture_of(self, request) -> Capture | None:
        """The capture of the response to ``request``, archived now if it was not yet."""
        capture = self.captures.get(request)
        if capture is None and request in self.received:
            capture = self.captures[request] = self._write(self.received.pop(request))
        return capture

    def _write(self, fetched: Fetched) -> Capture | None:
        if self.writer is None:
            return None
        try:
            capture = self.writer.write(fetched)
        except OSError as exc:  # the items are still stored; the run fails at its end (lost_archive)
            self.stats.inc_value("mayadeen/warc/errors")
            logger.error("Could not archive %s: %s", fetched.url, exc)
            return None
        self.stats.inc_value(f"mayadeen/warc/{capture.warc_type}s")
        self.stats.inc_value("mayadeen/warc/bytes", capture.length)
        return capture

    def spider_closed(self, spider) -> None:
        if self.writer is not None:
            self.writer.close()
            if self.writer.files:
                logger.info("WARC files of this run: %s", ", ".join(self.writer.files))


class ItemCaptureMiddleware:
    """Links each item to its capture (see the module docstring); does nothing without a capture."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.pending: dict[int, Capture] = {}  # id(item) -> its capture, until the item is done
        self.archive: WarcArchiveMiddleware | None = None

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(mw.item_done, signal=signal)
        return mw

    def spider_opened(self, spider) -> None:
        self.archive = self.crawler.get_downloader_middleware(WarcArchiveMiddleware)
        store = self.crawler.get_item_pipeline(StorePipeline)
        if store is not None:
            store.add_item_write(self.index)

    def _capture(self, response) -> Capture | None:
        archived = response.meta.get(ARCHIVED_META)
        if archived is not None:
            return archived.capture
        return self.archive.capture_of(response.request) if self.archive is not None else None

    def _link(self, response, item: Any) -> None:
        capture = self._capture(response)
        if capture is None:
            return
        self.pending[id(item)] = capture
        adapter = ItemAdapter(item)
        if not adapter.get("scraped_at"):
            adapter["scraped_at"] = capture.fetched_at[:19] + "Z"  # the record's form: whole seconds

    def process_spider_output(self, response, result):
        for element in result:
            if isinstance(element, ArticleItem):  # item pages only: flashes are no capture of theirs
                self._link(response, element)
            yield element

    async def process_spider_output_async(self, response, result):
        async for element in result:
            if isinstance(element, ArticleItem):  # item pages only: flashes are no capture of theirs
                self._link(response, element)
            yield element

    def index(self, item: Any, store: Store) -> None:
        """The store's item write: the item's ``warc_captures`` row."""
        capture = self.pending.get(id(item))
        if capture is not None:
            index_capture(store, capture, ItemAdapter(item).get("article_id"))

    def item_done(self, item, **kwargs) -> None:
        self.pending.pop(id(item), None)


def _installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"
