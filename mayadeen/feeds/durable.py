"""When every feed holds an item for good: what a crawl may commit as written once a kill can no longer lose it.

A local JSON Lines feed of ``mayadeen.feeds.storage`` writes each record through, unbuffered, as the
feed exporter is handed it: the item is held at once (unless the write failed: ``mayadeen/lost/feed``).
Every other feed still holds it in a buffer or a temporary file — CSV, JSON, XML, a compressed feed
(``postprocessing``), a remote or stdout storage, each batch of ``FEED_EXPORT_BATCH_ITEM_COUNT`` — and
a SIGKILL loses it: such a feed holds its items only once Scrapy has stored the slot's file
(``feed_slot_closed``). A batch holds the items ``(batch_id - 1) * batch_item_count + 1`` onwards
that the feed's filter accepted, in the order scraped, as Scrapy's batches are documented to. A
storage that failed (``feedexport/failed_count/<storage>``) holds nothing for sure: from then on no
item of a slot of that storage is committed (written again by the next run rather than lost).

``DurableInFeeds(crawler, key, on_held)``: ``key(item)`` names the items to follow (None: not
followed, still counted in the batches); ``await on_held(keys)`` is called with the keys every
feed now holds. ``await settled()``: once the feed exporter has closed (at once without feeds), so
that the last commits are made before the caller's store closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from scrapy import signals
from scrapy.extensions.feedexport import FeedExporter, ItemFilter
from scrapy.utils.conf import feed_complete_default_values_from_settings
from scrapy.utils.misc import load_object

from mayadeen.feeds.storage import KillSafeFileFeedStorage

logger = logging.getLogger(__name__)


class Feed:
    """One feed of ``FEEDS``: the items its open batches took, by batch id."""

    def __init__(self, uri: str, options: dict[str, Any], settings):
        self.filter = load_object(options.get("item_filter") or ItemFilter)(options)
        self.batch_size = options["batch_item_count"] or 0
        storages = settings.getwithbase("FEED_STORAGES")
        storage = load_object(storages.get(urlparse(uri).scheme) or storages["file"])  # as Scrapy picks it
        self.writes_through = issubclass(storage, KillSafeFileFeedStorage) and storage.writes_through(options)
        self.taken = 0  # items the feed accepted so far
        self.batches: dict[int, list[Hashable]] = {}

    def take(self) -> int:
        """The batch id of the item the feed accepts now."""
        batch = self.taken // self.batch_size + 1 if self.batch_size else 1
        self.taken += 1
        return batch


def feeds_of(settings) -> dict[str, Feed]:
    """The crawl's feeds, by URI template as the feed exporter keys its slots (``slot.uri_template``)."""
    feeds = {}
    for uri, options in settings.getdict("FEEDS").items():
        key = str(uri.absolute()) if isinstance(uri, Path) else str(uri)
        feeds[key] = Feed(key, feed_complete_default_values_from_settings(options, settings, key), settings)
    return feeds


class DurableInFeeds:
    def __init__(
        self,
        crawler,
        key: Callable[[Any], Hashable | None],
        on_held: Callable[[list[Hashable]], Awaitable[None]],
    ):
        self.crawler = crawler
        self.key = key
        self.on_held = on_held
        self.feeds: dict[str, Feed] = {}
        self.waiting: dict[Hashable, int] = {}  # followed items: the feeds that do not hold them yet
        self.lost = 0  # ``mayadeen/lost/feed`` as of the last item
        self.closed = asyncio.Event()
        crawler.signals.connect(self._open, signal=signals.spider_opened)
        crawler.signals.connect(self.slot_closed, signal=signals.feed_slot_closed)
        crawler.signals.connect(self._exporter_closed, signal=signals.feed_exporter_closed)

    def _open(self, spider) -> None:
        self.feeds = feeds_of(self.crawler.settings) if self.crawler.get_extension(FeedExporter) else {}
        # After the feed exporter's handler, which is connected when the crawler's extensions are
        # made (after the spider, before it opens): a write-through feed has written the item.
        self.crawler.signals.connect(self.exported, signal=signals.item_scraped)

    async def exported(self, item, spider) -> None:
        key = self.key(item)
        batches = [(feed, feed.take()) for feed in self.feeds.values() if feed.filter.accepts(item)]
        lost, self.lost = self.lost, self.crawler.stats.get_value("mayadeen/lost/feed", 0)
        if key is None or self.lost > lost:  # a write-through feed lost it: never committed
            return
        waiting = 0
        for feed, batch in batches:
            if not feed.writes_through:
                feed.batches.setdefault(batch, []).append(key)
                waiting += 1
        if waiting:
            self.waiting[key] = waiting
        else:
            await self.on_held([key])

    async def slot_closed(self, slot) -> None:
        feed = self.feeds.get(slot.uri_template)
        keys = feed.batches.pop(slot.batch_id, []) if feed is not None else []
        storage = type(slot.storage).__name__
        if self.crawler.stats.get_value(f"feedexport/failed_count/{storage}", 0):
            # Which slot failed is not told: no slot of this storage counts as stored any more.
            for key in keys:
                self.waiting.pop(key, None)
            if keys:
                logger.warning(
                    "%d item(s) of %s are written again by the next run (%s failed)", len(keys), slot.uri, storage
                )
            return
        held = []
        for key in keys:
            if key not in self.waiting:
                continue  # another feed lost it
            self.waiting[key] -= 1
            if not self.waiting[key]:
                del self.waiting[key]
                held.append(key)
        if held:
            await self.on_held(held)

    def _exporter_closed(self) -> None:
        self.closed.set()

    async def settled(self) -> None:
        """Once the feed exporter has closed its slots and every commit they allowed is made."""
        if self.crawler.get_extension(FeedExporter) is not None:
            await self.closed.wait()
