"""A page whose lease keeps expiring (each worker that fetched it was killed) is fetched alone, then given
up, and the crawl ends without it: a real redis-server, the real engine in process.

Redis is left as killed workers leave it: a request leased by a worker that never renews its lease. The
worker crawling here finds that lease expired at its first take, once more than
``MAYADEEN_REDIS_MAX_LEASE_EXPIRIES`` (1 here) allows: it gives the page up as a failing item (a
warning, ``mayadeen/given_up``, the store's ``failing_items``) and crawls the rest of the site. Counting
expiries up to the limit is the Lua script's, shown in ``test_distributed_scripts``.
"""

from __future__ import annotations

import sqlite3
import time
from urllib.parse import urlsplit

import pytest
import scrapy
from scrapy.utils.request import fingerprint
from scrapy.utils.test import get_crawler

from mayadeen.distributed.budget import Budget
from mayadeen.distributed.crawl import Crawl, crawl_status
from mayadeen.distributed.keys import BudgetKeys, CrawlKeys
from mayadeen.distributed.link import RedisLink
from mayadeen.distributed.queue import GRANTED, QUEUED, LeasedQueue
from mayadeen.spiders.sitemap import SitemapSpider
from mayadeen.store import failing
from mayadeen.store.sqlite import ArticleStore
from tests import inprocess
from tests.conftest import expected_records
from tests.distributed import MeteredServer, RedisServer, finish, log_of, needs_redis, start_worker, stat, stores
from tests.scheduled import wait_for

pytestmark = [needs_redis, pytest.mark.timeout(300)]

POISON = sorted(expected_records())[0]


def leased_by_a_dead_worker(redis_url: str, keys: CrawlKeys) -> None:
    """Starts the crawl as a worker would, queues ``POISON`` with the fingerprint the crawl gives it, and
    leases it for 0.3 s to a worker that then says nothing more (SIGKILLed)."""
    link = RedisLink(redis_url, retry_timeout=1)
    try:
        crawl = Crawl(link, keys, "dead", lease_ttl=0.3)
        assert crawl.join().started
        spider = SitemapSpider()  # the request as the sitemap spider makes it: its callbacks by name
        queue = LeasedQueue(spider, keys, link, worker="dead", epoch=crawl.epoch, lease_ttl=0.3)
        request = scrapy.Request(POISON, callback=spider.parse_item, errback=spider.item_failed)
        assert queue.push(request, fingerprint=fingerprint(request).hex()) == QUEUED
        site = Budget(get_crawler(), link, BudgetKeys("unused.test"), delay=0.0, concurrency=0, slot_ttl=0.3)
        assert queue.take(site).kind == GRANTED
    finally:
        if link.thread is not None:
            link.thread.stop()


#: A worker's settings here: short polls and lease (the test waits on them), no WARC.
WORKER = {
    "MAYADEEN_WARC_DIR": "",
    "MAYADEEN_REDIS_POLL_INTERVAL": "0.05",
    "MAYADEEN_REDIS_LEASE_TTL": "2",
    "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",
}


def crawl_after_a_dead_worker(tmp_path, srv, **settings):
    """The sitemap crawl ``leased_by_a_dead_worker`` left, crawled by one worker in this process, against
    ``srv``; the worker's result and the crawl's status in Redis at the end."""
    keys = CrawlKeys("sitemap", "sitemap")
    with RedisServer(tmp_path / "redis") as redis_srv:
        leased_by_a_dead_worker(redis_srv.url, keys)
        result = inprocess.crawl(
            "sitemap",
            srv.url,
            tmp_path / "worker",
            args={"js": "0"},
            settings={**WORKER, **settings, "MAYADEEN_REDIS_URL": redis_srv.url},
            timeout=90,
            check=False,
        )
        return result, crawl_status(redis_srv.client(), keys)


