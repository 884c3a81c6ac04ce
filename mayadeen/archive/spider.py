"""The spider of ``scrapy reextract``: one request per archived item page, answered from the archive.

Not in ``SPIDER_MODULES``: it is started by the command (``mayadeen.commands.reextract``), which also
puts ``WarcDownloadHandler`` in place of the network. Each request goes through the downloader
middlewares and the item callback of every crawl (``MayadeenSpider.parse_item``), then through the
same item pipelines, so a re-extracted record is stored exactly as a crawl would store it.
"""

from __future__ import annotations

import asyncio
import os
from datetime import date
from pathlib import Path

import scrapy

from mayadeen.archive.external import DEFAULT_PROGRESS_SECONDS, ExternalScan
from mayadeen.archive.reader import ARCHIVED_META, Archived, scan, select
from mayadeen.archive.warc import recover
from mayadeen.days import DayWindow
from mayadeen.pipelines.store import open_store
from mayadeen.spiders.base import MayadeenSpider
from mayadeen.store.captures import latest_fetches


class ReextractSpider(MayadeenSpider):
    """Arguments: ``warc_dir`` (the archive), ``since``/``until`` (``YYYY-MM-DD`` Beirut days of the
    fetch, inclusive: ``mayadeen.days``), ``urls``/``kinds`` (comma-separated; empty: all).

    For each item page, the latest capture in the selection is re-extracted. A page whose store row
    came from a newer capture than that one is skipped (``mayadeen/reextract/skipped_older``): an old
    capture must not overwrite newer content. Stats: ``mayadeen/reextract/captures`` (requests made
    from the archive), ``mayadeen/reextract/unreadable_files``.
    """

    name = "reextract"

    def __init__(
        self, *args, warc_dir: str = "", since: str = "", until: str = "", urls: str = "", kinds: str = "", **kwargs
    ):
        kwargs["js"] = "0"  # no browser: nothing is fetched
        super().__init__(*args, **kwargs)
        self.warc_dir = warc_dir
        self.window = DayWindow(*(date.fromisoformat(day) if day else None for day in (since, until)))
        self.urls = frozenset(u for u in urls.split(",") if u)
        self.kinds = frozenset(k for k in kinds.split(",") if k)

    async def start(self):
        stats = self.crawler.stats
        chosen = await self.archived()
        newer = await self._stored_fetches()
        if chosen:
            self.logger.info("Re-extracting %d archived item pages from %s", len(chosen), self.source)
        else:
            self.logger.warning("No archived item page matches the selection in %s", self.source)
        for archived in chosen:
            capture = archived.capture
            if newer.get(capture.url, "") > capture.fetched_at:
                stats.inc_value("mayadeen/reextract/skipped_older")
                self.logger.info("Skipped %s: the store holds a newer capture than %s", capture.url, capture.fetched_at)
                continue
            stats.inc_value("mayadeen/reextract/captures")
            yield scrapy.Request(
                capture.url, callback=self.parse_item, meta={ARCHIVED_META: archived}, dont_filter=True
            )

    def failing_due(self):
        """None: re-extraction reads the archive; the failing items are the crawls' to ask for again."""
        return iter(())

    @property
    def source(self) -> str:
        return self.warc_dir

    async def archived(self) -> list[Archived]:
        """The captures to re-extract: the latest of each selected item page."""
        for name, cut in recover(self.warc_dir):
            self.logger.warning("%s was left open by a killed run; closed it (%d torn bytes cut)", name, cut)
        unreadable: list[str] = []
        chosen = select(
            self.warc_dir,
            scan(self.warc_dir, unreadable),
            window=self.window,
            urls=self.urls,
            kinds=self.kinds,
        )
        self.crawler.stats.set_value("mayadeen/reextract/unreadable_files", len(unreadable))
        return chosen

    async def _stored_fetches(self) -> dict[str, str]:
        """url -> newest capture the store has indexed (empty without a store); read off the reactor."""
        reads = await open_store(self.crawler)
        return await reads.run(latest_fetches) if reads is not None else {}


class ExternalReextractSpider(ReextractSpider):
    """Re-extraction from WARC files someone else wrote (``mayadeen.archive.external``): argument
    ``warc_files`` (absolute paths, ``os.pathsep``-separated) instead of ``warc_dir``; the rest as
    ``ReextractSpider``. The files are read in a thread (a CC-NEWS file is a gigabyte): the reactor
    keeps running. Stats: ``mayadeen/reextract/records`` (records read) and
    ``mayadeen/reextract/skipped/<reason>``; a summary line at the end.
    """

    def __init__(self, *args, warc_files: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.warc_files = [Path(name) for name in warc_files.split(os.pathsep) if name]
        self.scan: ExternalScan | None = None

    @property
    def source(self) -> str:
        return f"{len(self.warc_files)} WARC files"

    async def archived(self) -> list[Archived]:
        self.scan = ExternalScan(
            self.warc_files, self.settings.getfloat("MAYADEEN_WARC_PROGRESS_SECONDS", DEFAULT_PROGRESS_SECONDS)
        )
        captures = await asyncio.to_thread(lambda: list(self.scan.captures()))
        stats = self.crawler.stats
        stats.set_value("mayadeen/reextract/records", self.scan.records)
        for reason, count in self.scan.skipped.items():
            stats.set_value(f"mayadeen/reextract/skipped/{reason}", count)
        self.logger.info(self.scan.summary())
        return select("", captures, window=self.window, urls=self.urls, kinds=self.kinds)

    def closed(self, reason: str) -> None:
        if self.scan is None:
            return
        stats = self.crawler.stats
        self.logger.info(
            "%s; items new %d, updated %d, unchanged %d",
            self.scan.summary(),
            stats.get_value("mayadeen/reextract/new", 0),
            stats.get_value("mayadeen/reextract/changed", 0),
            stats.get_value("mayadeen/reextract/unchanged", 0),
        )
