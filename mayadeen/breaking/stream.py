"""The flashes a ``breaking`` run writes to its feeds: every flash the store holds that no run has written yet.

Read and marked off the reactor (``mayadeen.breaking.table``).

A flash is stored first (``mayadeen.breaking.recorder``) and marked ``streamed`` in the store only once
the feeds have written it: the mark is set on ``item_scraped`` by a handler connected after Scrapy's
feed exporter's, which writes the item in its own handler of that signal (to the unbuffered JSON Lines
file of ``mayadeen.feeds.storage``). A run killed between the two leaves flashes stored and not
marked, and the next run writes them: after any kill, the stream and the store hold the same flashes
(a flash written in the instant before the kill may be written twice, never lost: the ``breaking``
spider passes one item at a time, ``CONCURRENT_ITEMS = 1``, so one mark at most is under way). A flash whose write
the feed lost (a full disk: ``mayadeen/lost/feed``) is not marked either.

The flashes are read in pages of ``PAGE`` by ascending id, after the last one handed out: the
table's writers take turns (``mayadeen.store.breaking.SERIAL``), so ids are committed in order and
none is passed over. Stats: ``mayadeen/breaking/streamed``, ``mayadeen/breaking/stream_errors`` (an
ERROR: a flash written but not marked, written again by the next run).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from scrapy import signals

from mayadeen.breaking.item import FlashItem
from mayadeen.breaking.table import BreakingTable

logger = logging.getLogger(__name__)

#: Flashes read from the store at a time.
PAGE = 500


class FlashStream:
    """``items()``: the flashes not yet written, as items carrying their store id; marks each one
    streamed once the feeds wrote it."""

    def __init__(self, crawler, table: BreakingTable):
        self.crawler = crawler
        self.table = table
        self.after = 0  # the last id handed out by this run (read and set in the table's thread)
        self.lost = 0  # records the feeds could not write (``mayadeen/lost/feed``) as of the last flash
        # After the feed exporter's handler, which is connected when the crawler's extensions are made
        # (after the spider, before it opens).
        crawler.signals.connect(self._follow_feeds, signal=signals.spider_opened)

    def _follow_feeds(self, spider) -> None:
        self.crawler.signals.connect(self.written, signal=signals.item_scraped)

    async def items(self) -> AsyncIterator[FlashItem]:
        while True:
            try:
                page = await self.table.run(self._next_page)
            except self.table.errors as exc:
                logger.error("Could not read the flashes to write from %s: %s", self.table.location, exc)
                return
            for flash_id, record in page:
                item = FlashItem(**record)
                item.note_flash_id(flash_id)
                yield item
            if len(page) < PAGE:
                return

    def _next_page(self, flashes) -> list:
        """The next flashes not yet written, after the last handed out. In the table's one thread, so
        two ticker reads under way at once never hand out the same flash."""
        page = flashes.unstreamed(after=self.after, limit=PAGE)
        if page:
            self.after = page[-1][0]
        return page

    async def written(self, item, spider) -> None:
        flash_id = item.flash_id() if isinstance(item, FlashItem) else None
        if flash_id is None:
            return
        # The feeds wrote this item in their handler of this signal, just before: a write they lost
        # (a full disk; ``mayadeen.feeds.storage``) leaves the flash unmarked, for the next run to write.
        lost, self.lost = self.lost, self.crawler.stats.get_value("mayadeen/lost/feed", 0)
        if self.lost > lost:
            return
        try:
            await self.table.run(lambda flashes: flashes.mark_streamed(flash_id))
        except self.table.errors as exc:
            self.crawler.stats.inc_value("mayadeen/breaking/stream_errors")
            logger.error("Could not mark flash %d written in %s: %s", flash_id, self.table.location, exc)
            return
        self.crawler.stats.inc_value("mayadeen/breaking/streamed")
