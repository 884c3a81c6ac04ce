"""The distributed scheduler: scrapy-redis's scheduler over a leased queue, a shared budget and one crawl.

What it adds to ``scrapy_redis.scheduler.Scheduler`` (whose connection settings, request serialisation
and ``RFPDupeFilter`` fingerprints it uses; ``SCHEDULER_PERSIST`` is always on — a crawl's keys are
cleared by the next crawl, never by a worker closing while others run):

* ``open`` joins the crawl ``<spider>/<crawl_id>`` or starts a new one (``mayadeen.distributed.crawl``).
* ``enqueue_request`` pushes through the duplicate filter in one step (``mayadeen.distributed.queue``);
  a retry or redirect of a leased request takes its lease's place, and a retry's backoff
  (``mayadeen_not_before``, wall-clock) becomes a delay in Redis rather than a wait in a middleware.
* ``next_request`` first has robots.txt fetched (``mayadeen.distributed.robots``), then takes a request
  only when the site's budget grants one. Otherwise it returns nothing and sets a timer for when to
  ask again; Scrapy's engine has no public call to make it ask its scheduler again except
  ``ExecutionEngine.crawl``, so the timer hands it a wake-up request that ``enqueue_request`` swallows.
* ``has_pending_requests`` is true until the crawl has ended: a worker with nothing to do does not go
  idle (and close) while other workers may still queue work.
* a heartbeat renews this worker's leases and budget slots and publishes its counts.
* ``close`` puts the requests this worker did not finish back in the queue (a stop with SIGTERM or
  Ctrl-C), so the others carry on at once instead of after the lease timeout.

Settings: ``MAYADEEN_REDIS_URL``, ``MAYADEEN_REDIS_LEASE_TTL``, ``MAYADEEN_REDIS_POLL_INTERVAL``,
``MAYADEEN_REDIS_RETRY_TIMEOUT``; the budget takes ``DOWNLOAD_DELAY`` and
``CONCURRENT_REQUESTS_PER_DOMAIN`` as the addon saved them (``MAYADEEN_BUDGET_DELAY``,
``MAYADEEN_BUDGET_CONCURRENCY``). Stats: ``mayadeen/redis/taken``, ``mayadeen/redis/acked``,
``mayadeen/redis/released`` (put back at close), ``scheduler/enqueued/redis``, ``scheduler/dequeued/redis``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.exceptions import CloseSpider
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import deferred_from_coro
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.scheduler import Scheduler
from twisted.internet.task import LoopingCall

from mayadeen.distributed.acks import LEASE, AckWhenDone, unwatch_errback, watch_errback
from mayadeen.distributed.budget import SLOT, Budget
from mayadeen.distributed.crawl import Crawl, new_worker_id
from mayadeen.distributed.keys import BudgetKeys, CrawlKeys, crawl_id_of
from mayadeen.distributed.link import DEFAULT_RETRY_TIMEOUT, RedisLink, RedisUnavailable, redacted
from mayadeen.distributed.queue import ENDED, FILTERED, GRANTED, WAIT, LeasedQueue
from mayadeen.distributed.robots import RobotsPrefetch
from mayadeen.record import utc_timestamp
from mayadeen.scheduler import NOT_BEFORE
from mayadeen.urls import PUBLIC_URL

logger = logging.getLogger(__name__)

#: finish_reason of a worker that gave up on Redis.
REDIS_UNAVAILABLE = "redis_unavailable"
#: Request meta key of the scheduler's wake-up requests (never queued, never downloaded).
WAKE = "mayadeen_wake"
DEFAULT_LEASE_TTL = 30.0
DEFAULT_POLL_INTERVAL = 0.2


class DistributedScheduler(Scheduler):
    def __init__(self, crawler, link: RedisLink, *, lease_ttl: float, poll_interval: float):
        super().__init__(server=link.client, persist=True)
        self.crawler = crawler
        self.stats = crawler.stats
        self.link = link
        link.on_give_up = self._give_up
        self.worker = new_worker_id()
        self.lease_ttl = lease_ttl
        self.heartbeat_interval = lease_ttl / 5
        self.poll_interval = poll_interval
        self.held: set[str] = set()  # leases of requests this worker has not finished
        self.over = False  # the crawl has ended (or this worker gave up)
        self.spider = None
        self.opened = False  # until then, giving up on Redis fails the start instead of closing the crawl
        self._timer = None
        self._heartbeat = LoopingCall(self._beat)
        self._acks: AckWhenDone | None = None

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        link = RedisLink(
            settings.get("MAYADEEN_REDIS_URL"),
            retry_timeout=settings.getfloat("MAYADEEN_REDIS_RETRY_TIMEOUT", DEFAULT_RETRY_TIMEOUT),
        )
        scheduler = cls(
            crawler,
            link,
            lease_ttl=settings.getfloat("MAYADEEN_REDIS_LEASE_TTL", DEFAULT_LEASE_TTL),
            poll_interval=settings.getfloat("MAYADEEN_REDIS_POLL_INTERVAL", DEFAULT_POLL_INTERVAL),
        )
        crawler.signals.connect(scheduler.spider_opened, signal=signals.spider_opened)
        return scheduler

    # --- open and close -------------------------------------------------------------------------

    def open(self, spider):
        self.spider = spider
        settings = self.crawler.settings
        keys = CrawlKeys(spider.name, crawl_id_of(spider))
        self.crawl = Crawl(self.link, keys, self.worker, lease_ttl=self.lease_ttl)
        try:
            joined = self.crawl.join()
        except RedisUnavailable:
            return  # reported by the link; spider_opened closes the crawl before any request
        self.df = RFPDupeFilter(self.server, key=keys.dupefilter, debug=settings.getbool("DUPEFILTER_DEBUG"))
        self.queue = LeasedQueue(
            self.server, spider, keys, self.link, worker=self.worker, epoch=joined.epoch, lease_ttl=self.lease_ttl
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
        if self.link.failure:
            return
        try:
            if self.held and not self.over:
                released = self.queue.release(self.held)
                self.stats.set_value("mayadeen/redis/released", released)
                logger.info("Put %d unfinished requests back in the crawl's queue", released)
            self.held.clear()
            self.budget.release_all()
            self.crawl.heartbeat(self._info(reason), alive=False)
        except RedisUnavailable:
            pass

    # --- the queue ------------------------------------------------------------------------------

    def enqueue_request(self, request):
        if request.meta.get(WAKE):
            return True
        unwatch_errback(request)
        replaces = request.meta.pop(LEASE, None)  # a retry or redirect of a leased request
        self.budget.release(request.meta.pop(SLOT, None))
        not_before = request.meta.pop(NOT_BEFORE, None)
        delay = max(0.0, not_before - time.time()) if not_before is not None else 0.0
        fingerprint = "" if request.dont_filter else self.df.request_fingerprint(request)
        try:
            result = self.queue.push(request, fingerprint=fingerprint, delay=delay, replaces=replaces)
        except RedisUnavailable:
            return False
        if replaces:
            self.held.discard(replaces)
        if result == FILTERED:
            self.df.log(request, self.spider)
            return False
        if result == ENDED:
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self):
        if self.over or self.link.failure:
            return None
        try:
            if self.robots.pending:
                return self._robots_request()
            take = self.queue.take(self.budget)
        except RedisUnavailable:
            return None
        if take.kind == GRANTED:
            return self._taken(take)
        if take.kind == ENDED:
            self.over = True
            logger.info("The crawl has ended: nothing queued and no request in flight on any worker")
            return None
        self._ask_again_in(take.wait if take.kind == WAIT and take.wait > 0 else self.poll_interval)
        return None

    def has_pending_requests(self):
        return not self.over and not self.link.failure

    def ack(self, lease: str) -> None:
        """``lease``'s request is finished (``mayadeen.distributed.acks``)."""
        self.budget.release(self.queue.slot_prefix + lease)  # if refused before the downloader
        if lease in self.held:
            self.held.discard(lease)
            if self.link.call_quietly("lease ack", self.queue.ack, lease):
                self.stats.inc_value("mayadeen/redis/acked")

    def _taken(self, take):
        request = take.request
        request.meta[LEASE] = take.lease
        self.budget.taken(request, take.slot)
        self.held.add(take.lease)
        watch_errback(request, self.acks)
        self.stats.inc_value("scheduler/dequeued/redis")
        self.stats.inc_value("mayadeen/redis/taken")
        return request

    def _robots_request(self):
        outcome = self.robots.next_request()
        if isinstance(outcome, float):
            self._ask_again_in(outcome if outcome > 0 else self.poll_interval)
            return None
        return outcome

    @property
    def acks(self) -> AckWhenDone:
        """The spider middleware that tells when a request is finished."""
        if self._acks is None:
            self._acks = next(
                mw for mw in self.crawler.engine.scraper.spidermw.middlewares if isinstance(mw, AckWhenDone)
            )
        return self._acks

    # --- timers ---------------------------------------------------------------------------------

    def _ask_again_in(self, seconds: float) -> None:
        if self._timer is None:
            self._timer = call_later(max(seconds, 0.001), self._wake)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _wake(self) -> None:
        self._timer = None
        if not self.over and self.crawler.engine.spider is not None:
            self.crawler.engine.crawl(Request(PUBLIC_URL + "/", meta={WAKE: True}, dont_filter=True))

    def _beat(self) -> None:
        try:
            self.queue.renew(self.held)
            self.budget.renew()
            self.crawl.heartbeat(self._info("running"))
        except RedisUnavailable:
            pass

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