def test_a_page_whose_lease_keeps_expiring_is_given_up_and_the_crawl_ends(tmp_path):
    workdir = tmp_path / "worker"
    with MeteredServer() as srv:
        result, status = crawl_after_a_dead_worker(tmp_path, srv, MAYADEEN_REDIS_MAX_LEASE_EXPIRIES="1")
        fetched = {urlsplit(path).path for path in srv.paths()}
    log = result.log
    assert f"Gave up on {POISON} (its lease expired 1 time: each worker that fetched it was killed or lost)" in log
    assert result.stat("mayadeen/redis/given_up") == 1 and result.stat("mayadeen/given_up") == 1
    assert result.stats.get("finish_reason") == "finished"  # one page given up is a warning, not a failed run
    assert urlsplit(POISON).path not in fetched  # given up before any fetch: it would kill this worker too
    assert (status["status"], status["queued"], status["in_flight"]) == ("ended", 0, 0)
    assert [entry["url"] for entry in status["given_up"]] == [POISON]
    assert set(stores([workdir])[0]) == set(expected_records()) - {POISON}  # the rest of the site crawled
    with ArticleStore(workdir / "mayadeen.sqlite") as store:  # remembered: later runs retry it
        assert [row[0] for row in failing.failing(store)] == [POISON]


class TimedServer(MeteredServer):
    """Records when each request arrived and when its answer was written; ``POISON``'s answer is slow."""

    def __init__(self):
        super().__init__()
        self.spans: list[tuple[str, float, float]] = []

    def handle(self, handler, answer) -> None:
        start = time.monotonic()
        if handler.path == urlsplit(POISON).path:
            time.sleep(0.5)  # long enough for the worker to take more, were it allowed to
        super().handle(handler, answer)
        self.spans.append((handler.path, start, time.monotonic()))


def test_a_page_whose_lease_expired_is_fetched_alone(tmp_path):
    """One expiry (``MAYADEEN_REDIS_MAX_LEASE_EXPIRIES`` 3): the worker gets the page only while it holds
    no other lease, and takes nothing more until it is done with it: no request is open beside it (were
    it to kill this worker too, nothing else would be counted with it). Then it is stored as usual."""
    with TimedServer() as srv:
        result, _ = crawl_after_a_dead_worker(tmp_path, srv)
    assert result.returncode == 0, result.log[-3000:]
    poison = [(start, end) for path, start, end in srv.spans if path == urlsplit(POISON).path]
    assert len(poison) == 1
    start, end = poison[0]
    beside = [path for path, s, e in srv.spans if path != urlsplit(POISON).path and s < end and e > start]
    assert beside == [] and result.stat("mayadeen/redis/given_up") is None
    assert set(stores([tmp_path / "worker"])[0]) == set(expected_records())


def test_a_worker_that_does_not_seed_asks_again_for_its_own_failing_items(tmp_path):
    """Each worker with a store of its own: only the second one, which joins a crawl the first one
    seeded, has the item as failing; it asks for it, though only the seeder makes the start requests."""
    item = "https://english.almayadeen.net/news/sports/saudi-arabia-confirmed-as-host-of-2034-fifa-world-cup"
    seeder, joiner = tmp_path / "seeder", tmp_path / "joiner"
    keys = CrawlKeys("sitemap", "sitemap")
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        for workdir in (seeder, joiner):  # an earlier crawl each: every month read, every item stored
            inprocess.crawl("sitemap", srv.url, workdir, args={"js": "0"})
        with sqlite3.connect(joiner / "mayadeen.sqlite") as db:  # only in a monthly sitemap, unchanged since
            db.execute("DELETE FROM articles WHERE url = ?", (item,))
            db.execute(
                "INSERT INTO failing_items VALUES (?, 1, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z', 'HTTP 500',"
                " '2020-01-01T00:00:00Z')",
                (item,),
            )
        before = len(srv.paths())
        client = redis_srv.client()
        srv.gate.clear()  # nothing answered until both have joined: the crawl cannot end before
        try:
            workers = [start_worker("sitemap", srv.url, seeder, redis_srv.url)]
            wait_for(lambda: client.hget(keys.state, "seeded") in (b"1", "1"), timeout=120)
            workers.append(start_worker("sitemap", srv.url, joiner, redis_srv.url))
            wait_for(lambda: client.zcard(keys.alive) == 2, timeout=120)
        finally:
            srv.gate.set()
        codes = finish(workers)
        fetched = [urlsplit(path).path for path in srv.paths()[before:]]
    assert codes == [0, 0], log_of(joiner)[-2000:]
    assert "The crawl is seeded by another worker" in log_of(joiner)
    assert stat(log_of(joiner), "mayadeen/failing/due") == 1 and stat(log_of(seeder), "mayadeen/failing/due") == 0
    assert fetched.count(urlsplit(item).path) == 1  # was 0: only the seeder's start requests were made
    assert any(item in found for found in stores([seeder, joiner]))


