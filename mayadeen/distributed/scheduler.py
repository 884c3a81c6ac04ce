"""The distributed scheduler: Scrapy's ``BaseScheduler`` over a leased queue in Redis, a shared budget
and one crawl.

Why not scrapy-redis: see docs/distributed.md. Requests are fingerprinted by the crawler's
``REQUEST_FINGERPRINTER`` (as in a local run) and serialised with Scrapy's ``Request.to_dict`` and
``request_from_dict`` (``mayadeen.distributed.queue``).

No method here waits for Redis: every Redis call runs in the link's thread (``mayadeen.distributed.link``),
in the order it was sent, and its answer comes back on the reactor.

* ``open`` joins the crawl ``<spider>/<crawl_id>``, starts it if there is none, or finds it ended
  (``mayadeen.distributed.crawl``): then the worker logs so and closes with ``finished`` before any
  request, unless it was started with ``-a restart=1``. While Redis is away the link waits it out,
  until ``MAYADEEN_REDIS_RETRY_TIMEOUT``.
* ``enqueue_request`` sends the push through the duplicate filter (``mayadeen.distributed.queue``) and
  returns True: a request Redis then finds a duplicate is counted (``dupefilter/filtered``) and logged
  when the answer comes (every ``request_scheduled`` handler has run by then either way, and nothing
  listens to ``request_dropped``). A retry or redirect of a leased request takes its lease's place; a
  retry's backoff (``mayadeen_not_before``, wall-clock) becomes a delay in Redis.
* a take moves the leases that expired (their worker killed or lost) back to the queue, or gives
  their requests up after ``MAYADEEN_REDIS_MAX_LEASE_EXPIRIES`` expiries (``_gave_up``).
* ``next_request`` returns nothing while Redis does not answer (``link.away``): a request sent to the
  site then holds a lease and a budget slot nobody can renew; the first heartbeat Redis answers wakes
  the engine. Otherwise it returns the request taken last, if any; else it asks for one — robots.txt first
  (``mayadeen.distributed.robots``), then the head of the queue when the site's budget grants it — and
  returns None. At most one ask is in the link's thread and at most one request waits here, so the
  scheduler never holds more than the downloader asked for. A granted request wakes the engine
  (``mayadeen.scrapy_contact.wake_engine``), which asks again; a wait sets a timer to ask again then;
  the end of the crawl makes ``has_pending_requests`` false.
* the leases a worker holds are capped, and a request fetched alone holds back every other
  (``mayadeen.distributed.held``); the acknowledgement (or retry) that frees the worker wakes the engine.
* ``has_pending_requests`` is true until the crawl has ended: a worker with nothing to do does not go
  idle (and close) while other workers may still queue work.
* a heartbeat (``mayadeen.distributed.heartbeat``) renews this worker's leases and budget slots,
  publishes its counts and reads the queue's length (``__len__``, for the progress line); when no
  renewal has reached Redis for the lease TTL less one beat, it ends the process (exit 1), as a killed
  worker, before another worker can be granted its pages or its budget slots.
* ``close`` sends this worker's last words after everything sent before: the requests it did not finish
  go back in the queue (a stop with SIGTERM or Ctrl-C), so the others carry on at once instead of after
  the lease timeout, and its budget slots are freed. With Redis away they expire instead.

Settings: ``MAYADEEN_REDIS_URL``, ``…_LEASE_TTL``, ``…_POLL_INTERVAL``, ``…_RETRY_TIMEOUT``,
``…_MAX_LEASE_EXPIRIES``, ``DUPEFILTER_DEBUG``; the budget takes ``DOWNLOAD_DELAY`` and
``CONCURRENT_REQUESTS_PER_DOMAIN`` as the addon saved them (``MAYADEEN_BUDGET_DELAY``, ``…_CONCURRENCY``).
Stats ``mayadeen/redis/``: ``taken``, ``acked``, ``released`` (put back at close), ``leases/max`` (most
held at once), ``given_up`` (leases that expired too often, found by this worker's takes); and
``scheduler/enqueued/redis``, ``scheduler/dequeued/redis``, ``dupefilter/filtered``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from functools import partial
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.core.scheduler import BaseScheduler
from scrapy.exceptions import CloseSpider
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future

from mayadeen.distributed.acks import LEASE, AckWhenDone, unwatch_errback, watch_errback
from mayadeen.distributed.budget import SLOT, Budget
from mayadeen.distributed.crawl import Crawl, new_worker_id
from mayadeen.distributed.heartbeat import Heartbeat, worker_info
from mayadeen.distributed.held import HeldLeases
from mayadeen.distributed.keys import BudgetKeys, CrawlKeys, crawl_id_of
from mayadeen.distributed.link import RedisAway, RedisLink, redacted
from mayadeen.distributed.queue import ENDED, FILTERED, GRANTED, QUEUED, WAIT, LeasedQueue, Take
from mayadeen.distributed.robots import RobotsPrefetch
from mayadeen.distributed.timing import DEFAULT_LEASE_TTL, heartbeat_interval, retry_timeout
from mayadeen.extensions.failing_items import item_given_up
from mayadeen.extensions.run_outcome import OPENING_SECONDS
from mayadeen.scheduler import NOT_BEFORE
from mayadeen.scrapy_contact import wake_engine
from mayadeen.urls import PUBLIC_URL, item_kind

logger = logging.getLogger(__name__)

#: finish_reason of a worker that gave up on Redis.
REDIS_UNAVAILABLE = "redis_unavailable"
DEFAULT_POLL_INTERVAL = 0.2
DEFAULT_MAX_LEASE_EXPIRIES = 3


class DistributedScheduler(BaseScheduler):
    def __init__(self, crawler, link: RedisLink, *, lease_ttl: float, poll_interval: float):
        self.crawler = crawler
        self.stats = crawler.stats
        self.link = link
        link.on_give_up = self._give_up
        self.worker = new_worker_id()
        self.lease_ttl = lease_ttl
        self.heartbeat_interval = heartbeat_interval(lease_ttl)
        self.poll_interval = poll_interval
        self.debug_duplicates = crawler.settings.getbool("DUPEFILTER_DEBUG")
        self.leases = HeldLeases()
        self.over = False  # the crawl has ended (or this worker gave up)
        self.spider = None
        self.opened = False  # joined a running crawl; until then, giving up on Redis fails the start
        self.ready: deque = deque()  # the request taken last, until the engine asks for it (one at most)
        self.asking = False  # a take (or robots.txt's grant) is in the link's thread
        self.heartbeat = Heartbeat(self)
        self._timer = None
        self._duplicate_logged = False

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        lease_ttl = settings.getfloat("MAYADEEN_REDIS_LEASE_TTL", DEFAULT_LEASE_TTL)
        link = RedisLink(
            settings.get("MAYADEEN_REDIS_URL"),
            retry_timeout=retry_timeout(settings),
            lease_ttl=lease_ttl,
        )
        scheduler = cls(
            crawler,
            link,
            lease_ttl=lease_ttl,
            poll_interval=settings.getfloat("MAYADEEN_REDIS_POLL_INTERVAL", DEFAULT_POLL_INTERVAL),
        )
        crawler.signals.connect(scheduler.spider_opened, signal=signals.spider_opened)
        return scheduler

    # --- open and close -------------------------------------------------------------------------

    def open(self, spider):
        return deferred_from_coro(self._open(spider))

    async def _open(self, spider) -> None:
        self.spider = spider
        keys = CrawlKeys(spider.name, crawl_id_of(spider))
        self.crawl = Crawl(self.link, keys, self.worker, lease_ttl=self.lease_ttl)
        restart = bool(getattr(spider, "restart", False))
        # Scrapy starts the run's clock once the spider is open, after this join: how long the join waits
        # counts here (what it logs, LogCountToTheEnd counts: it counts from the crawl's start).
        opening = time.monotonic()
        try:
            joined = await maybe_deferred_to_future(self.link.submit(self.crawl.join, restart=restart))
        except RedisAway:
            return  # the link gave up (reported); spider_opened closes the crawl before any request
        finally:
            self.stats.set_value(OPENING_SECONDS, time.monotonic() - opening)
        if joined.ended:
            self.over = True
            logger.info(
                "Crawl %s/%s has ended: this worker has nothing to do (to crawl again: -a restart=1, or a new"
                " -a crawl_id)",
                keys.spider,
                keys.crawl_id,
            )
            return
        settings = self.crawler.settings
        self.queue = LeasedQueue(
            spider,
            keys,
            self.link,
            worker=self.worker,
            epoch=joined.epoch,
            lease_ttl=self.lease_ttl,
            max_expiries=settings.getint("MAYADEEN_REDIS_MAX_LEASE_EXPIRIES", DEFAULT_MAX_LEASE_EXPIRIES),
        )
        public = settings.get("MAYADEEN_PUBLIC_URL") or PUBLIC_URL
        site = urlsplit(getattr(spider, "base_url", None) or settings.get("MAYADEEN_BASE_URL") or public).netloc
        self.budget = Budget(
            self.crawler,
            self.link,
            BudgetKeys(site),
            delay=settings.getfloat("MAYADEEN_BUDGET_DELAY"),
            concurrency=settings.getint("MAYADEEN_BUDGET_CONCURRENCY"),
            slot_ttl=self.lease_ttl,
        )
        self.leases.cap = 2 * (self.budget.concurrency or settings.getint("CONCURRENT_REQUESTS"))
        self.robots = RobotsPrefetch(self.crawler, self.budget, public, slot=f"robots:{self.worker}")
        logger.info(
            "Worker %s %s crawl %s/%s (Redis %s); budget for %s: one request per %.3gs, at most %s at once",
            self.worker,
            "started" if joined.started else "joined",
            keys.spider,
            keys.crawl_id,
            redacted(self.link.url),
            site,
            self.budget.delay,
            self.budget.concurrency or "unlimited",
        )
        self.heartbeat.start()
        self.opened = True

    def spider_opened(self, spider):
        if self.link.failure:  # Redis was unreachable at the start: a failed run, not a crash
            raise CloseSpider(REDIS_UNAVAILABLE)

    def close(self, reason):
        """A Deferred fired once this worker's last words reached Redis (or could not: Redis away)."""
        self.heartbeat.stop()
        self._cancel_timer()
        if not self.opened or self.link.failure:
            return self.link.close()
        info = worker_info(self.stats, reason, len(self.leases))
        held = self.leases.take_all()
        leases = [] if self.over else held  # an ended crawl takes nothing back
        last_words = partial(self._last_words, leases, self.budget.give_back(), info)
        done = self.link.close(last_words)
        done.addCallback(self._released, leases)
        done.addErrback(self.link.dropped, "close")  # what this worker held expires with its leases
        return done

    def _last_words(self, leases: list[str], slots: list[str], info: dict) -> int:
        """In the link's thread, after every write sent before: put ``leases`` back, free ``slots``."""
        released = self.queue.release(leases)
        if slots:
            self.budget.free(slots)
        self.crawl.heartbeat(info, alive=False)
        return released

    def _released(self, released: int, leases: list[str]) -> None:
        if leases:
            self.stats.set_value("mayadeen/redis/released", released)
            logger.info("Put %d unfinished requests back in the crawl's queue", released)

    # --- the queue ------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Requests waiting in the crawl's queue at the last heartbeat (for the progress line)."""
        return self.heartbeat.queued if self.opened and not self.over else 0

    def enqueue_request(self, request) -> bool:
        if self.over:
            return False
        unwatch_errback(request)
        replaces = request.meta.pop(LEASE, None)  # a retry or redirect of a leased request
        self.budget.release(request.meta.pop(SLOT, None))
        not_before = request.meta.pop(NOT_BEFORE, None)
        delay = max(0.0, not_before - time.time()) if not_before is not None else 0.0
        fingerprint = "" if request.dont_filter else self.crawler.request_fingerprinter.fingerprint(request).hex()
        if replaces:
            self._finished(replaces)
        push = partial(self.queue.push, request, fingerprint=fingerprint, delay=delay, replaces=replaces)
        self.link.send("queue push", push, then=partial(self._pushed, request))
        return True  # sent, in order; Redis's duplicate filter answers in _pushed

    def _pushed(self, request, result: str) -> None:
        if result == QUEUED:
            self.stats.inc_value("scheduler/enqueued/redis")
        elif result == FILTERED:
            self._log_duplicate(request)

    def next_request(self):
        if self.link.away:
            return None  # its grant could not be renewed: it waits here (the heartbeat wakes the engine)
        if self.ready:
            return self.ready.popleft()
        self._ask()
        return None

    def has_pending_requests(self) -> bool:
        return not self.over and not self.link.failure

    def ack(self, lease: str) -> None:
        """``lease``'s request is finished (``mayadeen.distributed.acks``)."""
        self.budget.release(self.queue.slot_prefix + lease)  # if refused before the downloader
        if lease in self.leases:
            self._finished(lease)
            self.link.send("lease ack", self.queue.ack, lease, then=self._acked)

    def _finished(self, lease: str) -> None:
        """``lease`` is no longer this worker's: free to take again, the engine asks for more."""
        if self.leases.finish(lease) and self.crawler.engine.spider is not None:
            wake_engine(self.crawler)

    def _acked(self, acked: int) -> None:
        if acked:
            self.stats.inc_value("mayadeen/redis/acked")

    def mark_seeded(self) -> None:
        """The start requests are all queued (sent after them, in order)."""
        self.link.send("crawl seeded", self.crawl.mark_seeded)

    # --- asking for a request -------------------------------------------------------------------

    def _ask(self) -> None:
        """Ask Redis for a request, unless one is asked for or waiting here already (see the module
        docstring); the answer comes back to ``_granted_robots`` or ``_answered``."""
        if self.asking or self.ready or self.over or self.link.failure:
            return
        if self.robots.needed:
            asked = self.link.submit(self.budget.grant, self.robots.slot).addCallback(self._granted_robots)
        elif self.robots.pending:
            return  # robots.txt is on its way: the engine asks again when its download ends
        elif not self.leases.may_take():
            return  # _finished wakes the engine
        else:
            asked = self.link.submit(self.queue.take, self.budget, held=len(self.leases))
            asked.addCallback(self._answered)
        self.asking = True
        asked.addErrback(self._unanswered)

    def _granted_robots(self, wait: float) -> None:
        self.asking = False
        if wait == 0:
            self._hand(self.robots.granted())
        else:
            self._ask_again_in(wait if wait > 0 else self.poll_interval)

    def _answered(self, take: Take) -> None:
        self.asking = False
        for url in take.given_up:
            self._gave_up(url)
        if take.kind == GRANTED:
            self._hand(self._taken(take))
        elif take.kind == ENDED:
            self.over = True
            logger.info("The crawl has ended: nothing queued and no request in flight on any worker")
            if self.crawler.engine.spider is not None:
                wake_engine(self.crawler)  # it finds itself idle, and closes
        else:
            self._ask_again_in(take.wait if take.kind == WAIT and take.wait > 0 else self.poll_interval)

    def _unanswered(self, failure) -> None:
        """The link gave up or is closing (reported), or an error, logged: the engine asks again later."""
        self.asking = False
        self.link.dropped(failure, "queue take")

    def _gave_up(self, url: str) -> None:
        """A request this worker's take found expired once too often: no worker survives fetching it.
        An item page is given up as one that keeps failing is (``item_given_up``: a warning, a count,
        remembered and retried by later runs); any other request gets a warning."""
        self.stats.inc_value("mayadeen/redis/given_up")
        times = f"{self.queue.max_expiries} time{'s' if self.queue.max_expiries > 1 else ''}"
        reason = f"its lease expired {times}: each worker that fetched it was killed or lost"
        if url and item_kind(url):
            self.crawler.signals.send_catch_log(item_given_up, url=url, reason=reason)
        else:
            logger.warning("Gave up on %s (%s)", url or "a request this worker cannot read", reason)

    def _taken(self, take: Take):
        request = take.request
        request.meta[LEASE] = take.lease
        self.budget.taken(request, take.slot)
        self.leases.add(take.lease, take.alone)
        self.stats.max_value("mayadeen/redis/leases/max", len(self.leases))
        watch_errback(request, self.crawler.get_spider_middleware(AckWhenDone))
        self.stats.inc_value("scheduler/dequeued/redis")
        self.stats.inc_value("mayadeen/redis/taken")
        return request

    def _hand(self, request) -> None:
        """Keep ``request`` for the engine's next ask, and make it ask (a request still here at the
        close goes back to the queue with the leases)."""
        self.ready.append(request)
        if self.crawler.engine.spider is not None:
            wake_engine(self.crawler)

    def _log_duplicate(self, request) -> None:
        self.stats.inc_value("dupefilter/filtered")
        if self.debug_duplicates or not self._duplicate_logged:
            self._duplicate_logged = not self.debug_duplicates
            logger.debug(
                "Filtered duplicate request: %s%s",
                request,
                "" if self.debug_duplicates else " - no more duplicates will be shown (see DUPEFILTER_DEBUG)",
            )

    # --- timers ---------------------------------------------------------------------------------

    def _ask_again_in(self, seconds: float) -> None:
        if self._timer is None:
            self._timer = call_later(max(seconds, 0.001), self._wake)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _wake(self) -> None:
        """The time to ask again has come. While the downloader is full the engine asks by itself
        when a download ends."""
        self._timer = None
        engine = self.crawler.engine
        if not self.over and engine.spider is not None and not engine.needs_backout():
            self._ask()

    def _give_up(self, message: str) -> None:
        self.over = True
        if self.opened:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=REDIS_UNAVAILABLE))
