"""When a request last reached each download slot of Scrapy's downloader, from its signals.

The scheduler hands a slot a request only when the downloader would send it at once, so a request
reaches its slot (``request_reached_downloader``) when it is sent; the moment is kept on
``time.monotonic()``, the clock the downloader spaces a slot's requests on. Nothing here is saved:
the deadlines a crawl keeps in JOBDIR are wall-clock (``mayadeen.scheduler``).
"""

from __future__ import annotations

import time

from scrapy import signals


def slot_clock() -> float:
    """Now, on the clock the downloader spaces a slot's requests on."""
    return time.monotonic()


class SlotArrivals:
    def __init__(self):
        self.last: dict[str, float] = {}  # slot key -> slot_clock() when a request last reached it

    @classmethod
    def from_crawler(cls, crawler) -> SlotArrivals:
        arrivals = cls()
        crawler.signals.connect(arrivals.reached, signal=signals.request_reached_downloader)
        return arrivals

    def reached(self, request) -> None:
        self.last[request.meta["download_slot"]] = slot_clock()  # set by the downloader before the signal
