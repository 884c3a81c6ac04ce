"""Distributed workers and their store: three workers writing one PostgreSQL store (or each its own
SQLite file), the store locked or PostgreSQL down while they crawl (``tests/distributed.py`` holds the
servers and checks)."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import pytest

from mayadeen.distributed.crawl import crawl_status
from mayadeen.distributed.keys import CrawlKeys
from tests.conftest import expected_records
from tests.distributed import (
    BUDGET,
    MeteredServer,
    RedisServer,
    assert_all_ok,
    assert_one_postgres_row_each,
    finish,
    jsonl_urls,
    log_of,
    needs_redis,
    run_workers,
    start_together,
    stat,
    worker_dirs,
    worker_in_process,
)
from tests.scheduled import item_paths, wait_for
from tests.test_store_off_reactor import Meanwhile, Said

pytestmark = [needs_redis, pytest.mark.timeout(300)]


@pytest.mark.soak
def test_sections_three_workers(tmp_path, postgres_url):
    """The browser listings, the Load More pages, related links and a redirect, over three workers all
    writing one PostgreSQL store. (Three workers each with its own SQLite file, exact records each in
    one store: ``test_sitemap_workers_share_one_crawl_and_one_budget[3]``; a sections item scraped or a
    page fetched twice shows here, in the feeds and the server's requests, whatever the store.)"""
    dirs = worker_dirs(tmp_path, 3)
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        codes = run_workers(
            "sections", srv, redis_srv, dirs, args={"js": "1"}, settings={"MAYADEEN_STORE_URL": postgres_url}
        )
    assert_all_ok(dirs, codes)
    assert not any((d / "mayadeen.sqlite").exists() for d in dirs)
    assert [r["result"] for r in assert_one_postgres_row_each(postgres_url)] == ["ok"] * 3
    urls = [url for d in dirs for url in jsonl_urls(d)]
    assert sorted(urls) == sorted(expected_records())
    # Every page requested once (the browser's own fetches of the listing API aside); robots.txt once
    # per worker.
    paths = Counter(p for p in srv.paths() if "/api/" not in p)
    assert paths.pop("/robots.txt") == 3
    assert set(paths.values()) == {1}, {p for p, n in paths.items() if n > 1}


def test_sitemaps_read_while_the_store_cannot_answer_lose_no_item(tmp_path, postgres_url):
    """The sitemaps are read while another session holds the store's tables locked: their freshness
    lookups give up after MAYADEEN_STORE_REACTOR_TIMEOUT and their items are fetched rather than
    skipped or lost; every lease is acknowledged and the crawl ends with every item stored. (Before,
    the lookup's error failed Scrapy's sitemap callback and its items were lost.)"""
    import psycopg

    workdir = tmp_path / "worker"
    settings = {
        **BUDGET,
        "MAYADEEN_STORE_URL": postgres_url,
        "MAYADEEN_WARC_DIR": "",
        "MAYADEEN_REDIS_LEASE_TTL": "2",
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "0.5",
    }
    keys = CrawlKeys("sitemap", "sitemap")

    def steps() -> None:
        try:
            assert seeded.seen.wait(60), "the start requests were not queued"  # the store is open
            with psycopg.connect(postgres_url) as locker:  # one transaction, rolled back at the end
                locker.execute("LOCK TABLE articles, article_urls IN ACCESS EXCLUSIVE MODE")
                srv.gate.set()
                assert gave_up.seen.wait(60), "no freshness lookup gave up"
                locker.rollback()
        finally:
            srv.gate.set()

    with (
        RedisServer(tmp_path / "redis") as redis_srv,
        MeteredServer() as srv,
        Said("mayadeen.distributed.seeding", "Start requests queued") as seeded,
        Said("mayadeen.store.freshness", "items are stored (") as gave_up,
    ):
        srv.gate.clear()
        # The worker alone, in process; the lock is taken and released from a thread of the test.
        meanwhile = Meanwhile(steps)
        meanwhile.start()
        result = worker_in_process(srv.url, redis_srv.url, workdir, settings=settings)
        meanwhile.check()
        status = crawl_status(redis_srv.client(), keys)
    log = log_of(workdir)
    assert result.returncode == 0 and "result=ok" in log.strip().splitlines()[-1], log[-3000:]
    assert "could not say whether" in log and stat(log, "mayadeen/freshness/lookup_errors") > 0
    assert "Spider error processing" not in log
    assert (status["status"], status["queued"], status["in_flight"]) == ("ended", 0, 0)
    assert stat(log, "mayadeen/redis/acked") == stat(log, "mayadeen/redis/taken") > 0
    assert_one_postgres_row_each(postgres_url)


class Heartbeats:
    """Each worker's heartbeats as the crawl's ``alive`` set shows them (Redis time of the last beat),
    seen by polling: ``poll`` notes every new beat."""

    def __init__(self, client, keys: CrawlKeys):
        self.client = client
        self.keys = keys
        self.beats: dict[str, list[float]] = {}

    def poll(self) -> dict[str, list[float]]:
        for worker, score in self.client.zrange(self.keys.alive, 0, -1, withscores=True):
            beats = self.beats.setdefault(worker.decode(), [])
            if not beats or score > beats[-1]:
                beats.append(score)
        return self.beats

    def longest_gap(self, since: float) -> float:
        """The longest time between two beats of a worker (or ``since`` and its first) from ``since`` on."""
        return max(
            b - a
            for beats in self.beats.values()
            for a, b in zip([since, *(t for t in beats if t > since)], [t for t in beats if t > since], strict=False)
        )


def redis_time(client) -> float:
    sec, usec = client.time()
    return sec + usec / 1e6


# Several workers and an outage (soak); in the quick set the store's outage is test_store_off_reactor's
# test_downloads_go_on_while_postgresql_is_down and the store wait under leases test_distributed_lease_cap.
@pytest.mark.soak
def test_postgresql_down_longer_than_a_lease_under_two_workers(tmp_path):
    """Two workers share one PostgreSQL store, which stops mid-crawl for longer than the lease TTL:
    items cannot be stored, so no lease is acknowledged, yet both workers keep beating and keep
    fetching; no lease expires, so no page is fetched twice (no worker was killed: the at-least-once
    bound is zero) and the site's budget holds at the server. Once PostgreSQL is back the crawl ends
    with exactly the expected records, one row each."""
    from tests.postgres_server import PostgresCluster

    ttl = 3.0  # a live worker's heartbeat late by 2.4 s on a loaded machine loses a lease: not this test's fault
    dirs = worker_dirs(tmp_path, 2)
    keys = CrawlKeys("sitemap", "sitemap")
    cluster = PostgresCluster().start()  # its own: the session's cluster stays up for the other tests
    try:
        postgres_url = cluster.new_database()
        settings = {
            **BUDGET,
            "MAYADEEN_STORE_URL": postgres_url,
            "MAYADEEN_WARC_DIR": "",  # no archive: this test is about the store
            "MAYADEEN_REDIS_LEASE_TTL": f"{ttl:g}",
            "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",  # below the TTL, as a distributed crawl requires
            "MAYADEEN_STORE_RETRY_TIMEOUT": "120",  # the writes wait out the outage
        }
        with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(latency=0.5) as srv:
            client = redis_srv.client()
            workers = start_together("sitemap", srv, redis_srv, dirs, settings=settings)
            # Down mid-discovery: the freshness reads it makes then go unanswered, and their items are
            # fetched (they are new), not lost.
            wait_for(lambda: stored_count(postgres_url) >= 1, timeout=120, step=0.05)
            beats = Heartbeats(client, keys)
            cluster.stop_server()
            try:
                stopped, fetched = redis_time(client), len(srv.paths())
                # Down until each worker has beaten for longer than a lease since the stop.
                wait_for(lambda: min(b[-1] for b in beats.poll().values()) > stopped + 1.5 * ttl, timeout=60, step=0.05)
                during = item_paths(srv.paths()[fetched:])
            finally:
                cluster.start_server()
            srv.latency = 0.0  # slow only so that the outage came mid-crawl
            codes = finish(workers)
            status = crawl_status(client, keys)
        assert_all_ok(dirs, codes)
        assert [r["result"] for r in assert_one_postgres_row_each(postgres_url)] == ["ok", "ok"]
    finally:
        cluster.stop()
    logs = "\n".join(log_of(d) for d in dirs)
    assert "unreachable" in logs  # the store writes found PostgreSQL gone, and waited
    # Both workers beat all along (never a lease's length apart) and fetched meanwhile; no lease expired.
    assert len(beats.beats) == 2 and beats.longest_gap(stopped) < ttl, beats.beats
    assert during, "no item page was fetched while PostgreSQL was down"
    assert (status["status"], status["expired"]) == ("ended", "0")
    # Each page once; robots.txt once per worker plus discovery's own request.
    paths = Counter(urlsplit(p).path for p in srv.paths())
    assert paths.pop("/robots.txt") == 3
    assert set(paths.values()) == {1}, {p for p, n in paths.items() if n > 1}
    assert len(item_paths(list(paths))) == 14
    # The site's budget, on the server's clock.
    assert srv.most_open <= int(BUDGET["CONCURRENT_REQUESTS_PER_DOMAIN"])


def stored_count(postgres_url: str) -> int:
    """Items in the PostgreSQL store so far (0 before its tables exist)."""
    import psycopg

    try:
        with psycopg.connect(postgres_url) as conn:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    except psycopg.Error:
        return 0
