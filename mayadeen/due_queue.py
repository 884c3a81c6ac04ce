"""Requests that must not go out before a wall-clock time, kept in the order they fall due: on disk
with a JOBDIR, so that thousands of retries waiting out their backoff take no memory.

A request's deadline is in its meta (``NOT_BEFORE``, ``time.time()``), so it is saved with it. The
requests are kept in Scrapy's priority queues (``scrapy.pqueues.ScrapyPriorityQueue``) whose priority
is the end of the step its deadline falls in (in units of ``DUE_STEP``): the earliest end comes out
first, and a whole step is due once it has ended, so a request is never taken before its deadline.
A step is ``DUE_STEP`` seconds for a wait of up to ``FINE_STEPS`` steps and doubles with the wait
beyond (at most an eighth of it, within the backoff's own ±25 % jitter): the ends of the steps
within 2**k seconds of now are multiples of 2**k/8, so at most about 9 per doubling of the wait are
open at once (about 100 for the 300 s longest wait, 9 more per doubling) instead of one per
``DUE_STEP``. The finest step is short (1/64 s), so that a short wait (a 0.1 s backoff) is not
stretched to a coarse step's end (a half-second step made such a retry wait up to 0.6 s). Which
queue holds the earliest step is counted here (one number per step), so no request is read before
it is taken.

The steps' queues are those of the scheduler (``SCHEDULER_DISK_QUEUE`` in ``JOBDIR/requests.held``,
``SCHEDULER_MEMORY_QUEUE``): a request that cannot be serialised, or any request without a JOBDIR,
waits in memory. One queue (one open file with Scrapy's default disk queue) per step with requests,
removed once empty: a finer step would keep more files open. The directory is empty after a clean
stop (``DueScheduler.close`` moves what waits into Scrapy's queue); after a kill
``mayadeen.extensions.resume`` removes it with Scrapy's state.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path

from scrapy.pqueues import ScrapyPriorityQueue

logger = logging.getLogger(__name__)

#: Request meta: the wall-clock time (``time.time()``) before which the request is not sent.
NOT_BEFORE = "mayadeen_not_before"
#: Seconds of the finest step of deadlines (a power of two: the steps' ends are exact floats).
DUE_STEP = 1 / 64
#: A wait of up to this many finest steps keeps them; a longer one's step is at most 1/FINE_STEPS of it.
FINE_STEPS = 8
#: Request meta: the end of the request's step (in DUE_STEP units), set when it is pushed.
DUE_END = "mayadeen_due_end"
#: The directory in JOBDIR of the requests waiting for their deadline.
HELD_QUEUE_DIR = "requests.held"


def step_end(deadline: float, now: float) -> int:
    """The end (in ``DUE_STEP`` units) of the step ``deadline`` falls in, seen from ``now``: steps of
    ``DUE_STEP`` for a wait of up to ``FINE_STEPS`` of them, else the largest power of two of them
    within 1/``FINE_STEPS`` of the wait."""
    units = 1
    while units * 2 * FINE_STEPS * DUE_STEP <= deadline - now:
        units *= 2
    return math.ceil(deadline / (DUE_STEP * units)) * units


class ByDeadline(ScrapyPriorityQueue):
    """Scrapy's priority queue, by the end of the deadline's step: the lowest comes out first."""

    def priority(self, request) -> int:
        return request.meta[DUE_END]

    def push(self, request) -> None:
        """Scrapy's push, less the empty queue (an open file) it leaves for a step whose first request
        could not be written: no pop would ever close it."""
        try:
            super().push(request)
        except (ValueError, OSError):
            step = self.priority(request)
            queue = self.queues.get(step)
            if queue is not None and not len(queue):
                del self.queues[step]
                queue.close()
            raise


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

    def push(self, request, now: float) -> None:
        """Keeps ``request`` until its ``NOT_BEFORE`` (``now``: ``time.time()``, its step's length)."""
        request.meta[DUE_END] = step_end(request.meta[NOT_BEFORE], now)
        on_disk = len(self.queues) > 1 and self._pushed_to_disk(request)
        if not on_disk:
            self.queues[0].push(request)
        self.steps[request.meta[DUE_END], int(on_disk)] += 1
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
        except OSError as exc:  # no file for its step (too many open, disk full): it waits in memory
            self.stats.inc_value("mayadeen/scheduler/held/disk_errors")
            if self.stats.get_value("mayadeen/scheduler/held/disk_errors") == 1:
                logger.warning("a retry waits in memory: its queue file in JOBDIR could not be written (%s)", exc)
            return False
        return True
