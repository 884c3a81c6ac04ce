"""Requests that must not go out before a wall-clock time, kept in the order they fall due: on disk
with a JOBDIR, so that thousands of retries waiting out their backoff take no memory.

A request's deadline is in its meta (``NOT_BEFORE``, ``time.time()``), so it is saved with it. The
requests are kept in Scrapy's priority queues (``scrapy.pqueues.ScrapyPriorityQueue``) whose priority
is the step of ``DUE_STEP`` seconds the deadline falls in: the lowest step comes out first, and a
whole step is due once it has ended, so a request is taken at most ``DUE_STEP`` after its deadline,
never before. Which queue holds the earliest step is counted here (one number per step), so no
request is read before it is taken.

The steps' queues are those of the scheduler (``SCHEDULER_DISK_QUEUE`` in ``JOBDIR/requests.held``,
``SCHEDULER_MEMORY_QUEUE``): a request that cannot be serialised, or any request without a JOBDIR,
waits in memory. One queue (one open file with Scrapy's default disk queue) per step with requests,
removed once empty: a finer step would keep more files open. The directory is empty after a clean
stop (``DueScheduler.close`` moves what waits into Scrapy's queue); after a kill
``mayadeen.extensions.resume`` removes it with Scrapy's state.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from scrapy.pqueues import ScrapyPriorityQueue

#: Request meta: the wall-clock time (``time.time()``) before which the request is not sent.
NOT_BEFORE = "mayadeen_not_before"
#: Seconds of one step of deadlines (a power of two: the steps' ends are exact floats).
DUE_STEP = 0.5
#: The directory in JOBDIR of the requests waiting for their deadline.
HELD_QUEUE_DIR = "requests.held"


def deadline_step(request) -> int:
    """The step ``request``'s deadline falls in; it is taken once the step has ended."""
    return math.ceil(request.meta[NOT_BEFORE] / DUE_STEP)


class ByDeadline(ScrapyPriorityQueue):
    """Scrapy's priority queue, by deadline: the lowest priority comes out first."""

    def priority(self, request) -> int:
        return deadline_step(request)


class DueQueue:
    def __init__(self, crawler, jobdir: str | None, dqclass, mqclass):
        self.stats = crawler.stats
        self.queues = (ByDeadline(crawler, mqclass, ""),)  # memory first, then disk
        if jobdir:
            self.queues += (ByDeadline(crawler, dqclass, str(Path(jobdir, HELD_QUEUE_DIR))),)
        # (step, queue index) -> requests: which queue holds the earliest step, without reading it
        # (queuelib's LifoDiskQueue.peek moves the file position, and a push after it writes there).
        self.steps: Counter[tuple[int, int]] = Counter()
        self.next_due: float | None = None  # when the earliest request is taken (its step's end); None: empty

    def __len__(self) -> int:
        return self.steps.total()

    def in_memory(self) -> int:
        return len(self.queues[0])

    def push(self, request) -> None:
        """Keeps ``request`` until its ``NOT_BEFORE``."""
        on_disk = len(self.queues) > 1 and self._pushed_to_disk(request)
        if not on_disk:
            self.queues[0].push(request)
        self.steps[deadline_step(request), int(on_disk)] += 1
        self._note_next()

    def pop_due(self, now: float):
        """The earliest request whose step has ended by ``now``, or None."""
        if self.next_due is None or self.next_due > now:
            return None
        key = min(self.steps)
        request = self.queues[key[1]].pop()  # its lowest priority: that step
        self.steps[key] -= 1
        if not self.steps[key]:
            del self.steps[key]
        self._note_next()
        return request

    def drain(self):
        """Every request, due or not (the crawl stops): taken one at a time."""
        for queue in self.queues:
            while (request := queue.pop()) is not None:
                yield request
        self.steps.clear()
        self.next_due = None

    def close(self) -> None:
        for queue in self.queues:
            queue.close()

    def _note_next(self) -> None:
        self.next_due = min(self.steps)[0] * DUE_STEP if self.steps else None

    def _pushed_to_disk(self, request) -> bool:
        try:
            self.queues[1].push(request)
        except ValueError:  # not serialisable (as Scrapy's scheduler counts it): it waits in memory
            self.stats.inc_value("scheduler/unserializable")
            return False
        return True
