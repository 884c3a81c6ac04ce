"""One crawl spread over worker processes through a real redis-server, against the fixture mirror.

Every worker writes its own SQLite file (the SQLite store takes one writer per file); a record is
"stored exactly once" when it is in exactly one worker's file. With a PostgreSQL store
(``MAYADEEN_STORE_URL``) all workers write one database: one row per item.
"""

from __future__ import annotations

import pickle
import signal
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from scrapy import Request
from scrapy.utils.request import fingerprint
from twisted.internet.threads import blockingCallFromThread

from mayadeen.commands.crawlstatus import Command as CrawlStatus
from mayadeen.distributed.crawl import crawl_status
from mayadeen.distributed.keys import CrawlKeys
from mayadeen.store.engines import POSTGRESQL, StoreTarget, connect
from mayadeen.store.sqlite import ArticleStore
from mayadeen.urls import PUBLIC_URL
from tests import inprocess
from tests.conftest import expected_records
from tests.distributed import (
    MeteredServer,
    RedisServer,
    finish,
    jsonl_urls,
    log_of,
    needs_redis,
    start_together,
    start_worker,
    stat,
    stores,
)
from tests.fixture_server import FixtureSite
from tests.scheduled import item_paths, wait_for

pytestmark = [needs_redis, pytest.mark.timeout(300)]

#: The budget the site gets in these tests, and how long the server takes per answer: slow enough that
#: three workers without a shared budget would have 6 requests open and three times the rate.
BUDGET = {"DOWNLOAD_DELAY": "0.05", "CONCURRENT_REQUESTS_PER_DOMAIN": "2"}
LATENCY = 0.1


def assert_exact_records(workdirs: list[Path], *, allow_twice: set[str] = frozenset()) -> None:
    """The workers' stores together hold exactly the expected records, each in one store (or, for the
    urls in ``allow_twice``, in two: a worker killed after storing an item and before finishing it)."""
    expected = expected_records()
    found = Counter(url for rows in stores(workdirs) for url in rows)
    logs = "\n".join(f"--- {d.name}:\n" + "\n".join(log_of(d).splitlines()[-15:]) for d in workdirs)
    assert set(found) == set(expected), logs  # the logs' ends say why a worker stored nothing
    twice = {url for url, n in found.items() if n > 1}
    assert twice <= allow_twice and max(found.values()) <= 2, f"stored more than once: {twice}"
    for workdir in workdirs:
        path = workdir / "mayadeen.sqlite"
        if not path.exists():
            continue
        with ArticleStore(path, readonly=True) as store:
            for url in stores([workdir])[0]:
                record = store.get(url)
                for key, value in expected[url].items():
                    assert record[key] == value, f"{url}: {key}"


def worker_dirs(tmp_path: Path, n: int) -> list[Path]:
    return [tmp_path / f"worker{i}" for i in range(1, n + 1)]


def run_workers(spider: str, srv, redis_srv, dirs: list[Path], **kwargs) -> list[int]:
    return finish(start_together(spider, srv, redis_srv, dirs, **kwargs))


def assert_all_ok(dirs: list[Path], codes: list[int]) -> None:
    for workdir, code in zip(dirs, codes, strict=True):
        log = log_of(workdir)
        assert code == 0, log[-3000:]
        assert "Run summary: spider=" in log.strip().splitlines()[-1] and "result=ok" in log.strip().splitlines()[-1]


