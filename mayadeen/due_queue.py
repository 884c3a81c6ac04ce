"""Requests that must not go out before a wall-clock time, kept in the order they fall due: on disk
with a JOBDIR, so that thousands of retries waiting out their backoff take no memory.

A request's deadline is in its meta (``NOT_BEFORE``, ``time.time()``), so it is saved with it. The
requests are kept in Scrapy's priority queues (``scrapy.pqueues.ScrapyPriorityQueue``) whose priority
is the step of ``DUE_STEP`` seconds the deadline falls in: the lowest step comes out first, and a
whole step is due once it has ended, so a request is taken at most ``DUE_STEP`` after its deadline,
never before. Only the heads are looked at (``peek``) when one is taken; the rest stays where it is.

The steps' queues are those of the scheduler (``SCHEDULER_DISK_QUEUE`` in ``JOBDIR/requests.held``,
``SCHEDULER_MEMORY_QUEUE``): a request that cannot be serialised, or any request without a JOBDIR,
waits in memory. One queue (one open file) per step with requests; a step's file is removed once it
is empty.
"""

from __future__ import annotations

import math
from pathlib import Path

from scrapy.pqueues import ScrapyPriorityQueue

#: Request meta: the wall-clock time (``time.time()``) before which the request is not sent.
NOT_BEFORE = "mayadeen_not_before"
#: Seconds of one step of deadlines (a power of two: the steps' ends are exact floats).
DUE_STEP = 0.5
#: The directory in JOBDIR of the requests waiting for their deadline.
HELD_QUEUE_DIR = "requests.held"


def step_end(request) -> float:
    """The end of the step ``request``'s deadline falls in: when it is taken."""
    return math.ceil(request.meta[NOT_BEFORE] / DUE_STEP) * DUE_STEP


class ByDeadline(ScrapyPriorityQueue):
    """Scrapy's priority queue, by deadline: the lowest priority comes out first."""

    def priority(self, request) -> int:
        return math.ceil(request.meta[NOT_BEFORE] / DUE_STEP)


class DueQueue:
    def __init__(self, crawler, jobdir: str | None, dqclass, mqclass):
        self.stats = crawler.stats
        self.memory = ByDeadline(crawler, mqclass, "")
        self.disk = ByDeadline(crawler, dqclass, str(Path(jobdir, HELD_QUEUE_DIR))) if jobdir else None
        self.next_due: float | None = None  # when the head is taken (the end of its step); None: empty

    def __len__(self) -> int:
        return len(self.memory) + (len(self.disk) if self.disk is not None else 0)

    def in_memory(self) -> int:
        return len(self.memory)

    def push(self, request) -> None:
        """Keeps ``request`` until its ``NOT_BEFORE``."""
        if self.disk is None or not self._pushed_to_disk(request):
            self.memory.push(request)
        due = step_end(request)
        self.next_due = due if self.next_due is None else min(self.next_due, due)

    def pop_due(self, now: float):
        """A request whose step has ended by ``now`` (the earliest), or None."""
        if self.next_due is None or self.next_due > now:
            return None
        queue = min(self._heads())[2]
        request = queue.pop()
        heads = self._heads()
        self.next_due = min(heads)[0] if heads else None
        return request

    def drain(self):
        """Every request, due or not (the crawl stops): taken one at a time."""
        for queue in (self.memory, self.disk):
            while queue is not None and (request := queue.pop()) is not None:
                yield request
        self.next_due = None

    def close(self) -> None:
        for queue in (self.memory, self.disk):
            if queue is not None:
                queue.close()

    def _pushed_to_disk(self, request) -> bool:
        try:
            self.disk.push(request)
        except ValueError:  # not serialisable (as Scrapy's scheduler counts it): it waits in memory
            self.stats.inc_value("scheduler/unserializable")
            return False
        return True

    def _heads(self) -> list[tuple[float, int, ByDeadline]]:
        """(step end, tie-break, queue) of each queue holding requests."""
        return [
            (step_end(head), n, queue)
            for n, queue in enumerate((self.memory, self.disk))
            if queue is not None and (head := queue.peek()) is not None
        ]