@pytest.mark.soak  # two worker processes and a PostgreSQL cluster
def test_workers_sharing_a_store_count_a_failing_items_attempt_once(tmp_path, postgres_url):
    """Every worker asks for the due failing items of the one store; the crawl fetches each once, and the
    attempt counts once, where it ended, though its retries go to either worker (each worker that saw
    it without its end counted it again as unanswered: its wait grew by 2**workers a crawl; and alerted
    on its 500s)."""
    import psycopg

    item = "https://english.almayadeen.net/news/sports/saudi-arabia-confirmed-as-host-of-2034-fifa-world-cup"
    first, second = tmp_path / "first", tmp_path / "second"
    keys = CrawlKeys("sitemap", "sitemap")
    settings = {"MAYADEEN_STORE_URL": postgres_url, "RETRY_TIMES": "4", "MAYADEEN_RETRY_BACKOFF_BASE": "0.3"}
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        inprocess.crawl("sitemap", srv.url, tmp_path / "earlier", args={"js": "0"}, settings=settings)
        with psycopg.connect(postgres_url, autocommit=True) as db:  # only in a month read completely since
            db.execute("DELETE FROM articles WHERE url = %s", (item,))
            db.execute(
                "INSERT INTO failing_items VALUES (%s, 1, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z', 'HTTP 500',"
                " '2020-01-01T00:00:00Z')",
                (item,),
            )
        srv.site.override(urlsplit(item).path, "<html><body>down</body></html>", status=500)
        before = len(srv.paths())
        client = redis_srv.client()
        srv.gate.clear()
        try:
            workers = [start_worker("sitemap", srv.url, first, redis_srv.url, settings=settings)]
            wait_for(lambda: client.hget(keys.state, "seeded") in (b"1", "1"), timeout=120)
            workers.append(start_worker("sitemap", srv.url, second, redis_srv.url, settings=settings))
            wait_for(lambda: client.zcard(keys.alive) == 2, timeout=120)
        finally:
            srv.gate.set()
        codes = finish(workers)
        fetched = [urlsplit(path).path for path in srv.paths()[before:]].count(urlsplit(item).path)
    assert codes == [0, 0], log_of(second)[-2000:]
    assert [stat(log_of(d), "mayadeen/failing/due") for d in (first, second)] == [1, 1]  # both asked
    assert fetched == 5  # once across the crawl, with its four retries
    assert not any("Monitor Unwanted HTTP statuses failed" in log_of(d) for d in (first, second))
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT failures FROM failing_items WHERE url = %s", (item,)).fetchall() == [(2,)]  # was 3


def test_a_retry_of_another_workers_failing_item_is_known_breakage_here_too():
    """With a store per worker, the retry of worker A's failing item may be taken by worker B, whose
    store does not list it: B counts its give-up as a failing item's (not news: no too_many_given_up)
    and leaves its answers out of the unwanted statuses monitor."""
    from scrapy.http import HtmlResponse

    from mayadeen.extensions.failing_items import ASKED_AGAIN, FAILING_RESPONSES, FailingItems

    url = "https://english.almayadeen.net/news/politics/a-failing-item-of-another-worker"
    crawler = get_crawler(settings_dict={"MAYADEEN_REDIS_URL": "redis://127.0.0.1:1/0", "RETRY_HTTP_CODES": [500]})
    crawler.stats.open_spider()
    worker = FailingItems(crawler)
    worker.opened = True  # with no store: nothing failing here
    retry = scrapy.Request(url, meta={ASKED_AGAIN: url, "retry_times": 2})
    for _ in range(3):
        worker.response_downloaded(HtmlResponse(url, status=500, request=retry), retry, None)
    worker.given_up(url, "HTTP 500", request=retry)
    stats = crawler.stats.get_stats()
    assert (stats.get(FAILING_RESPONSES + "500"), stats.get("mayadeen/failing/again")) == (3, 1)  # were None
