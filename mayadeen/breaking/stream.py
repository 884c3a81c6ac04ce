"""The flashes a ``breaking`` run writes to its feeds: every flash the store holds that no run has written yet.

Read and marked off the reactor (``mayadeen.breaking.table``).

A flash is stored first (``mayadeen.breaking.recorder``) and marked ``streamed`` in the store only once
every feed holds it for good (``mayadeen.feeds.durable``): the unbuffered local JSON Lines file of
``mayadeen.feeds.storage`` as soon as it wrote the flash; any other feed (CSV, JSON, XML, a batch of
``FEED_EXPORT_BATCH_ITEM_COUNT``, a compressed or remote one) once Scrapy has stored the file of the
slot that took it. A run killed before leaves flashes stored and not marked, and the next run writes
them: after any kill, the streams and the store hold the same flashes. A flash may be written twice,
never lost: in JSON Lines the one written in the instant before the kill (the ``breaking`` spider
passes one item at a time, ``CONCURRENT_ITEMS = 1``, so one mark at most is under way), in another
feed what its unstored file held at the kill. A flash whose write the feed lost (a full disk:
``mayadeen/lost/feed``, or a failed store) is not marked either.

The flashes are read in pages of ``PAGE`` by ascending id, after the last one handed out: the
table's writers take turns (``mayadeen.store.breaking.SERIAL``), so ids are committed in order and
none is passed over. Stats: ``mayadeen/breaking/streamed``, ``mayadeen/breaking/stream_errors`` (an
ERROR: flashes written but not marked, written again by the next run).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from mayadeen.breaking.item import FlashItem
from mayadeen.breaking.table import BreakingTable
from mayadeen.feeds.durable import DurableInFeeds

logger = logging.getLogger(__name__)

#: Flashes read from the store at a time.
PAGE = 500


def flash_key(item) -> int | None:
    return item.flash_id() if isinstance(item, FlashItem) else None


class FlashStream:
    """``items()``: the flashes not yet written, as items carrying their store id; marks them streamed
    once the feeds hold them. ``await settled()`` before the table closes: the last marks are made."""

    def __init__(self, crawler, table: BreakingTable):
        self.crawler = crawler
        self.table = table
        self.after = 0  # the last id handed out by this run (read and set in the table's thread)
        self.feeds = DurableInFeeds(crawler, flash_key, self.held)

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

    async def held(self, flash_ids: list[int]) -> None:
        try:
            await self.table.run(lambda flashes: flashes.mark_streamed(flash_ids))
        except self.table.errors as exc:
            self.crawler.stats.inc_value("mayadeen/breaking/stream_errors", len(flash_ids))
            logger.error("Could not mark %d flash(es) written in %s: %s", len(flash_ids), self.table.location, exc)
            return
        self.crawler.stats.inc_value("mayadeen/breaking/streamed", len(flash_ids))

    async def settled(self) -> None:
        await self.feeds.settled()