# Three workers is soak (several processes); one worker keeps the shared crawl and budget in the quick set.
@pytest.mark.parametrize("workers", [pytest.param(3, marks=pytest.mark.soak), 1])
def test_sitemap_workers_share_one_crawl_and_one_budget(tmp_path, workers):
    dirs = worker_dirs(tmp_path, workers)
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(latency=LATENCY) as srv:
        codes = run_workers("sitemap", srv, redis_srv, dirs, settings=BUDGET)
        status = crawl_status(redis_srv.client(), CrawlKeys("sitemap", "sitemap"))
    assert_all_ok(dirs, codes)
    assert_exact_records(dirs)
    # Each page once across the workers; robots.txt once per worker (for its robots.txt check) plus the
    # spider's own request for it (discovery, made once).
    paths = Counter(urlsplit(p).path for p in srv.paths())
    assert paths.pop("/robots.txt") == workers + 1
    assert set(paths.values()) == {1}, {p for p, n in paths.items() if n > 1}
    assert len(item_paths(list(paths))) == 14
    # One budget for the site, on the server's clock: never more than CONCURRENT_REQUESTS_PER_DOMAIN
    # requests open at once, and on average no more than one per DOWNLOAD_DELAY.
    print(
        f"budget: {workers} worker(s), {len(srv.arrivals)} requests in {srv.arrivals[-1] - srv.arrivals[0]:.2f}s,"
        f" at most {srv.most_open} open, excess over the rate {srv.excess_over_rate(0.05):.2f}"
    )
    assert srv.most_open <= 2
    assert srv.excess_over_rate(0.05) <= 3.0  # scheduling jitter; three workers each at the rate: ~17
    # The crawl ended for everyone, and work was shared out.
    assert (status["status"], status["queued"], status["in_flight"], status["delayed"]) == ("ended", 0, 0, 0)
    taken = [stat(log_of(d), "mayadeen/redis/taken") for d in dirs]
    assert sum(taken) == sum(paths.values()) + 1  # every request but the robots.txt checks (prefetched)
    if workers > 1:
        assert sum(1 for n in taken if n) >= 2, taken


def test_requests_refused_before_the_download_free_their_slot(tmp_path):
    """Pages robots.txt forbids are refused inside the downloader middlewares, never downloaded: with a
    single slot for the site, a slot they kept would stop the crawl."""
    site = FixtureSite()
    forbidden = sorted(urlsplit(url).path for url in expected_records())[:2]
    rules = "".join(f"Disallow: {p}\n" for p in forbidden)
    robots = site.body("/robots.txt").decode().replace("User-agent: *\n", "User-agent: *\n" + rules, 1)
    site.override("/robots.txt", robots, content_type="text/plain")
    workdir = tmp_path / "worker"
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(site) as srv:
        codes = finish(
            [
                start_worker(
                    "sitemap",
                    srv.url,
                    workdir,
                    redis_srv.url,
                    settings={**BUDGET, "CONCURRENT_REQUESTS_PER_DOMAIN": "1"},
                )
            ],
            timeout=60,
        )
    assert_all_ok([workdir], codes)
    assert set(stores([workdir])[0]) == set(expected_records()) - {PUBLIC_URL + p for p in forbidden}
    assert stat(log_of(workdir), "robotstxt/forbidden") == 2
    assert not set(forbidden) & set(srv.paths())


def assert_one_postgres_row_each(postgres_url: str) -> list[dict]:
    """The shared PostgreSQL store holds exactly the expected records, one row each, never revised;
    returns its run rows."""
    expected = expected_records()
    with connect(StoreTarget(POSTGRESQL, postgres_url), readonly=True) as store:
        records = list(store.iter_records())
        assert sorted(r["url"] for r in records) == sorted(expected)  # every item, one row each
        for record in records:
            assert {k: record[k] for k in expected[record["url"]]} == expected[record["url"]], record["url"]
            assert store.get(record["url"])["revision"] == 1 and store.revisions(record["url"]) == []
        return store.runs()


@pytest.mark.soak
@pytest.mark.parametrize("shared_store", [False, True], ids=["sqlite-each", "one-postgresql"])
def test_sections_three_workers(tmp_path, request, shared_store):
    """The browser listings, the Load More pages, related links and a redirect, over three workers:
    each with its own SQLite file, or all writing one PostgreSQL store."""
    dirs = worker_dirs(tmp_path, 3)
    postgres_url = request.getfixturevalue("postgres_url") if shared_store else None
    settings = {"MAYADEEN_STORE_URL": postgres_url} if shared_store else {}
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        codes = run_workers("sections", srv, redis_srv, dirs, args={"js": "1"}, settings=settings)
    assert_all_ok(dirs, codes)
    if shared_store:
        assert not any((d / "mayadeen.sqlite").exists() for d in dirs)
        assert [r["result"] for r in assert_one_postgres_row_each(postgres_url)] == ["ok"] * 3
    else:
        assert_exact_records(dirs)
    urls = [url for d in dirs for url in jsonl_urls(d)]
    assert sorted(urls) == sorted(expected_records())
    # Every page requested once (the browser's own fetches of the listing API aside); robots.txt once
    # per worker.
    paths = Counter(p for p in srv.paths() if "/api/" not in p)
    assert paths.pop("/robots.txt") == 3
    assert set(paths.values()) == {1}, {p for p, n in paths.items() if n > 1}


