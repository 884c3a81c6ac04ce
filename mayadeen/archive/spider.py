"""The spider of ``scrapy reextract``: one request per archived item page, answered from the archive.

Not in ``SPIDER_MODULES``: it is started by the command (``mayadeen.commands.reextract``), which also
puts ``WarcDownloadHandler`` in place of the network. Each request goes through the downloader
middlewares and the item callback of every crawl (``MayadeenSpider.parse_item``), then through the
same item pipelines, so a re-extracted record is stored exactly as a crawl would store it.
"""

from __future__ import annotations

import scrapy

from mayadeen.archive.reader import ARCHIVED_META, scan, select
from mayadeen.archive.warc import recover
from mayadeen.spiders.base import MayadeenSpider
from mayadeen.pipelines.store import open_store
from mayadeen.store.captures import latest_fetches


class ReextractSpider(MayadeenSpider):
    """Arguments: ``warc_dir`` (the archive), ``since``/``until`` (``YYYY-MM-DD`` UTC fetch days,
    inclusive), ``urls``/``kinds`` (comma-separated; empty: all).

    For each item page, the latest capture in the selection is re-extracted. A page whose store row
    came from a newer capture than that one is skipped (``mayadeen/reextract/skipped_older``): an old
    capture must not overwrite newer content. Stats: ``mayadeen/reextract/captures`` (requests made
    from the archive), ``mayadeen/reextract/unreadable_files``.
    """

    name = "reextract"

    def __init__(self, *args, warc_dir: str = "", since: str = "", until: str = "", urls: str = "",
                 kinds: str = "", **kwargs):
        kwargs["js"] = "0"  # no browser: nothing is fetched
        super().__init__(*args, **kwargs)
        self.warc_dir = warc_dir
        self.since, self.until = since or None, until or None
        self.urls = frozenset(u for u in urls.split(",") if u)
        self.kinds = frozenset(k for k in kinds.split(",") if k)

    async def start(self):
        stats = self.crawler.stats
        for name, cut in recover(self.warc_dir):
            self.logger.warning("%s was left open by a killed run; closed it (%d torn bytes cut)", name, cut)
        unreadable: list[str] = []
        chosen = select(self.warc_dir, scan(self.warc_dir, unreadable), since=self.since, until=self.until,
                        urls=self.urls, kinds=self.kinds)
        stats.set_value("mayadeen/reextract/unreadable_files", len(unreadable))
        newer = self._stored_fetches()
        if chosen:
            self.logger.info("Re-extracting %d archived item pages from %s", len(chosen), self.warc_dir)
        else:
            self.logger.warning("No archived item page matches the selection in %s", self.warc_dir)
        for archived in chosen:
            capture = archived.capture
            if newer.get(capture.url, "") > capture.fetched_at:
                stats.inc_value("mayadeen/reextract/skipped_older")
                self.logger.info("Skipped %s: the store holds a newer capture than %s", capture.url,
                                 capture.fetched_at)
                continue
            stats.inc_value("mayadeen/reextract/captures")
            yield scrapy.Request(capture.url, callback=self.parse_item, meta={ARCHIVED_META: archived},
                                 dont_filter=True)

    def _stored_fetches(self) -> dict[str, str]:
        """url -> newest capture the store has indexed (empty without a store)."""
        store = open_store(self.crawler)
        return latest_fetches(store) if store is not None else {}
