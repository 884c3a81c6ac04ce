"""The queue of requests by deadline (``mayadeen.due_queue``) on Scrapy's own disk and memory queues:
taken in deadline order, never before the deadline, at most one step after it (1/64 s, or an eighth
of a longer wait); kept on disk with a JOBDIR (none in memory but what cannot be serialised),
no file left once empty. A Scrapy upgrade that stops ordering its priority queue by ``priority()``
fails here."""

from __future__ import annotations

import random
from pathlib import Path

from scrapy import Request, Spider
from scrapy.utils.misc import load_object
from scrapy.utils.test import get_crawler

from mayadeen.due_queue import DUE_STEP, FINE_STEPS, HELD_QUEUE_DIR, NOT_BEFORE, DueQueue, step_end

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
        queue.push(retry(n, NOW + seconds), NOW)
    return queue


def take_all(queue: DueQueue, tick: float = 0.1, start: float = NOW) -> list[tuple[float, Request]]:
    """(time taken, request) for every request, asking every ``tick`` seconds from ``start`` on."""
    taken, now = [], start
    while len(queue):
        now += tick
        while (request := queue.pop_due(now)) is not None:
            taken.append((now, request))
    return taken


def step(wait: float) -> float:
    """The longest a request pushed ``wait`` seconds before its deadline may be taken after it."""
    return max(DUE_STEP, wait / FINE_STEPS)


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
        due = request.meta[NOT_BEFORE]
        assert due <= at < due + step(due - NOW) + 0.1 + 1e-6
    assert queue.next_due is None and files(tmp_path) == []  # a step's file goes once it is empty


def test_a_short_wait_goes_out_within_an_eighth_of_it():
    # A 0.1 s backoff (as in fast tests, or a short Retry-After) is not stretched to a coarse step's end.
    for n, wait in enumerate((0.1, 0.3, 1.0, 2.5)):
        queue = due_queue(None)
        queue.push(retry(n, NOW + wait), NOW)
        assert queue.pop_due(NOW + wait - 1e-3) is None
        assert queue.pop_due(NOW + wait + max(1 / 64, wait / FINE_STEPS)) is not None, wait


def test_requests_pushed_between_takes_keep_their_turn(tmp_path):
    # As in a crawl: retries arrive while others are taken (a file read then written must stay whole).
    queue, taken, now, pushed = due_queue(tmp_path), [], NOW, {}
    for n in range(40):
        queue.push(retry(n, now + 1.0 + (n * 7 % 5)), now)  # deadlines 1 to 5 s ahead, out of order
        pushed[n] = pushed[100 + n] = now
        queue.push(
            retry(100 + n, now + 0.6, unpicklable=lambda: None) if n % 10 == 0 else retry(100 + n, now + 0.6), now
        )
        now += 0.25
        while (request := queue.pop_due(now)) is not None:
            taken.append((now, request))
    taken += take_all(queue, start=now)
    assert len(taken) == 80 and len({r.url for _, r in taken}) == 80
    for at, request in taken:
        due = request.meta[NOT_BEFORE]
        assert due <= at < due + step(due - pushed[int(request.url.rsplit("/", 1)[1])]) + 0.25 + 1e-6
    assert files(tmp_path) == []


def test_a_push_into_the_step_being_taken_keeps_its_file_whole(tmp_path):
    # queuelib's LifoDiskQueue.peek leaves its file position mid-file, and a push after it wrote there.
    queue = due_queue(tmp_path)
    for n, seconds in enumerate((0.1, 0.2, 0.6)):
        queue.push(retry(n, NOW + seconds), NOW)
    first = queue.pop_due(NOW + 0.5)
    queue.push(retry(3, NOW + 0.3), NOW + 0.5)  # the step just taken from
    rest = [r for _, r in take_all(queue, start=NOW + 0.5)]
    assert sorted(r.url[-1] for r in [first, *rest]) == ["0", "1", "2", "3"]
    assert rest[-1].url[-1] == "2"


def test_a_request_that_cannot_be_serialised_waits_in_memory_in_its_turn(tmp_path):
    queue = due_queue(tmp_path)
    queue.push(retry(0, NOW + 2.2), NOW)
    queue.push(retry(1, NOW + 1.1, unpicklable=lambda: None), NOW)
    queue.push(retry(2, NOW + 3.3), NOW)
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


def test_thousands_of_retries_over_ten_minutes_keep_few_files_open_and_go_late_by_an_eighth(tmp_path):
    """One queue (one open file) per step: steps that grow with the wait keep them to about 9 per
    doubling of it; a half-second step each was 982 open files for these 2,000 retries."""
    queue, pushed, rng = due_queue(tmp_path), {}, random.Random(7)
    for n in range(2000):
        wait = rng.uniform(0, 600)
        queue.push(retry(n, NOW + wait), NOW)
        pushed[f"http://site.test/{n}"] = wait
    assert len(files(tmp_path)) <= 80, len(files(tmp_path))
    taken = take_all(queue, tick=0.25)
    assert len(taken) == 2000 and [at for at, _ in taken] == sorted(at for at, _ in taken)
    for at, request in taken:
        late = at - request.meta[NOT_BEFORE]
        assert 0 <= late < step(pushed[request.url]) + 0.25 + 1e-6, (request.url, late)
    assert files(tmp_path) == []


def test_a_step_whose_file_cannot_be_made_waits_in_memory_in_its_turn(tmp_path, caplog):
    """No file for its step (too many open files, a full disk; here a directory in its place): the
    request waits in memory, with one WARNING and a stat, and the others stay on disk."""
    queue = due_queue(tmp_path)
    (tmp_path / HELD_QUEUE_DIR / str(step_end(NOW + 1.1, NOW))).mkdir(parents=True)
    for n, seconds in ((0, 2.2), (1, 1.1), (2, 3.3)):
        queue.push(retry(n, NOW + seconds), NOW)
    assert queue.in_memory() == 1 and len(queue) == 3
    assert queue.stats.get_value("mayadeen/scheduler/held/disk_errors") == 1
    assert "could not be written" in caplog.text
    assert [r.url[-1] for _, r in take_all(queue)] == ["1", "0", "2"]