def kill_one_of_three(tmp_path: Path, store: dict | None = None) -> list[Path]:
    """Three sitemap workers, the first SIGKILLed once it holds item pages; ``store``: settings naming
    a shared store. Checks that the others finish the crawl, and that at-least-once costs no more than
    the bound: only pages the victim held leases on when it died are fetched twice, at most twice the
    site's concurrency of them, none more than twice. Returns the workers' dirs."""
    dirs = worker_dirs(tmp_path, 3)
    concurrency = 3
    settings = {
        **BUDGET,
        "CONCURRENT_REQUESTS_PER_DOMAIN": str(concurrency),
        "MAYADEEN_REDIS_LEASE_TTL": "3",  # a live worker's heartbeat late by 2.4 s on a loaded machine loses a lease
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",
        **(store or {}),
    }
    keys = CrawlKeys("sitemap", "sitemap")
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(latency=0.3) as srv:
        client = redis_srv.client()
        victim = start_worker("sitemap", srv.url, dirs[0], redis_srv.url, settings=settings)

        def victims_requests() -> list[str]:
            """The urls of the requests the victim holds leases on."""
            ids = [i for i, w in client.hgetall(keys.owner).items() if f":{victim.pid}:".encode() in w]
            requests = client.hmget(keys.data, ids) if ids else []
            return [pickle.loads(data)["url"] for data in requests if data]  # noqa: S301

        wait_for(lambda: item_paths(victims_requests()), timeout=60)
        others = [start_worker("sitemap", srv.url, d, redis_srv.url, settings=settings) for d in dirs[1:]]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        held = {urlsplit(url).path for url in victims_requests()}
        codes = finish(others)
        status = crawl_status(client, keys)
    assert item_paths(list(held))
    assert_all_ok(dirs[1:], codes)
    # The killed worker's leases expired and went to the others.
    assert int(status["expired"]) >= len(held)
    assert (status["status"], status["queued"], status["in_flight"]) == ("ended", 0, 0)
    # Every page fetched; twice only if the victim held it (robots.txt aside: once per worker).
    paths = Counter(urlsplit(p).path for p in srv.paths())
    paths.pop("/robots.txt")
    twice = {path for path, n in paths.items() if n > 1}
    print(f"killed worker held {len(held)} requests; {len(twice)} pages fetched twice")
    assert len(item_paths(list(paths))) == 14
    assert twice <= held and max(paths.values()) <= 2, (twice, held)
    assert len(twice) <= 2 * concurrency
    return dirs


@pytest.mark.soak
def test_sigkilled_worker_loses_nothing(tmp_path):
    dirs = kill_one_of_three(tmp_path)
    # Every item is stored, each once, except what the victim stored in its last moments (a shared
    # store's upsert makes that one row: see the PostgreSQL test below).
    assert_exact_records(dirs, allow_twice=set(stores(dirs[:1])[0]))


@pytest.mark.soak
def test_sigkilled_worker_of_three_sharing_one_postgresql_store(tmp_path, postgres_url):
    dirs = kill_one_of_three(tmp_path, {"MAYADEEN_STORE_URL": postgres_url})
    assert not any((d / "mayadeen.sqlite").exists() for d in dirs)
    victim, *others = assert_one_postgres_row_each(postgres_url)
    assert [r["result"] for r in others] == ["ok", "ok"]
    assert victim["result"] in (None, "killed")  # killed: another worker found its process gone


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
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        srv.gate.clear()
        worker = start_worker("sitemap", srv.url, workdir, redis_srv.url, settings=settings)
        try:
            wait_for(lambda: "Start requests queued" in log_of(workdir) or worker.poll() is not None, timeout=60)
            with psycopg.connect(postgres_url) as locker:  # one transaction, rolled back at the end
                locker.execute("LOCK TABLE articles, article_urls IN ACCESS EXCLUSIVE MODE")
                srv.gate.set()
                wait_for(lambda: "items are stored (" in log_of(workdir) or worker.poll() is not None, timeout=60)
                locker.rollback()
        finally:
            srv.gate.set()
        code = finish([worker], timeout=120)[0]
        status = crawl_status(redis_srv.client(), keys)
    log = log_of(workdir)
    assert code == 0 and "result=ok" in log.strip().splitlines()[-1], log[-3000:]
    assert "could not say whether" in log and stat(log, "mayadeen/freshness/lookup_errors") > 0
    assert "Spider error processing" not in log
    assert (status["status"], status["queued"], status["in_flight"]) == ("ended", 0, 0)
    assert stat(log, "mayadeen/redis/acked") == stat(log, "mayadeen/redis/taken") > 0
    assert_one_postgres_row_each(postgres_url)


