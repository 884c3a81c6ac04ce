"""A scheduler that holds requests until they are due, so that waiting never takes a download slot.

Retries wait (exponential backoff, ``mayadeen.middlewares.retry``) and a ``Retry-After`` pauses the
whole site (``mayadeen.extensions.retry_after``). Waiting inside the downloader would hold a slot
and a concurrency token for the whole wait, stop every other download, and make a graceful
shutdown wait for it. Here a request that is not due yet never leaves the scheduler:

* a request whose meta ``mayadeen_not_before`` (wall-clock ``time.time()``) is in the future (a
  retry waiting out its backoff) is put aside until then in a queue by deadline
  (``mayadeen.due_queue``): on disk with a JOBDIR (``requests.held``), so however many retries wait
  at once, none of them takes memory; other requests flow meanwhile;
* the head of the queue goes to its download slot only when the downloader would send it at once:
  the slot is not held (``hold_slot``: a ``Retry-After``), fewer than its concurrency
  (``CONCURRENT_REQUESTS_PER_DOMAIN``, ``DOWNLOAD_SLOTS``) of its requests are in the downloader, and
  its download delay is over — the longest the downloader may draw, ``delay × (1 + jitter)``, as it
  draws each delay at random — and the slot's delay timer has run (under load it runs late, and the
  downloader sends nothing before it). Until then that one request waits here and the rest of the queue stays
  where it is (on disk with a JOBDIR): a held slot is looked at, never drained into memory. So no
  request sits in the downloader's queue when the site says "come back later" (``DueGuardMiddleware``
  sends back one that was held up on its way, e.g. by robots.txt, or that a pause caught there);
* when a request becomes due, a timer makes the engine ask again (``mayadeen.scrapy_contact``): the
  request is not scheduled a second time, so ``request_scheduled`` announces each request once;
* when the crawl stops (Ctrl-C, SIGTERM) nothing waits for a held request: with a JOBDIR they are
  moved, one at a time, into its queue with their deadlines (the slot's hold included) and resumed
  by the next run; after a kill, ``mayadeen.extensions.resume`` discards them with Scrapy's queue
  and the next run fetches those pages again.
  Deadlines are wall-clock, so they mean the same after a reboot or on another machine; a deadline
  further away than the larger of ``MAYADEEN_RETRY_BACKOFF_MAX`` and ``MAYADEEN_RETRY_AFTER_MAX`` (a
  clock moved back) is cut to that.

When a slot last got a request comes from the downloader's signals (``mayadeen.download_slots``);
the requests the downloader has, and a slot's delay, from ``mayadeen.scrapy_contact``.

The queue is bounded: while ``MAYADEEN_MAX_QUEUED_REQUESTS`` requests wait (``len()``: queued, held
and waiting), a newly discovered request is dropped, so one huge sitemap or a page of endless links
cannot fill the memory. Requests that were taken already and come back (retries, held requests,
redirects: ``dont_filter`` or ``redirect_times``) are never dropped; the crawl goes on with what it
has, and the run summary says it was capped.

Stats: ``mayadeen/scheduler/held`` (requests put aside until their deadline),
``mayadeen/scheduler/held/max`` (the most requests ever kept in memory here: the one waiting for its
slot, and those put aside in memory — all of them without a JOBDIR, none that can be serialised with
one), ``mayadeen/scheduler/held/disk_errors`` (held requests kept in memory because their file in
JOBDIR could not be written; a WARNING the first time), ``mayadeen/scheduler/saved`` (held requests
saved in JOBDIR at the end of a run),
``mayadeen/capped/queue`` (requests dropped as the queue was full; a WARNING the first time).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
import weakref

from scrapy.core.scheduler import Scheduler

from mayadeen.download_slots import SlotArrivals, slot_clock
from mayadeen.due_queue import NOT_BEFORE, DueQueue
from mayadeen.scrapy_contact import delay_timer_pending, in_downloader, longest_delay, wake_engine

logger = logging.getLogger(__name__)

#: Seconds to look again at a slot whose delay is over by the clock but whose delay timer has not run:
#: the wake-up timer then comes after it in the event loop.
TIMER_TURN = 0.001


class DueScheduler(Scheduler):
    def __init__(self, *args, crawler=None, **kwargs):
        super().__init__(*args, crawler=crawler, **kwargs)
        self.crawler = crawler
        settings = crawler.settings
        self.longest_wait = max(
            settings.getfloat("MAYADEEN_RETRY_BACKOFF_MAX", 60.0), settings.getfloat("MAYADEEN_RETRY_AFTER_MAX", 300.0)
        )
        self.slot_settings = settings.getdict("DOWNLOAD_SLOTS")
        self.concurrency = settings.getint("CONCURRENT_REQUESTS_PER_IP") or settings.getint(
            "CONCURRENT_REQUESTS_PER_DOMAIN"
        )
        self.held: DueQueue | None = None  # requests put aside until their deadline (made at open)
        self.slot_holds: dict[str, float] = {}  # slot key -> time.time() until which it is held
        self.waiting = None  # a due request whose slot was not ready, sent first when it is
        self.handed: dict[str, float] = {}  # slot key -> slot_clock() when its last request was handed out
        self.handed_out = weakref.WeakSet()  # requests handed out, until they are done with
        self.arrivals = SlotArrivals.from_crawler(crawler)
        self.timer = None
        self.wake_timer = None
        self.max_queued = settings.getint("MAYADEEN_MAX_QUEUED_REQUESTS")
        self.capped = False
        # Fingerprints of the requests handed to the duplicate filter: its only public question
        # (request_seen) marks the request seen, and a request dropped over the cap must not be.
        self.filtered: set[bytes] = set()

    # --- the public face ------------------------------------------------------------------------

    def open(self, spider):
        self.held = DueQueue(self.crawler, self.crawler.settings.get("JOBDIR"), self.dqclass, self.mqclass)
        return super().open(spider)

    def hold_slot(self, key: str, until: float) -> None:
        """Sends no request of download slot ``key`` before ``until`` (``time.time()``)."""
        self.slot_holds[key] = max(until, self.slot_holds.get(key, 0.0))

    def enqueue_request(self, request) -> bool:
        if self.max_queued and len(self) >= self.max_queued and not self._comes_back(request):
            return self._drop_over_cap(request)
        if self.max_queued and not request.dont_filter:
            self.filtered.add(self.crawler.request_fingerprinter.fingerprint(request))
        due = self.own_due(request)
        if due is None:  # due, or only its slot is held: queued like any other
            return super().enqueue_request(request)
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.crawler.spider)
            return False
        self._hold(request, due)
        return True

    def next_request(self):
        request = self._take()
        while request is not None:
            due = self.own_due(request)
            if due is not None:
                self._hold(request, due)
                request = self._take()
                continue
            wait = self._slot_wait(request, handing=True)
            if wait > 0:
                # Already through the duplicate filter: dont_filter, should it be saved in JOBDIR.
                self.waiting = request if request.dont_filter else request.replace(dont_filter=True)
                self._note_held()
                if wait < math.inf:  # else a download of the slot ends first, and the engine asks again
                    self._wake_in(wait)
                return None
            self.handed[self._slot_key(request)] = slot_clock()
            self.handed_out.add(request)
            return request
        return None

    def may_send(self, request) -> bool:
        """False for a request handed out here that must not go out now: its slot was paused since,
        or the downloader would keep it waiting (it was held up on its way, e.g. by robots.txt)."""
        if request not in self.handed_out:
            return True
        return self.due(request) is None and self._slot_wait(request, handing=False) <= 0

    def has_pending_requests(self) -> bool:
        return super().has_pending_requests() or bool(self.held) or self.waiting is not None

    def __len__(self) -> int:
        return super().__len__() + len(self.held) + (self.waiting is not None)

    def close(self, reason: str):
        for timer in (self.timer, self.wake_timer):
            if timer is not None and timer.active():
                timer.cancel()
        waiting, self.waiting = [r for r in [self.waiting] if r is not None], None
        pending = len(self.held) + len(waiting)
        if pending and self.dqdir:
            # One at a time, dont_filter: straight into the saved queue, the deadline in the request's meta.
            for request in itertools.chain(self.held.drain(), waiting):
                due = self.due(request)
                if due is not None:  # a slot's hold is kept by the request that waited for it
                    request.meta[NOT_BEFORE] = due
                super().enqueue_request(request)
            self.stats.inc_value("mayadeen/scheduler/saved", pending)
            logger.info("%d request(s) waiting for a retry are saved in JOBDIR and resumed by the next run", pending)
        elif pending:
            logger.info("%d request(s) waiting for a retry are dropped with the crawl (no JOBDIR)", pending)
        self.held.close()
        return super().close(reason)

    # --- the bound ------------------------------------------------------------------------------

    @staticmethod
    def _comes_back(request) -> bool:
        """A request taken already (a retry, a held or waiting request, a redirect): not a discovery."""
        return request.dont_filter or bool(request.meta.get("redirect_times"))

    def _drop_over_cap(self, request) -> bool:
        """A discovery while the queue is full: not queued, and not marked as seen either (found again
        once the queue has room, or by a resumed JOBDIR, it is fetched). A duplicate is only a duplicate."""
        if self.crawler.request_fingerprinter.fingerprint(request) in self.filtered:
            self.df.log(request, self.crawler.spider)
            return False
        self.stats.inc_value("mayadeen/capped/queue")
        if not self.capped:
            self.capped = True
            logger.warning(
                "%d requests are queued (MAYADEEN_MAX_QUEUED_REQUESTS): new ones are dropped while it"
                " stays full; the crawl goes on with those it has (first dropped: %s)",
                self.max_queued,
                request.url[:200],
            )
        return False

    # --- holding --------------------------------------------------------------------------------

    def _slot_key(self, request) -> str:
        return self.crawler.engine.downloader.get_slot_key(request)

    def own_due(self, request) -> float | None:
        """When ``request`` may go by its own deadline (``time.time()``), or None when it may go now."""
        return self._cut(request.meta.get(NOT_BEFORE) or 0.0)

    def due(self, request) -> float | None:
        """When ``request`` may go by its deadline and its slot's hold, or None when it may go now."""
        return self._cut(max(request.meta.get(NOT_BEFORE) or 0.0, self.slot_holds.get(self._slot_key(request), 0.0)))

    def _cut(self, due: float) -> float | None:
        now = time.time()
        if due <= now:
            return None
        return min(due, now + self.longest_wait)

    def _take(self):
        """The request to look at next: the one waiting for its slot, else a held one now due, else
        the head of the queue."""
        if self.waiting is not None:
            request, self.waiting = self.waiting, None
            return request
        request = self.held.pop_due(time.time())
        if request is not None:
            self._arm()  # for the next one
            return request
        return super().next_request()

    def _hold(self, request, due: float) -> None:
        if not request.dont_filter:  # it has passed the duplicate filter; it must pass it again
            request = request.replace(dont_filter=True)
        request.meta[NOT_BEFORE] = due  # kept in JOBDIR with the request
        self.held.push(request, time.time())
        self.stats.inc_value("mayadeen/scheduler/held")
        self._note_held()
        self._arm()

    def _note_held(self) -> None:
        self.stats.max_value("mayadeen/scheduler/held/max", self.held.in_memory() + (self.waiting is not None))

    def _arm(self) -> None:
        from twisted.internet import reactor  # the one the crawl installed (importing it earlier installs one)

        if self.held.next_due is None:
            return
        delay = self.held.next_due - time.time()
        if delay <= 0:  # due already: the engine was woken for it (``_release``) or asks at its next turn
            return
        if self.timer is not None and self.timer.active():
            if self.timer.getTime() - reactor.seconds() <= delay:
                return
            self.timer.cancel()
        self.timer = reactor.callLater(delay, self._release)

    def _release(self) -> None:
        """A held request is due: the engine asks for it (``_take``)."""
        self.timer = None
        wake_engine(self.crawler)
        self._arm()

    def _slot_wait(self, request, handing: bool) -> float:
        """Seconds until ``request``'s slot is ready for it (inf: until one of its downloads ends).
        ``handing``: it is about to be handed out (else it was, and is at the downloader's door); a
        request handed out a moment ago may not have reached the slot yet."""
        key = self._slot_key(request)
        held_for = self.slot_holds.get(key, 0.0) - time.time()
        if held_for > 0:
            return held_for
        limit = self.slot_settings.get(key, {}).get("concurrency", self.concurrency)
        others = (r for r in in_downloader(self.crawler) if r is not request)  # request: at the door
        if limit and sum(1 for r in others if self._slot_key(r) == key) >= limit:
            return math.inf
        last = self.arrivals.last.get(key, -math.inf)
        if handing:
            last = max(last, self.handed.get(key, -math.inf))
        wait = max(0.0, last + longest_delay(self.crawler, key) - slot_clock())
        if wait <= 0 and delay_timer_pending(self.crawler, key):  # late under load: it would queue the request
            return TIMER_TURN
        return wait

    def _wake_in(self, seconds: float) -> None:
        from twisted.internet import reactor

        if self.wake_timer is None or not self.wake_timer.active():
            self.wake_timer = reactor.callLater(seconds, self._wake)

    def _wake(self) -> None:
        """The waiting request's slot is ready: the engine asks for it (``_take``)."""
        self.wake_timer = None
        if self.waiting is not None:
            wake_engine(self.crawler)
