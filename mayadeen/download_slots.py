"""What is in Scrapy's downloader, per download slot, from its signals: no slot internals are read.

A request is in the downloader from ``request_reached_downloader`` (it has passed the downloader
middlewares and joined its slot) to ``request_left_downloader`` (its download ended, whatever the
outcome): exactly the span it is among its slot's active requests. The scheduler hands a slot a
request only when the downloader would send it at once, so a request reaches its slot when it is
sent; its arrival is kept on ``time.monotonic()``, the clock the downloader spaces requests on.
A request the scheduler has handed out is on its way until it reaches its slot: it counts against
the slot's concurrency meanwhile (the downloader middlewares run after the engine has taken the next
requests). One that never arrives (answered or dropped by a middleware) stops counting when it is
gone (a weak reference).
Nothing here is saved: the deadlines a crawl keeps in JOBDIR are wall-clock (``mayadeen.scheduler``).
"""

from __future__ import annotations

import time
import weakref
from collections import defaultdict

from scrapy import signals


def slot_clock() -> float:
    """Now, on the clock the downloader spaces a slot's requests on."""
    return time.monotonic()


class DownloaderTraffic:
    def __init__(self):
        self.active: defaultdict[str, set] = defaultdict(set)  # slot key -> requests in the downloader
        self.last_arrival: dict[str, float] = {}  # slot key -> slot_clock() when a request last reached it
        self.on_the_way: defaultdict[str, weakref.WeakSet] = defaultdict(weakref.WeakSet)  # slot key -> handed out

    @classmethod
    def from_crawler(cls, crawler) -> DownloaderTraffic:
        traffic = cls()
        crawler.signals.connect(traffic.reached, signal=signals.request_reached_downloader)
        crawler.signals.connect(traffic.left, signal=signals.request_left_downloader)
        return traffic

    @staticmethod
    def slot_key(request) -> str:
        return request.meta["download_slot"]  # set by the downloader before either signal

    def handed_out(self, key: str, request) -> None:
        self.on_the_way[key].add(request)

    def reached(self, request) -> None:
        key = self.slot_key(request)
        self.on_the_way[key].discard(request)
        self.active[key].add(request)
        self.last_arrival[key] = slot_clock()

    def left(self, request) -> None:
        key = self.slot_key(request)
        self.active[key].discard(request)
        if not self.active[key]:
            del self.active[key]

    def taken(self, key: str, besides=None) -> int:
        """How many of slot ``key``'s concurrency is taken: its requests in the downloader or on their
        way there, ``besides`` not counted."""
        coming = self.on_the_way.get(key, ())
        return len(self.active.get(key, ())) + len(coming) - (besides in coming)

    def in_flight(self) -> int:
        return sum(len(requests) for requests in self.active.values())