BROKEN_SITEMAP = "/sitemaps/all/sitemap-2025-2.xml"


def test_a_page_refused_on_the_spider_side_gives_up_its_lease(tmp_path):
    """When a response is refused on its way to the callback (here the discovery-source check raises
    ``IgnoreRequest`` on a monthly sitemap that is an XML declaration and nothing else; Scrapy hands it
    to the request's errback, which ``watch_errback`` wraps) the request is finished with the error
    logged, its lease acknowledged: the crawl ends. (A lease kept by a live worker is renewed at every
    heartbeat: the crawl would never end.) This test used to make the sitemap callback raise through a
    locked store, which now fetches the items instead (``mayadeen.store.freshness``)."""
    workdir = tmp_path / "worker"
    settings = {**BUDGET, "MAYADEEN_WARC_DIR": "", "MAYADEEN_REDIS_LEASE_TTL": "2"}
    settings["MAYADEEN_STORE_REACTOR_TIMEOUT"] = "1"  # below the lease TTL, or the worker is refused
    keys = CrawlKeys("sitemap", "sitemap")
    site = FixtureSite()
    site.override(BROKEN_SITEMAP, b'<?xml version="1.0"?>', content_type="application/xml")
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(site) as srv:
        worker = start_worker("sitemap", srv.url, workdir, redis_srv.url, settings=settings)
        code = finish([worker], timeout=120)[0]
        status = crawl_status(redis_srv.client(), keys)
    log = log_of(workdir)
    assert f"Could not read the discovery source {PUBLIC_URL}{BROKEN_SITEMAP}: not a sitemap" in log, log[-3000:]
    assert code in (0, 1) and "Run summary: spider=" in log.strip().splitlines()[-1], log[-3000:]
    assert (status["status"], status["queued"], status["in_flight"]) == ("ended", 0, 0)
    assert stat(log, "mayadeen/redis/acked") == stat(log, "mayadeen/redis/taken") > 0


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


@pytest.mark.soak
def test_redis_restarted_mid_crawl(tmp_path):
    dirs = worker_dirs(tmp_path, 3)
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(latency=LATENCY) as srv:
        workers = [start_worker("sitemap", srv.url, d, redis_srv.url, settings=BUDGET) for d in dirs]
        wait_for(lambda: len(item_paths(srv.paths())) >= 4, timeout=60)
        redis_srv.stop()
        wait_for(lambda: any("retrying" in log_of(d) for d in dirs), timeout=60)  # a worker saw it gone
        redis_srv.start()
        codes = finish(workers)
        status = crawl_status(redis_srv.client(), CrawlKeys("sitemap", "sitemap"))
    assert_all_ok(dirs, codes)
    assert_exact_records(dirs)
    assert status["status"] == "ended"
    assert any("Redis at redis://127.0.0.1" in log_of(d) and "retrying" in log_of(d) for d in dirs)


