"""Free harvest: the flashes on the pages any crawl fetches go to the ``breaking_news`` table too.

Every HTML page of the site carries the ticker, so a ``sections``, ``sitemap`` or ``feed`` crawl sees
it many times a minute at no extra request. The ticker is read at most once a minute: the clock decides
before the response is touched, so the pages in between cost nothing; when due, the next successful
HTML response with a ticker is read and its flashes stored (a flash lives on the ticker for far longer
than a minute). Spiders that read the ticker themselves (``reads_ticker = True``: the ``breaking``
spider) are left alone.

Settings: ``MAYADEEN_BREAKING_HARVEST`` (default True) turns it off; nothing is harvested without a
store (``MAYADEEN_STORE_URL`` and ``MAYADEEN_SQLITE_PATH`` empty); either engine. The flashes go
through the crawl's own connection to the store, off the reactor (``mayadeen.breaking.table``); the
crawl does not wait for them, except at its end. Stats as ``mayadeen.breaking.recorder``.
"""

from __future__ import annotations

import asyncio
import time

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse

from mayadeen.breaking.recorder import TickerRecorder
from mayadeen.store.engines import store_target

#: Seconds between two readings of the ticker (each moves its flashes' last_seen).
REPEAT_INTERVAL = 60.0


class TickerHarvest:
    def __init__(self, crawler):
        self.recorder = TickerRecorder(crawler)
        self.next_read = 0.0  # time.monotonic() from which the next page's ticker is read
        self.storing: set[asyncio.Task] = set()  # awaited when the spider closes

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        if not settings.getbool("MAYADEEN_BREAKING_HARVEST", True):
            raise NotConfigured("MAYADEEN_BREAKING_HARVEST is off")
        if store_target(settings) is None:
            raise NotConfigured("no store to harvest into")
        ext = cls(crawler)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def response_received(self, response, request, spider) -> None:
        now = time.monotonic()
        if now < self.next_read or getattr(spider, "reads_ticker", False) or response.status != 200:
            return
        reading = self.recorder.read(response) if isinstance(response, HtmlResponse) else None
        if reading is not None:
            self.next_read = now + REPEAT_INTERVAL  # a page without a ticker leaves it due
            task = asyncio.ensure_future(self.recorder.record(reading, response.url))
            self.storing.add(task)
            task.add_done_callback(self.storing.discard)

    async def spider_closed(self, spider) -> None:
        await asyncio.gather(*self.storing)
        await self.recorder.close()
