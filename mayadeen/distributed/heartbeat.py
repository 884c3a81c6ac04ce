"""The worker's heartbeat, every ``MAYADEEN_REDIS_LEASE_TTL`` / 5 seconds, in the link's thread.

A beat renews the leases and budget slots this worker holds (so that they outlive the TTL while it
works on them), publishes its counts in the crawl's ``workers`` hash (``scrapy crawlstatus``) and reads
the queue's length, which the scheduler's ``__len__`` serves to the progress line. A beat still waiting
for Redis (an outage the link waits out) is not stacked: the next ones are skipped until it is done.
A beat Redis answered after an outage wakes the engine, which asks for the request held meanwhile.

**The backstop.** What a beat renews expires by Redis's clock ``ttl`` seconds after the renewal, that
is after the beat started. While Redis is away nothing renews it, and the worker cannot tell whether
another worker has been granted its pages and budget slots since. So a timer (a thread of its own: it
fires whatever the reactor does) ends the process one heartbeat interval before the last beat's
renewals can expire, if no later beat got through and the worker holds leases or slots: one ERROR line,
exit status 1, its requests in flight cut by the process's end, its leases left to expire — a killed
worker, whose cost the at-least-once bound covers. The link's retry window ends before the backstop
(``mayadeen.distributed.timing``; the preflight refuses a longer one), so the backstop only fires when
the graceful stop that follows the link's giving up is too slow (downloads still in flight).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from twisted.internet.task import LoopingCall

from mayadeen.distributed.link import redacted
from mayadeen.record import utc_timestamp
from mayadeen.scrapy_contact import wake_engine

logger = logging.getLogger(__name__)


def worker_info(stats, state: str, in_flight: int) -> dict:
    """What the crawl's ``workers`` hash shows of this worker."""
    values = stats.get_stats()
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "state": state,
        "updated_at": utc_timestamp(),
        "requests": values.get("downloader/request_count", 0),
        "items": values.get("item_scraped_count", 0),
        "taken": values.get("mayadeen/redis/taken", 0),
        "in_flight": in_flight,
    }


class Heartbeat:
    """The heartbeat of ``scheduler`` (a ``DistributedScheduler`` that has joined its crawl)."""

    def __init__(self, scheduler):
        self.scheduler = scheduler
        self.beating = False  # a beat is in the link's thread
        self.queued = 0  # the queue's length at the last beat
        self.loop = LoopingCall(self.beat)
        self.backstop: threading.Timer | None = None  # armed by each beat Redis answered

    def start(self) -> None:
        self.loop.start(self.scheduler.heartbeat_interval, now=True)

    def stop(self) -> None:
        if self.loop.running:
            self.loop.stop()
        if self.backstop is not None:
            self.backstop.cancel()

    def beat(self) -> None:
        if self.beating:
            return  # the last one still waits for Redis
        self.beating = True
        s = self.scheduler
        info = worker_info(s.stats, "running", len(s.leases))
        beat = s.link.submit(self._in_thread, sorted(s.leases.ids), sorted(s.budget.held), info)
        beat.addCallbacks(self._beaten, self._unbeaten)

    def _in_thread(self, leases: list[str], slots: list[str], info: dict) -> tuple[int, float]:
        s = self.scheduler
        started = time.monotonic()  # what this beat renews expires ttl after this, at the earliest
        s.queue.renew(leases)
        s.budget.renew(slots)
        s.crawl.heartbeat(info)
        return len(s.queue), started

    def _beaten(self, answer: tuple[int, float]) -> None:
        self.beating = False
        self.queued, started = answer
        s = self.scheduler
        if not self.loop.running:
            return  # stopped meanwhile: nothing to guard
        if self.backstop is not None:
            self.backstop.cancel()
        fire_in = started + s.lease_ttl - s.heartbeat_interval - time.monotonic()
        self.backstop = threading.Timer(max(fire_in, 0.0), self._expiring)
        self.backstop.daemon = True
        self.backstop.start()
        if s.ready and s.crawler.engine.spider is not None:
            wake_engine(s.crawler)  # a request held while Redis was away

    def _expiring(self) -> None:
        """In the backstop's thread: no renewal for the TTL less one beat. A worker holding leases or
        budget slots ends as a killed one would."""
        s = self.scheduler
        if not (s.leases or s.budget.held):
            return
        logger.error(
            "No lease renewal reached Redis at %s for %gs: this worker's leases and budget slots expire;"
            " exiting (status 1) with %d requests unfinished, which other workers fetch again",
            redacted(s.link.url),
            s.lease_ttl - s.heartbeat_interval,
            len(s.leases),
        )
        logging.shutdown()  # flushes the log before the process ends
        os._exit(1)

    def _unbeaten(self, failure) -> None:
        self.beating = False
        self.scheduler.link.dropped(failure, "heartbeat")