@pytest.mark.soak  # a fault held for longer than the lease; test_redis_gone_… keeps a Redis fault quick
def test_redis_hanging_blocks_no_download(tmp_path):
    """Redis stopped with SIGSTOP (it hangs: calls time out rather than being refused), with the default
    lease TTL (socket timeouts of 3 s): the worker does not wait for it — a response that arrives
    meanwhile is parsed and its item stored, what it leads to waits in order in the link's thread — and
    once Redis answers again the crawl completes with exact records. (Before, each Redis call blocked
    the reactor for 6 s, and the scheduler asked again every poll interval.)"""
    workdir = tmp_path / "worker"
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(latency=LATENCY) as srv:
        worker = start_worker("sitemap", srv.url, workdir, redis_srv.url, settings=BUDGET)
        wait_for(lambda: len(item_paths(srv.paths())) >= 2, timeout=60)
        srv.gate.clear()  # from now on the server holds every request it gets
        wait_for(lambda: item_paths(srv.paths()[len(srv.arrivals) :]), timeout=60)
        held = PUBLIC_URL + item_paths(srv.paths()[len(srv.arrivals) :])[0]
        # The duplicate filter holds Scrapy's own fingerprint, as a local run's would.
        seen = redis_srv.client().smembers(CrawlKeys("sitemap", "sitemap").dupefilter)
        assert fingerprint(Request(held)).hex().encode() in seen
        redis_srv.proc.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: "retrying" in log_of(workdir), timeout=60)  # the worker found Redis away
            arrived = len(srv.arrivals)
            srv.gate.set()
            wait_for(lambda: held in stores([workdir])[0], timeout=60)  # while Redis is still away
            assert "answers again" not in log_of(workdir)
            during = len(srv.arrivals) - arrived
        finally:
            redis_srv.proc.send_signal(signal.SIGCONT)
        codes = finish([worker])
    assert_all_ok([workdir], codes)
    assert_exact_records([workdir])
    assert "Redis at redis://127.0.0.1" in log_of(workdir) and " answers again, after " in log_of(workdir)
    print(f"requests answered while Redis hung: {during}")


def test_no_redis_command_leaves_from_the_reactor_thread(tmp_path, monkeypatch):
    """Every Redis command of a distributed crawl (in process: the reactor runs in a thread of its own)
    is sent from another thread than the reactor's, where a Redis that hangs would stop every download
    and every heartbeat. The thread of each command is read where redis-py writes it to its socket."""
    senders: list[int] = []
    send = redis.connection.Connection.send_packed_command

    def recorded(self, command, check_health=True):
        senders.append(threading.get_ident())
        return send(self, command, check_health)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", recorded)
    reactor_thread = blockingCallFromThread(inprocess.reactor(), threading.get_ident)
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        sent_before = len(senders)  # the test's own commands, starting Redis
        run = worker_in_process(srv, redis_srv, tmp_path / "worker")
        sent = senders[sent_before:]
    assert run.returncode == 0, run.log[-3000:]
    assert len(item_paths(srv.paths())) == 14 and len(sent) > 30  # the crawl's commands were seen
    on_reactor = sent.count(reactor_thread)
    assert on_reactor == 0, f"{on_reactor} of {len(sent)} Redis commands were sent from the reactor thread"


