"""The distributed scheduler: Scrapy's ``BaseScheduler`` over a leased queue in Redis, a shared budget
and one crawl.

Why not scrapy-redis: what a crawl needs here — a request leased rather than popped (a killed worker
loses nothing), the politeness budget granted in the same atomic step as the take, a crawl that ends
when nothing is queued or leased on any worker (not after an idle timeout), an ended crawl that stays
ended — is in this package's Lua scripts (``queue``, ``budget``, ``crawl``). scrapy-redis's scheduler,
queue and duplicate filter would only be overridden method by method (they were), its settings read by
nothing, and its own request fingerprint would make a distributed run deduplicate differently from a
local one. So this is Scrapy's scheduler interface implemented directly: requests are fingerprinted by
the crawler's ``REQUEST_FINGERPRINTER`` (``crawler.request_fingerprinter``, as in a local run) and
serialised with Scrapy's ``Request.to_dict`` and ``request_from_dict`` (Scrapy 2.19's successors of
``request_to_dict``; ``mayadeen.distributed.queue``).

* ``open`` joins the crawl ``<spider>/<crawl_id>``, starts it if there is none, or finds it ended
  (``mayadeen.distributed.crawl``): then the worker logs so and closes with ``finished`` before any
  request, unless it was started with ``-a restart=1``. While Redis is away at the start it tries
  again without blocking, until ``MAYADEEN_REDIS_RETRY_TIMEOUT``.
* ``enqueue_request`` pushes through the duplicate filter in one step (``mayadeen.distributed.queue``);
  a retry or redirect of a leased request takes its lease's place, and a retry's backoff
  (``mayadeen_not_before``, wall-clock) becomes a delay in Redis rather than a wait in a middleware.
* ``next_request`` first has robots.txt fetched (``mayadeen.distributed.robots``), then takes a request
  only when the site's budget grants one. Otherwise it returns nothing and sets a timer for when to
  ask again. The engine asks its scheduler again when a download ends, or every 5 s; when the timer
  fires first, the scheduler takes the request itself and hands it to the engine with the public
  ``ExecutionEngine.crawl`` — a real request, taken from the queue, which ``enqueue_request`` keeps for
  the next ``next_request`` instead of pushing it back (on this worker it is then announced by
  ``request_scheduled``; a handler that drops it ends its lease).
* ``has_pending_requests`` is true until the crawl has ended: a worker with nothing to do does not go
  idle (and close) while other workers may still queue work.
* a heartbeat renews this worker's leases and budget slots and publishes its counts.
* while Redis is away (``mayadeen.distributed.link``: no call blocks for long) the writes that must
  reach it — requests to queue, leases to acknowledge, the end of seeding — wait in order in an
  outbox (``mayadeen.distributed.outbox``), sent at the next look at the queue or heartbeat once
  Redis answers.
* ``close`` puts the requests this worker did not finish back in the queue (a stop with SIGTERM or
  Ctrl-C), so the others carry on at once instead of after the lease timeout.

Settings: ``MAYADEEN_REDIS_URL``, ``MAYADEEN_REDIS_LEASE_TTL``, ``MAYADEEN_REDIS_POLL_INTERVAL``,
``MAYADEEN_REDIS_RETRY_TIMEOUT``, ``DUPEFILTER_DEBUG``; the budget takes ``DOWNLOAD_DELAY`` and
``CONCURRENT_REQUESTS_PER_DOMAIN`` as the addon saved them (``MAYADEEN_BUDGET_DELAY``,
``MAYADEEN_BUDGET_CONCURRENCY``). Stats: ``mayadeen/redis/taken``, ``mayadeen/redis/acked``,
``mayadeen/redis/released`` (put back at close), ``scheduler/enqueued/redis``, ``scheduler/dequeued/redis``,
``dupefilter/filtered``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.core.scheduler import BaseScheduler
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.utils.asyncio import call_later, sleep
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from mayadeen.distributed.acks import LEASE, AckWhenDone, unwatch_errback, watch_errback
from mayadeen.distributed.budget import SLOT, Budget
from mayadeen.distributed.crawl import Crawl, new_worker_id
from mayadeen.distributed.keys import BudgetKeys, CrawlKeys, crawl_id_of
from mayadeen.distributed.link import (
    DEFAULT_RETRY_TIMEOUT,
    FIRST_PAUSE,
    LONGEST_PAUSE,
    RedisAway,
    RedisLink,
    RedisUnavailable,
    redacted,
)
from mayadeen.distributed.outbox import Outbox
from mayadeen.distributed.queue import ENDED, FILTERED, GRANTED, WAIT, LeasedQueue
from mayadeen.distributed.robots import RobotsPrefetch
from mayadeen.record import utc_timestamp
from mayadeen.scheduler import NOT_BEFORE
from mayadeen.urls import PUBLIC_URL

logger = logging.getLogger(__name__)

#: finish_reason of a worker that gave up on Redis.
REDIS_UNAVAILABLE = "redis_unavailable"
DEFAULT_LEASE_TTL = 30.0
DEFAULT_POLL_INTERVAL = 0.2


class DistributedScheduler(BaseScheduler):
    def __init__(self, crawler, link: RedisLink, *, lease_ttl: float, poll_interval: float):
        self.crawler = crawler
        self.stats = crawler.stats
        self.link = link
        link.on_give_up = self._give_up
        self.worker = new_worker_id()
        self.lease_ttl = lease_ttl
        self.heartbeat_interval = lease_ttl / 5
        self.poll_interval = poll_interval
        self.debug_duplicates = crawler.settings.getbool("DUPEFILTER_DEBUG")
        self.held: set[str] = set()  # leases of requests this worker has not finished
        self.over = False  # the crawl has ended (or this worker gave up)
        self.spider = None
        self.opened = False  # joined a running crawl; until then, giving up on Redis fails the start
        self.ready: deque = deque()  # taken by the timer, handed in through engine.crawl
        self.outbox = Outbox()  # writes waiting for Redis, in order
        self._handing = None
        self._timer = None
        self._heartbeat = LoopingCall(self._beat)
        self._duplicate_logged = False

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        lease_ttl = settings.getfloat("MAYADEEN_REDIS_LEASE_TTL", DEFAULT_LEASE_TTL)
        link = RedisLink(
            settings.get("MAYADEEN_REDIS_URL"),
            retry_timeout=settings.getfloat("MAYADEEN_REDIS_RETRY_TIMEOUT", DEFAULT_RETRY_TIMEOUT),
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
        pause = FIRST_PAUSE
        while True:
            try:
                joined = self.crawl.join(restart=restart)
                break
            except RedisUnavailable:
                return  # reported by the link; spider_opened closes the crawl before any request
            except RedisAway:
                await sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE)
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
            spider, keys, self.link, worker=self.worker, epoch=joined.epoch, lease_ttl=self.lease_ttl
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
        self._heartbeat.start(self.heartbeat_interval, now=True)
        self.opened = True

    def spider_opened(self, spider):
        if self.link.failure:  # Redis was unreachable at the start: a failed run, not a crash
            raise CloseSpider(REDIS_UNAVAILABLE)

    def close(self, reason):
        if self._heartbeat.running:
            self._heartbeat.stop()
        self._cancel_timer()
        if not self.opened or self.link.failure:
            return
        try:
            self.outbox.flush()
            if self.held and not self.over:
                released = self.queue.release(self.held)
                self.stats.set_value("mayadeen/redis/released", released)
                logger.info("Put %d unfinished requests back in the crawl's queue", released)
            self.held.clear()
            self.budget.release_all()
            self.crawl.heartbeat(self._info(reason), alive=False)
        except RedisAway:
            pass  # what this worker held expires with its leases

    # --- the queue ------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Requests waiting in the crawl's queue (for the progress line)."""
        if not self.opened or self.over:
            return 0
        try:
            return len(self.queue)
        except RedisAway:
            return 0

    def enqueue_request(self, request) -> bool:
        if request is self._handing:  # taken by the timer (_wake): kept for next_request
            self._handing = None
            self.ready.append(request)
            return True
        if self.over:
            return False
        unwatch_errback(request)
        replaces = request.meta.pop(LEASE, None)  # a retry or redirect of a leased request
        self.budget.release(request.meta.pop(SLOT, None))
        not_before = request.meta.pop(NOT_BEFORE, None)
        delay = max(0.0, not_before - time.time()) if not_before is not None else 0.0
        fingerprint = "" if request.dont_filter else self.crawler.request_fingerprinter.fingerprint(request).hex()
        if replaces:
            self.held.discard(replaces)

        def push() -> str:
            result = self.queue.push(request, fingerprint=fingerprint, delay=delay, replaces=replaces)
            if result == FILTERED:
                self._log_duplicate(request)
            return result

        result = self.outbox.send("queue push", push)
        if result in (FILTERED, ENDED):
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        return True  # queued, or waiting in the outbox for Redis

    def next_request(self):
        if self.ready:
            return self.ready.popleft()
        return self._take()

    def has_pending_requests(self) -> bool:
        return not self.over and not self.link.failure

    def ack(self, lease: str) -> None:
        """``lease``'s request is finished (``mayadeen.distributed.acks``)."""
        self.budget.release(self.queue.slot_prefix + lease)  # if refused before the downloader
        if lease in self.held:
            self.held.discard(lease)

            def ack() -> None:
                if self.queue.ack(lease):
                    self.stats.inc_value("mayadeen/redis/acked")

            self.outbox.send("lease ack", ack)

    def mark_seeded(self) -> None:
        """The start requests are all queued (sent after them, in order)."""
        self.outbox.send("crawl seeded", self.crawl.mark_seeded)

    def _take(self):
        """A request the budget grants now, or None (and a timer set for when to ask again)."""
        if self.over or self.link.failure:
            return None
        try:
            self.outbox.flush()
            if self.robots.pending:
                return self._robots_request()
            take = self.queue.take(self.budget)
        except RedisAway:
            self._ask_again_in(self.poll_interval)
            return None
        if take.kind == GRANTED:
            return self._taken(take)
        if take.kind == ENDED:
            self.over = True
            logger.info("The crawl has ended: nothing queued and no request in flight on any worker")
            return None
        self._ask_again_in(take.wait if take.kind == WAIT and take.wait > 0 else self.poll_interval)
        return None

    def _taken(self, take):
        request = take.request
        request.meta[LEASE] = take.lease
        self.budget.taken(request, take.slot)
        self.held.add(take.lease)
        watch_errback(request, self.crawler.get_spider_middleware(AckWhenDone))
        self.stats.inc_value("scheduler/dequeued/redis")
        self.stats.inc_value("mayadeen/redis/taken")
        return request

    def _robots_request(self):
        outcome = self.robots.next_request()
        if isinstance(outcome, float):
            self._ask_again_in(outcome if outcome > 0 else self.poll_interval)
            return None
        return outcome

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
        """The time to ask again has come: take a request and hand it to the engine (see the module
        docstring). While the downloader is full the engine asks by itself when a download ends."""
        self._timer = None
        engine = self.crawler.engine
        if self.over or engine.spider is None or engine.needs_backout():
            return
        request = self._take()
        if request is None:
            return
        self._handing = request
        engine.crawl(request)
        if self._handing is request:  # a request_scheduled handler dropped it
            self._handing = None
            self._dropped(request)

    def _dropped(self, request) -> None:
        lease = request.meta.get(LEASE)
        if lease is not None:
            self.ack(lease)
        else:  # robots.txt
            self.robots.failed(Failure(IgnoreRequest("dropped as it was scheduled")))

    def _beat(self) -> None:
        try:
            self.outbox.flush()
            self.queue.renew(self.held)
            self.budget.renew()
            self.crawl.heartbeat(self._info("running"))
        except RedisAway:
            pass  # the next beat tries again; leases live MAYADEEN_REDIS_LEASE_TTL

    def _info(self, state: str) -> dict:
        stats = self.stats.get_stats()
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "state": state,
            "updated_at": utc_timestamp(),
            "requests": stats.get("downloader/request_count", 0),
            "items": stats.get("item_scraped_count", 0),
            "taken": stats.get("mayadeen/redis/taken", 0),
            "in_flight": len(self.held),
        }

    def _give_up(self, message: str) -> None:
        self.over = True
        if self.opened:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=REDIS_UNAVAILABLE))
