"""A scheduler that holds requests until they are due, so that waiting never takes a download slot.

Retries wait (exponential backoff, ``mayadeen.middlewares.retry``) and a ``Retry-After`` pauses the
whole site (``mayadeen.extensions.retry_after``). Waiting inside the downloader would hold a slot
and a concurrency token for the whole wait, stop every other download, and make a graceful
shutdown wait for it. Here a request that is not due yet never leaves the scheduler:

* a request whose meta ``mayadeen_not_before`` (wall-clock ``time.time()``) is in the future, or
  whose download slot is held (``hold_slot``: a ``Retry-After``), is put aside in a heap; a timer
  hands it back to the engine (``engine.crawl``) when it is due, and other requests flow meanwhile;
* at most the slot's concurrency (``CONCURRENT_REQUESTS_PER_DOMAIN``, ``DOWNLOAD_SLOTS``) of one
  slot's requests are in the downloader at once, so none sits in the downloader's queue when the
  site says "come back later": the next one is held here instead;
* when the crawl stops (Ctrl-C, SIGTERM) nothing waits for a held request: with a JOBDIR they are
  saved in its queue with their deadlines and resumed by the next run. Deadlines are wall-clock, so
  they mean the same after a reboot or on another machine; a deadline further away than the larger
  of ``MAYADEEN_RETRY_BACKOFF_MAX`` and ``MAYADEEN_RETRY_AFTER_MAX`` (a clock moved back) is cut to that.

Stats: ``mayadeen/scheduler/held`` (requests put aside), ``mayadeen/scheduler/saved`` (held
requests saved in JOBDIR at the end of a run).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time

from scrapy.core.scheduler import Scheduler

logger = logging.getLogger(__name__)

#: Request meta: the wall-clock time (``time.time()``) before which the request is not sent.
NOT_BEFORE = "mayadeen_not_before"


class DueScheduler(Scheduler):
    def __init__(self, *args, crawler=None, **kwargs):
        super().__init__(*args, crawler=crawler, **kwargs)
        self.crawler = crawler
        settings = crawler.settings
        self.longest_wait = max(settings.getfloat("MAYADEEN_RETRY_BACKOFF_MAX", 60.0),
                                settings.getfloat("MAYADEEN_RETRY_AFTER_MAX", 300.0))
        self.slot_settings = settings.getdict("DOWNLOAD_SLOTS")
        self.concurrency = (settings.getint("CONCURRENT_REQUESTS_PER_IP")
                            or settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"))
        self.held: list[tuple[float, int, object]] = []  # (due, order, request)
        self.order = itertools.count()
        self.slot_holds: dict[str, float] = {}  # slot key -> time.time() until which it is held
        self.waiting = None  # a due request whose slot was full, sent first when it has room
        self.timer = None

    # --- the public face ------------------------------------------------------------------------

    def hold_slot(self, key: str, until: float) -> None:
        """Sends no request of download slot ``key`` before ``until`` (``time.time()``)."""
        self.slot_holds[key] = max(until, self.slot_holds.get(key, 0.0))

    def enqueue_request(self, request) -> bool:
        due = self._due(request)
        if due is None:
            return super().enqueue_request(request)
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.crawler.spider)
            return False
        self._hold(request, due)
        return True

    def next_request(self):
        if self.waiting is not None:
            request, self.waiting = self.waiting, None
        else:
            request = super().next_request()
        while request is not None:
            due = self._due(request)
            if due is not None:
                self._hold(request, due)
                request = super().next_request()
                continue
            if not self._slot_has_room(request):
                # Already through the duplicate filter: dont_filter, should it be saved in JOBDIR.
                self.waiting = request if request.dont_filter else request.replace(dont_filter=True)
                return None
            return request
        return None

    def has_pending_requests(self) -> bool:
        return super().has_pending_requests() or bool(self.held) or self.waiting is not None

    def __len__(self) -> int:
        return super().__len__() + len(self.held) + (self.waiting is not None)

    def close(self, reason: str):
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        pending = [request for _, _, request in sorted(self.held)] + [r for r in [self.waiting] if r is not None]
        self.held, self.waiting = [], None
        if pending and self.dqdir:
            for request in pending:  # dont_filter: straight into the saved queue, deadline in its meta
                super().enqueue_request(request)
            self.stats.inc_value("mayadeen/scheduler/saved", len(pending))
            logger.info("%d request(s) waiting for a retry are saved in JOBDIR and resumed by the next run",
                        len(pending))
        elif pending:
            logger.info("%d request(s) waiting for a retry are dropped with the crawl (no JOBDIR)", len(pending))
        return super().close(reason)

    # --- holding --------------------------------------------------------------------------------

    def _slot_key(self, request) -> str:
        return self.crawler.engine.downloader.get_slot_key(request)

    def _due(self, request) -> float | None:
        """When ``request`` may go (``time.time()``), or None when it may go now."""
        now = time.time()
        due = max(request.meta.get(NOT_BEFORE) or 0.0, self.slot_holds.get(self._slot_key(request), 0.0))
        if due <= now:
            return None
        return min(due, now + self.longest_wait)

    def _hold(self, request, due: float) -> None:
        if not request.dont_filter:  # it has passed the duplicate filter; it must pass it again
            request = request.replace(dont_filter=True)
        request.meta[NOT_BEFORE] = due  # kept in JOBDIR with the request
        heapq.heappush(self.held, (due, next(self.order), request))
        self.stats.inc_value("mayadeen/scheduler/held")
        self._arm()

    def _arm(self) -> None:
        from twisted.internet import reactor  # the one the crawl installed (importing it earlier installs one)

        if not self.held:
            return
        delay = max(0.0, self.held[0][0] - time.time())
        if self.timer is not None and self.timer.active():
            if self.timer.getTime() - reactor.seconds() <= delay:
                return
            self.timer.cancel()
        self.timer = reactor.callLater(delay, self._release)

    def _release(self) -> None:
        """Hands every request that is due back to the engine."""
        self.timer = None
        now = time.time()
        while self.held and self.held[0][0] <= now:
            _, _, request = heapq.heappop(self.held)
            self.crawler.engine.crawl(request)
        self._arm()

    def _slot_has_room(self, request) -> bool:
        key = self._slot_key(request)
        limit = self.slot_settings.get(key, {}).get("concurrency", self.concurrency)
        if not limit:
            return True
        downloader = self.crawler.engine.downloader
        return sum(1 for r in downloader.active if downloader.get_slot_key(r) == key) < limit