def test_redis_gone_worker_exits_1_and_a_new_start_continues(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    settings = {
        **BUDGET,
        "MAYADEEN_REDIS_RETRY_TIMEOUT": "2",
        "MAYADEEN_REDIS_LEASE_TTL": "2",
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",
    }
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(latency=LATENCY) as srv:
        worker = start_worker("sitemap", srv.url, first, redis_srv.url, settings=settings)
        wait_for(lambda: len(item_paths(srv.paths())) >= 4, timeout=60)
        redis_srv.stop()
        code = finish([worker])[0]
        redis_srv.start()
        again = worker_in_process(srv, redis_srv, second, settings=settings)  # alone: in process
    log = log_of(first).strip().splitlines()
    assert code == 1
    errors = [line for line in log if " ERROR: " in line and "Run summary:" not in line]
    assert len(errors) == 1 and f"Redis at {redis_srv.url} unreachable for 2s" in errors[0], errors
    assert "result=FAILED (redis_unavailable)" in log[-1]
    assert again.returncode == 0, again.log[-3000:]
    assert "joined crawl sitemap/sitemap" in again.log
    # The second start continued the crawl: together the two runs stored every item.
    assert_exact_records([first, second], allow_twice=set(stores([first])[0]))


def crawlstatus(redis_srv) -> list[str]:
    """``scrapy crawlstatus sitemap`` (in process): its lines."""
    argv = ["crawlstatus", "sitemap", "-s", f"MAYADEEN_REDIS_URL={redis_srv.url}"]
    return inprocess.command(CrawlStatus(), argv, inprocess.project_settings()).stdout.splitlines()


def worker_in_process(srv, redis_srv, workdir: Path, args: dict | None = None, settings: dict | None = None):
    """One worker alone, as ``start_worker`` starts it, crawling in this process (``tests.inprocess``); its
    log also in ``worker.log``, as a started worker's."""
    settings = {"MAYADEEN_REDIS_URL": redis_srv.url, "MAYADEEN_REDIS_POLL_INTERVAL": "0.05", **(settings or {})}
    result = inprocess.crawl(
        "sitemap", srv.url, workdir, args={"js": "0", **(args or {})}, settings=settings, check=False
    )
    (workdir / "worker.log").write_text(result.log, "utf-8")
    return result


def test_an_ended_crawl_stays_ended_until_restarted_on_purpose(tmp_path):
    """Two workers finish a crawl; a third started afterwards (a late machine, a restarted container)
    makes no request and exits 0; ``-a restart=1`` crawls again, from an empty queue and filter. (The
    late and the restarting worker run alone: in process.)"""
    first, second, late, again = (tmp_path / name for name in ("first", "second", "late", "again"))
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        assert run_workers("sitemap", srv, redis_srv, [first, second]) == [0, 0]
        crawled = len(srv.paths())
        late_run = worker_in_process(srv, redis_srv, late)
        late_paths = srv.paths()[crawled:]
        ended = crawlstatus(redis_srv)
        restart = worker_in_process(srv, redis_srv, again, args={"restart": "1"})
        restarted = srv.paths()[crawled:]
        status = crawl_status(redis_srv.client(), CrawlKeys("sitemap", "sitemap"))
    assert late_paths == []  # not even robots.txt
    log = late_run.log
    assert late_run.returncode == 0 and late_run.stat("downloader/request_count") is None  # none made
    assert [line for line in log.splitlines() if " ERROR: " in line or " WARNING: " in line] == []
    assert "Crawl sitemap/sitemap has ended: this worker has nothing to do" in log
    assert "result=ok" in log.strip().splitlines()[-1]
    assert not stores([late])[0]
    # crawlstatus shows the ended crawl, the late worker left no mark in it.
    assert ended[0].startswith("crawl sitemap/sitemap: ended at 20") and ended[0].endswith(", seeded")
    assert "(workers started now do nothing; -a restart=1 crawls again), started 20" in ended[0]
    assert ended[1] == "queued 0, delayed 0, in flight 0, requests seen 24, leases expired 0"
    assert len(ended) == 4 and all(": finished, gone, in flight 0, taken " in line for line in ended[2:])
    # Restarted on purpose: discovery again and every item fetched again by a worker with an empty store.
    assert restart.returncode == 0 and "started crawl sitemap/sitemap" in restart.log
    assert "/sitemaps/all.xml" in restarted and len(item_paths(restarted)) == 14
    assert status["status"] == "ended" and len(status["workers"]) == 1


@pytest.mark.parametrize(
    "args, settings, message",
    [
        (
            {},
            {"JOBDIR": "state"},
            "scrapy crawl sitemap: error: -s JOBDIR=state cannot be used with MAYADEEN_REDIS_URL",
        ),
        ({"crawl_id": "no spaces"}, {}, "scrapy crawl sitemap: error: -a crawl_id=no spaces: takes 1-64 letters"),
        (
            {},
            {"MAYADEEN_REDIS_URL": "redis://127.0.0.1:1/0", "MAYADEEN_REDIS_RETRY_TIMEOUT": "0.5"},
            "Redis at redis://127.0.0.1:1/0 unreachable for 0.5s (crawl join: ConnectionError",
        ),
    ],
)
def test_refused_before_any_request(tmp_path, args, settings, message):
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        code = finish([start_worker("sitemap", srv.url, tmp_path, redis_srv.url, args=args, settings=settings)])[0]
    assert code == (2 if "error:" in message else 1)  # a usage error is exit 2, one line
    assert message in log_of(tmp_path)
    assert srv.paths() == []
    assert not (tmp_path / "state").exists()
