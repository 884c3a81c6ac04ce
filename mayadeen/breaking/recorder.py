"""Reads the ticker of a page and stores its flashes: what the ``breaking`` spider and the harvest share.

Flashes go to the crawl's ``breaking_news`` table on either engine (``mayadeen.breaking.table``:
``MAYADEEN_STORE_URL`` or ``MAYADEEN_SQLITE_PATH``; without a store, flashes are only remembered for
the run), linked as ``MAYADEEN_BREAKING_LINK_SIMILARITY`` and ``MAYADEEN_BREAKING_LINK_WINDOW`` say
(see ``mayadeen.store.breaking``).

Stats: ``mayadeen/breaking/pages`` (tickers read), ``mayadeen/breaking/last_read`` (when, epoch seconds),
``mayadeen/breaking/flashes/new|updated|unchanged``,
``mayadeen/breaking/empty|duplicate|bad_time`` (items left out or kept without a time, each with a
WARNING), ``mayadeen/capped/ticker`` (items beyond ``MAYADEEN_MAX_TICKER_FLASHES`` of a broken ticker,
not read; a WARNING), ``mayadeen/breaking/store_errors`` (an ERROR: the page's flashes were not stored).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mayadeen.breaking.table import BreakingTable
from mayadeen.pages.ticker import DEFAULT_MAX_FLASHES, TickerPage, TickerReading
from mayadeen.record import utc_timestamp
from mayadeen.store.breaking import NEW
from mayadeen.urls import tracking_params

logger = logging.getLogger(__name__)


class TickerRecorder:
    """``read(response)`` reads the page's ticker; ``await record(reading, url)`` stores its flashes
    (off the reactor) and returns the new ones as records."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.table = BreakingTable(crawler)
        self.tracking = tracking_params(crawler.settings)
        self.max_flashes = crawler.settings.getint("MAYADEEN_MAX_TICKER_FLASHES", DEFAULT_MAX_FLASHES)

    @property
    def stats(self):
        return self.crawler.stats  # set once the crawl starts, after the spider is made

    def read(self, response) -> TickerReading | None:
        """The page's ticker; None when the page has none."""
        reading = TickerPage(response, self.tracking, self.max_flashes).read()
        if not reading.found:
            return None
        self._report(reading, response.url)
        return reading

    async def record(self, reading: TickerReading, url: str) -> list[dict[str, Any]]:
        """The new flashes of the ticker read on the page at ``url`` (records), once stored."""
        seen_at = utc_timestamp()
        try:
            results = await self.table.run(lambda flashes: flashes.record(reading.entries, seen_at))
        except self.table.errors as exc:
            self.stats.inc_value("mayadeen/breaking/store_errors")
            logger.error(
                "Could not store the %d flashes of %s in %s: %s",
                len(reading.entries),
                url,
                self.table.location,
                exc,
            )
            return []
        self.stats.inc_value("mayadeen/breaking/pages")
        self.stats.set_value("mayadeen/breaking/last_read", time.time())  # for the ticker monitor
        for outcome, _ in results:
            self.stats.inc_value(f"mayadeen/breaking/flashes/{outcome}")
        return [record for outcome, record in results if outcome == NEW]

    def _report(self, reading: TickerReading, url: str) -> None:
        for problem, count in reading.problems.items():
            self.stats.inc_value(f"mayadeen/breaking/{problem}", count)
        if reading.left_out:
            self.stats.inc_value("mayadeen/capped/ticker", reading.left_out)
        if reading.details:
            logger.warning("Breaking ticker of %s: %s", url, "; ".join(reading.details))

    async def close(self) -> None:
        await self.table.close()
