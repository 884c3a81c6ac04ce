"""The queue of requests by deadline (``mayadeen.due_queue``) on Scrapy's own disk and memory queues:
taken in deadline order, never before the deadline, at most one step after it; kept on disk with a
JOBDIR (none in memory but what cannot be serialised), no file left once empty. A Scrapy upgrade that
stops ordering its priority queue by ``priority()`` fails here."""

from __future__ import annotations

from pathlib import Path

from scrapy import Request, Spider
from scrapy.utils.misc import load_object
from scrapy.utils.test import get_crawler

from mayadeen.due_queue import DUE_STEP, HELD_QUEUE_DIR, NOT_BEFORE, DueQueue

NOW = 1_800_000_000.0
#: Seconds from NOW, each in a step of its own, pushed out of order.
DEADLINES = (3.2, 0.1, 7.9, 1.3, 5.0, 2.7)
BY_DEADLINE = [f"http://site.test/{n}" for n in sorted(range(len(DEADLINES)), key=DEADLINES.__getitem__)]


def due_queue(jobdir: Path | None) -> DueQueue:
    crawler = get_crawler(Spider)
    settings = crawler.settings
    return DueQueue(
        crawler,
        str(jobdir) if jobdir else None,
        load_object(settings["SCHEDULER_DISK_QUEUE"]),
        load_object(settings["SCHEDULER_MEMORY_QUEUE"]),
    )


def retry(n: int, due: float, **meta) -> Request:
    return Request(f"http://site.test/{n}", meta={NOT_BEFORE: due, **meta}, dont_filter=True)


def filled(queue: DueQueue) -> DueQueue:
    for n, seconds in enumerate(DEADLINES):
        queue.push(retry(n, NOW + seconds))
    return queue


def take_all(queue: DueQueue, tick: float = 0.1, start: float = NOW) -> list[tuple[float, Request]]:
    """(time taken, request) for every request, asking every ``tick`` seconds from ``start`` on."""
    taken, now = [], start
    while len(queue):
        now += tick
        while (request := queue.pop_due(now)) is not None:
            taken.append((now, request))
    return taken


def files(jobdir: Path) -> list[Path]:
    return [p for p in (jobdir / HELD_QUEUE_DIR).rglob("*") if p.is_file()]


def test_requests_are_taken_by_deadline_never_before_it_and_wait_on_disk(tmp_path):
    queue = filled(due_queue(tmp_path))
    assert len(queue) == len(DEADLINES) and queue.in_memory() == 0  # all on disk
    assert len(files(tmp_path)) == len(DEADLINES)  # one file per step
    assert queue.pop_due(NOW) is None
    taken = take_all(queue)
    assert [r.url for _, r in taken] == BY_DEADLINE
    for at, request in taken:  # the deadline survived the disk (request_to_dict)
        assert request.meta[NOT_BEFORE] <= at < request.meta[NOT_BEFORE] + DUE_STEP + 0.1 + 1e-6
    assert queue.next_due is None and files(tmp_path) == []  # a step's file goes once it is empty


def test_requests_pushed_between_takes_keep_their_turn(tmp_path):
    # As in a crawl: retries arrive while others are taken (a file read then written must stay whole).
    queue, taken, now = due_queue(tmp_path), [], NOW
    for n in range(40):
        queue.push(retry(n, now + 1.0 + (n * 7 % 5)))  # deadlines 1 to 5 s ahead, out of order
        queue.push(retry(100 + n, now + 0.6, unpicklable=lambda: None) if n % 10 == 0 else retry(100 + n, now + 0.6))
        now += 0.25
        while (request := queue.pop_due(now)) is not None:
            taken.append((now, request))
    taken += take_all(queue, start=now)
    assert len(taken) == 80 and len({r.url for _, r in taken}) == 80
    for at, request in taken:
        assert request.meta[NOT_BEFORE] <= at < request.meta[NOT_BEFORE] + DUE_STEP + 0.25 + 1e-6
    assert files(tmp_path) == []


def test_a_push_into_the_step_being_taken_keeps_its_file_whole(tmp_path):
    # queuelib's LifoDiskQueue.peek leaves its file position mid-file, and a push after it wrote there.
    queue = due_queue(tmp_path)
    for n, seconds in enumerate((0.1, 0.2, 0.6)):
        queue.push(retry(n, NOW + seconds))
    first = queue.pop_due(NOW + 0.5)
    queue.push(retry(3, NOW + 0.3))  # the step just taken from
    rest = [r for _, r in take_all(queue, start=NOW + 0.5)]
    assert sorted(r.url[-1] for r in [first, *rest]) == ["0", "1", "2", "3"]
    assert rest[-1].url[-1] == "2"


def test_a_request_that_cannot_be_serialised_waits_in_memory_in_its_turn(tmp_path):
    queue = due_queue(tmp_path)
    queue.push(retry(0, NOW + 2.2))
    queue.push(retry(1, NOW + 1.1, unpicklable=lambda: None))
    queue.push(retry(2, NOW + 3.3))
    assert queue.in_memory() == 1 and len(queue) == 3
    assert [r.url[-1] for _, r in take_all(queue)] == ["1", "0", "2"]


def test_without_a_jobdir_requests_wait_in_memory_by_deadline():
    queue = filled(due_queue(None))
    assert queue.in_memory() == len(DEADLINES)
    assert [r.url for _, r in take_all(queue)] == BY_DEADLINE


def test_drain_gives_every_request_due_or_not(tmp_path):
    queue = filled(due_queue(tmp_path))
    assert sorted(r.url for r in queue.drain()) == sorted(BY_DEADLINE)
    assert len(queue) == 0 and queue.next_due is None
    queue.close()
    assert files(tmp_path) == []
