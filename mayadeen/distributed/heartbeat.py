"""The worker's heartbeat, every ``MAYADEEN_REDIS_LEASE_TTL`` / 5 seconds, in the link's thread.

A beat renews the leases and budget slots this worker holds (so that they outlive the TTL while it
works on them), publishes its counts in the crawl's ``workers`` hash (``scrapy crawlstatus``) and reads
the queue's length, which the scheduler's ``__len__`` serves to the progress line. A beat still waiting
for Redis (an outage the link waits out) is not stacked: the next ones are skipped until it is done.
"""

from __future__ import annotations

import os
import socket

from twisted.internet.task import LoopingCall

from mayadeen.record import utc_timestamp


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

    def start(self) -> None:
        self.loop.start(self.scheduler.heartbeat_interval, now=True)

    def stop(self) -> None:
        if self.loop.running:
            self.loop.stop()

    def beat(self) -> None:
        if self.beating:
            return  # the last one still waits for Redis
        self.beating = True
        s = self.scheduler
        info = worker_info(s.stats, "running", len(s.leases))
        beat = s.link.submit(self._in_thread, sorted(s.leases), sorted(s.budget.held), info)
        beat.addCallbacks(self._beaten, self._unbeaten)

    def _in_thread(self, leases: list[str], slots: list[str], info: dict) -> int:
        s = self.scheduler
        s.queue.renew(leases)
        s.budget.renew(slots)
        s.crawl.heartbeat(info)
        return len(s.queue)

    def _beaten(self, queued: int) -> None:
        self.beating = False
        self.queued = queued

    def _unbeaten(self, failure) -> None:
        self.beating = False
        self.scheduler.link.dropped(failure, "heartbeat")
