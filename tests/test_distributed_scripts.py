"""The Redis side of a distributed crawl, script by script, on a real redis-server: the budget's
next-allowed time and slots, Retry-After for every worker, the leased queue, starting, joining and
seeding a crawl."""

from __future__ import annotations

import time

import pytest
import scrapy
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from mayadeen.commands.crawlstatus import describe
from mayadeen.distributed.budget import SLOT, Budget
from mayadeen.distributed.crawl import JOINED, SEED, SEEDED, WAIT, Crawl, crawl_status
from mayadeen.distributed.keys import BudgetKeys, CrawlKeys
from mayadeen.distributed.link import RedisLink
from mayadeen.distributed.queue import EMPTY, ENDED, FILTERED, GRANTED, QUEUED, LeasedQueue
from tests.distributed import RedisServer, needs_redis
from tests.scheduled import wait_for

pytestmark = needs_redis


@pytest.fixture(scope="module")
def redis_srv(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis")) as srv:
        yield srv


@pytest.fixture
def link(redis_srv):
    redis_srv.client().flushall()
    link = RedisLink(redis_srv.url, retry_timeout=1)
    yield link
    if link.thread is not None:  # started by what a budget sends from the reactor side
        link.thread.stop()


def budget(link, *, delay=0.0, concurrency=0, slot_ttl=30.0) -> Budget:
    return Budget(get_crawler(), link, BudgetKeys("site.test"), delay=delay, concurrency=concurrency, slot_ttl=slot_ttl)


def test_grants_are_at_least_the_delay_apart_on_redis_clock(link):
    workers = [budget(link, delay=0.05) for _ in range(3)]  # three workers asking in turn
    granted = []
    while len(granted) < 12:
        for n, worker in enumerate(workers):
            wait = worker.grant(f"w{n}:{len(granted)}")
            if wait == 0:  # granted at Redis time `next - delay`
                granted.append(float(link.client.get(worker.keys.next)) - 0.05)
            else:
                assert 0 < wait <= 0.05
        time.sleep(0.005)
    gaps = [b - a for a, b in zip(granted, granted[1:])]
    assert min(gaps) >= 0.05 - 1e-6, gaps


def test_slots_cap_concurrency_and_expire(link):
    # Slots that outlive the test's steps however busy the machine (a 0.3 s one could expire between
    # two of them under load and let a refused grant through).
    worker = budget(link, concurrency=2)
    other = budget(link, concurrency=2)
    assert worker.grant("a") == 0 and other.grant("b") == 0
    assert worker.grant("c") == -1  # both slots in use
    worker.held.add("a")  # as the take that granted "a" left it
    worker.request_left_downloader(scrapy.Request("https://site.test/a", meta={SLOT: "a"}), None)
    wait_for(lambda: worker.grant("c") == 0)  # freed in the link's thread (a refused grant changes nothing)
    assert not worker.held
    assert other.grant("d") == -1
    # Slots whose worker died are never released: they expire. Both slots taken by short-lived grants
    # (the long ones above gone), then free again without a release.
    link.client.delete(other.keys.slots)
    dying = budget(link, concurrency=2, slot_ttl=0.3)
    assert dying.grant("x") == 0 and dying.grant("y") == 0
    wait_for(lambda: other.grant("d") == 0)
    wait_for(lambda: other.grant("e") == 0)  # "y" may have been granted (so expire) a moment after "x"


def test_retry_after_seen_by_one_worker_pauses_all(link):
    seen_by, other = budget(link), budget(link)
    seen_by.crawler.stats.open_spider()
    request = scrapy.Request("https://site.test/x")
    seen_by.response_downloaded(
        Response(request.url, status=429, headers={"Retry-After": "2"}, request=request), request, None
    )
    wait_for(lambda: link.client.exists(other.keys.paused))  # set in the link's thread
    assert 1.5 < other.grant("x") <= 2.0
    assert seen_by.crawler.stats.get_value("mayadeen/budget/pauses") == 1


def queue_of(link, worker: str, epoch: str, ttl: float = 30.0) -> LeasedQueue:
    return LeasedQueue(scrapy.Spider(name="t"), CrawlKeys("t", "t"), link, worker=worker, epoch=epoch, lease_ttl=ttl)


def started_crawl(link, worker="w1") -> Crawl:
    crawl = Crawl(link, CrawlKeys("t", "t"), worker, lease_ttl=30)
    assert crawl.join().started
    return crawl


def test_queue_filters_leases_hands_over_and_ends(link):
    crawl = started_crawl(link)
    assert crawl.claim_seeding() == SEED
    queue, site = queue_of(link, "w1", crawl.epoch), budget(link)
    assert queue.push(scrapy.Request("https://site.test/a"), fingerprint="fa") == QUEUED
    assert queue.push(scrapy.Request("https://site.test/a"), fingerprint="fa") == FILTERED
    assert queue.push(scrapy.Request("https://site.test/b", priority=5), fingerprint="fb") == QUEUED
    first = queue.take(site)
    assert (first.kind, first.request.url) == (GRANTED, "https://site.test/b")  # highest priority first
    # A retry of b replaces its lease in one step.
    assert queue.push(scrapy.Request("https://site.test/b", dont_filter=True), replaces=first.lease) == QUEUED
    assert link.client.zcard(queue.keys.leases) == 0
    a, b = queue.take(site), queue.take(site)
    assert {a.request.url, b.request.url} == {"https://site.test/a", "https://site.test/b"}
    assert queue.take(site).kind == EMPTY  # not seeded yet: other work may still come
    crawl.mark_seeded()
    assert queue.take(site).kind == EMPTY  # two requests in flight
    assert queue.ack(a.lease) == 1 and queue.ack(b.lease) == 1
    assert queue.take(site).kind == ENDED
    assert queue.push(scrapy.Request("https://site.test/c"), fingerprint="fc") == ENDED
    # An ended crawl keeps its count of requests seen, not its duplicate filter.
    assert link.client.hget(crawl.keys.state, "seen") == b"2" and not link.client.exists(crawl.keys.dupefilter)


def test_an_expired_lease_goes_to_another_worker(link):
    crawl = started_crawl(link)
    # A lease of 2 s: long enough to be still held at the next call on a busy machine.
    dead, alive = queue_of(link, "dead", crawl.epoch, ttl=2.0), queue_of(link, "alive", crawl.epoch)
    dead.push(scrapy.Request("https://site.test/a"), fingerprint="fa")
    taken = dead.take(budget(link))
    assert alive.take(budget(link)).kind == EMPTY
    deadline = time.monotonic() + 30
    while (again := alive.take(budget(link))).kind == EMPTY and time.monotonic() < deadline:
        time.sleep(0.05)  # until the dead worker's lease expires, on Redis's clock
    assert (again.kind, again.request.url, again.lease) == (GRANTED, "https://site.test/a", taken.lease)
    assert dead.ack(taken.lease) == 0  # too late: the lease is another worker's now
    assert alive.ack(again.lease) == 1


def take_when_expired(queue: LeasedQueue, site: Budget):
    """``queue``'s take once the lease in flight has expired, on Redis's clock (until then: nothing to take)."""
    taken = []
    wait_for(lambda: taken.append(queue.take(site)) or taken[-1].kind != EMPTY, timeout=30)
    return taken[-1]


@pytest.mark.parametrize("most", [2, 0])
def test_a_request_whose_lease_expires_too_often_is_given_up(link, most):
    """Workers that die holding the same request, one after the other (its page kills them): its second
    expiry gives it up (``MAYADEEN_REDIS_MAX_LEASE_EXPIRIES=2``), and the crawl ends; with 0, never."""
    crawl = started_crawl(link)
    assert crawl.claim_seeding() == SEED
    url = "https://site.test/kills-its-worker"
    # Leases of 0.3 s: each dying worker's expires while the next one polls.
    dying = [
        LeasedQueue(
            scrapy.Spider(name="t"),
            crawl.keys,
            link,
            worker=f"d{n}",
            epoch=crawl.epoch,
            lease_ttl=0.3,
            max_expiries=most,
        )
        for n in range(3)
    ]
    assert dying[0].push(scrapy.Request(url), fingerprint="fk") == QUEUED
    crawl.mark_seeded()
    first = dying[0].take(budget(link))
    assert (first.kind, first.request.url, first.given_up) == (GRANTED, url, ())
    again = take_when_expired(dying[1], budget(link))  # expired once: queued again, for another worker
    assert (again.kind, again.request.url, again.given_up) == (GRANTED, url, ())
    last = take_when_expired(dying[2], budget(link))
    status = crawl_status(link.client, crawl.keys)
    assert int(status["expired"]) == 2
    if most:
        assert (last.kind, last.given_up) == (ENDED, (url,))
        assert [entry["url"] for entry in status["given_up"]] == [url]
        assert status["status"] == "ended" and status["queued"] == status["in_flight"] == 0
        assert "given up at " in describe(status) and url in describe(status)
    else:
        assert (last.kind, last.request.url, last.given_up) == (GRANTED, url, ())
        assert status["given_up"] == [] and status["status"] == "running"


def test_delayed_retry_waits_in_redis(link):
    crawl = started_crawl(link)
    queue = queue_of(link, "w1", crawl.epoch)
    queue.push(scrapy.Request("https://site.test/a", dont_filter=True), delay=1.0)
    waiting = queue.take(budget(link))
    assert waiting.kind == "wait" and 0.5 < waiting.wait <= 1.0  # margin for a busy machine
    time.sleep(waiting.wait + 0.01)
    assert queue.take(budget(link)).kind == GRANTED


def test_join_start_and_seeding(link):
    first = started_crawl(link, "w1")
    second = Crawl(link, CrawlKeys("t", "t"), "w2", lease_ttl=0.3)
    assert not second.join().started and second.epoch == first.epoch
    assert first.claim_seeding() == SEED
    assert second.claim_seeding() == WAIT  # the seeder is alive
    time.sleep(0.35)  # ...and then it is not: no heartbeat for a lease's time
    assert second.claim_seeding() == SEED
    second.mark_seeded()
    assert first.claim_seeding() == SEEDED
    queue = queue_of(link, "w2", second.epoch)
    queue.push(scrapy.Request("https://site.test/a"), fingerprint="fa")
    link.client.hset(first.keys.state, "status", "ended")
    # Once ended, a worker that comes later finds it ended: it neither joins nor touches it.
    late = Crawl(link, CrawlKeys("t", "t"), "w3", lease_ttl=30)
    assert late.join().ended and late.epoch == first.epoch
    assert link.client.exists(first.keys.queue, first.keys.dupefilter) == 2
    assert link.client.zscore(first.keys.alive, "w3") is None
    # Started again on purpose: a new epoch, no queue, no filter.
    again = Crawl(link, CrawlKeys("t", "t"), "w4", lease_ttl=30)
    assert again.join(restart=True).started and again.epoch != first.epoch
    assert link.client.exists(first.keys.queue, first.keys.dupefilter, first.keys.data) == 0
    # restart=1 never touches a running crawl: it joins it.
    assert Crawl(link, CrawlKeys("t", "t"), "w5", lease_ttl=30).join(restart=True).how == JOINED


class Spider(scrapy.Spider):
    name = "t"

    def parse_item(self, response, section):
        pass


def test_a_request_comes_back_as_scrapy_serialised_it(link):
    crawl = started_crawl(link)
    spider = Spider()
    queue = LeasedQueue(spider, CrawlKeys("t", "t"), link, worker="w1", epoch=crawl.epoch, lease_ttl=30)
    sent = scrapy.Request(
        "https://site.test/a",
        callback=spider.parse_item,
        cb_kwargs={"section": "news"},
        meta={"origin": ["sitemap", 3]},
        headers={"Referer": "https://site.test/"},
        priority=4,
    )
    queue.push(sent, fingerprint="fa")
    taken = queue.take(budget(link)).request
    assert taken.to_dict(spider=spider) == sent.to_dict(spider=spider)
    assert taken.callback == spider.parse_item


def expire(link, queue: LeasedQueue, lease: str) -> None:
    """Waits until ``lease`` has expired on Redis's clock (the next take moves it)."""

    def expired() -> bool:
        sec, usec = link.client.time()
        return float(link.client.zscore(queue.keys.leases, lease)) < sec + usec / 1e6

    wait_for(expired, timeout=30)


def test_a_request_whose_lease_expired_goes_to_a_worker_holding_nothing(link):
    """After one expiry the request is fetched alone: a worker holding leases is given the next request
    instead, one holding none gets it with ``alone`` (it then takes nothing more)."""
    crawl = started_crawl(link)
    dead, busy, idle = (
        queue_of(link, w, crawl.epoch, ttl=0.3 if w == "dead" else 30) for w in ("dead", "busy", "idle")
    )
    for path, priority in (("a", 3), ("b", 2), ("c", 1)):
        dead.push(scrapy.Request(f"https://site.test/{path}", priority=priority), fingerprint=path)
    first = dead.take(budget(link))
    expire(link, dead, first.lease)
    instead = busy.take(budget(link), held=1)
    assert (instead.request.url, instead.alone) == ("https://site.test/b", False)
    alone = idle.take(budget(link), held=0)
    assert (alone.request.url, alone.lease, alone.alone) == ("https://site.test/a", first.lease, True)
    # Its retry (or redirect) takes its lease's place and keeps its past: fetched alone too.
    retry = scrapy.Request("https://site.test/a", priority=3, dont_filter=True)
    assert idle.push(retry, replaces=alone.lease) == QUEUED
    assert busy.take(budget(link), held=1).request.url == "https://site.test/c"
    again = idle.take(budget(link), held=0)
    assert (again.request.url, again.alone) == ("https://site.test/a", True) and again.lease != alone.lease


def test_a_take_run_again_tells_what_it_gave_up_again(link):
    """A take whose answer was lost is run again with the same nonce: the same grant, and the requests
    it gave up again (the worker hears of them once); an unreadable one is reported as such."""
    crawl = started_crawl(link)
    dead = LeasedQueue(scrapy.Spider(name="t"), crawl.keys, link, worker="dead", epoch=crawl.epoch, lease_ttl=0.3)
    alive = LeasedQueue(
        scrapy.Spider(name="t"), crawl.keys, link, worker="alive", epoch=crawl.epoch, lease_ttl=30, max_expiries=1
    )
    for path, priority in (("a", 3), ("b", 2), ("c", 1)):
        dead.push(scrapy.Request(f"https://site.test/{path}", priority=priority), fingerprint=path)
    a, b = dead.take(budget(link)), dead.take(budget(link))
    link.client.hset(crawl.keys.data, b.lease, b"written by another version")
    expire(link, dead, a.lease)
    expire(link, dead, b.lease)
    first, again = alive.take(budget(link), nonce="n1"), alive.take(budget(link), nonce="n1")
    assert (first.request.url, first.given_up) == ("https://site.test/c", ("https://site.test/a", None))
    assert (again.lease, again.given_up) == (first.lease, first.given_up)
    urls = [entry["url"] for entry in crawl_status(link.client, crawl.keys)["given_up"]]
    assert urls == ["https://site.test/a", f"(request {b.lease}: unreadable here)"]


def test_the_take_that_ends_the_crawl_run_again_tells_what_it_gave_up_again(link):
    crawl = started_crawl(link)
    assert crawl.claim_seeding() == SEED
    dead = LeasedQueue(scrapy.Spider(name="t"), crawl.keys, link, worker="dead", epoch=crawl.epoch, lease_ttl=0.3)
    alive = LeasedQueue(
        scrapy.Spider(name="t"), crawl.keys, link, worker="alive", epoch=crawl.epoch, lease_ttl=30, max_expiries=1
    )
    dead.push(scrapy.Request("https://site.test/a"), fingerprint="a")
    crawl.mark_seeded()
    expire(link, dead, dead.take(budget(link)).lease)
    first, again = alive.take(budget(link), nonce="n1"), alive.take(budget(link), nonce="n1")
    assert (first.kind, first.given_up) == (again.kind, again.given_up) == (ENDED, ("https://site.test/a",))
    assert alive.take(budget(link), nonce="n2").given_up == ()  # another take: told once
