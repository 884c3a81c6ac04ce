"""One crawl spread over worker processes through a real redis-server, against the fixture mirror: the
shared crawl and budget, Redis going away, an ended crawl, refusals before any request.

Every worker writes its own SQLite file (the SQLite store takes one writer per file); a record is
"stored exactly once" when it is in exactly one worker's file. A worker alone runs in the test process
(``worker_in_process``) unless its process is the point (its exit status, several workers at once).
Killed workers: ``test_distributed_kill.py``; a shared PostgreSQL store: ``test_distributed_store.py``;
leases: ``test_distributed_acks.py``; the Redis scripts: ``test_distributed_scripts.py``.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from urllib.parse import urlsplit

import pytest
import redis
from scrapy import Request
from scrapy.utils.request import fingerprint
from twisted.internet.threads import blockingCallFromThread

from mayadeen.commands.crawlstatus import Command as CrawlStatus
from mayadeen.distributed.crawl import crawl_status
from mayadeen.distributed.keys import CrawlKeys
from mayadeen.urls import PUBLIC_URL
from tests import inprocess
from tests.conftest import expected_records
from tests.distributed import (
    BUDGET,
    GATE_TIMEOUT,
    LATENCY,
    MeteredServer,
    RedisServer,
    assert_all_ok,
    assert_exact_records,
    finish,
    log_of,
    needs_redis,
    run_workers,
    start_worker,
    stat,
    stores,
    worker_dirs,
    worker_in_process,
)
from tests.fixture_server import FixtureSite
from tests.scheduled import item_paths, wait_for
from tests.test_store_off_reactor import Meanwhile

pytestmark = [needs_redis, pytest.mark.timeout(300)]


# Three workers is soak (several processes); one worker, in process, keeps the shared crawl and budget
# in the quick set.
@pytest.mark.parametrize("workers", [pytest.param(3, marks=pytest.mark.soak), 1])
def test_sitemap_workers_share_one_crawl_and_one_budget(tmp_path, workers):
    dirs = worker_dirs(tmp_path, workers)
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(latency=LATENCY) as srv:
        if workers > 1:
            codes = run_workers("sitemap", srv, redis_srv, dirs, settings=BUDGET)
        else:
            codes = [worker_in_process(srv.url, redis_srv.url, dirs[0], settings=BUDGET).returncode]
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
    single slot for the site, a slot they kept would stop the crawl. (One worker: in process.)"""
    site = FixtureSite()
    forbidden = sorted(urlsplit(url).path for url in expected_records())[:2]
    rules = "".join(f"Disallow: {p}\n" for p in forbidden)
    robots = site.body("/robots.txt").decode().replace("User-agent: *\n", "User-agent: *\n" + rules, 1)
    site.override("/robots.txt", robots, content_type="text/plain")
    workdir = tmp_path / "worker"
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(site) as srv:
        settings = {**BUDGET, "CONCURRENT_REQUESTS_PER_DOMAIN": "1"}
        worker = worker_in_process(srv.url, redis_srv.url, workdir, settings=settings)
    assert_all_ok([workdir], [worker.returncode])
    assert set(stores([workdir])[0]) == set(expected_records()) - {PUBLIC_URL + p for p in forbidden}
    assert worker.stat("robotstxt/forbidden") == 2
    assert not set(forbidden) & set(srv.paths())


@pytest.mark.soak
def test_redis_restarted_mid_crawl(tmp_path):
    dirs = worker_dirs(tmp_path, 3)
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(latency=LATENCY) as srv:
        workers = [start_worker("sitemap", srv.url, d, redis_srv.url, settings=BUDGET) for d in dirs]
        # Three interpreters starting at once on a loaded machine: the start's deadline, not a crawl's.
        started = lambda: len(item_paths(srv.paths())) >= 4 or all(w.poll() is not None for w in workers)  # noqa: E731
        wait_for(started, timeout=GATE_TIMEOUT)
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
    lease TTL (socket timeouts of 1.5 s, a retry window of 15 s): the worker does not wait for it — a
    response that arrives meanwhile is parsed and its item stored, what it leads to waits in order in
    the link's thread — and once Redis answers again the crawl completes with exact records. (Before,
    each Redis call blocked the reactor for 6 s, and the scheduler asked again every poll interval.)"""
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
        run = worker_in_process(srv.url, redis_srv.url, tmp_path / "worker")
        sent = senders[sent_before:]
    assert run.returncode == 0, run.log[-3000:]
    assert len(item_paths(srv.paths())) == 14 and len(sent) > 30  # the crawl's commands were seen
    on_reactor = sent.count(reactor_thread)
    assert on_reactor == 0, f"{on_reactor} of {len(sent)} Redis commands were sent from the reactor thread"


def test_redis_gone_worker_exits_1_and_a_new_start_continues(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    settings = {
        **BUDGET,
        "MAYADEEN_REDIS_RETRY_TIMEOUT": "1.5",
        # allows a retry window of 1.9 s at most; the second start takes the first's leases once expired
        "MAYADEEN_REDIS_LEASE_TTL": "4",
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",
    }
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(latency=LATENCY) as srv:

        def stop_redis() -> None:
            wait_for(lambda: len(item_paths(srv.paths())) >= 4, timeout=60)
            redis_srv.stop()

        # Each worker alone, in process: the command's exit status is the process's.
        meanwhile = Meanwhile(stop_redis)
        meanwhile.start()
        code = worker_in_process(srv.url, redis_srv.url, first, settings=settings).returncode
        meanwhile.check()
        redis_srv.start()
        again = worker_in_process(srv.url, redis_srv.url, second, settings=settings)
    log = log_of(first).strip().splitlines()
    assert code == 1
    errors = [line for line in log if " ERROR: " in line and "Run summary:" not in line]
    assert (
        len(errors) == 1
        and f"Redis at {redis_srv.url} unreachable within MAYADEEN_REDIS_RETRY_TIMEOUT=1.5s" in errors[0]
    ), errors
    assert "result=FAILED (redis_unavailable)" in log[-1]
    assert again.returncode == 0, again.log[-3000:]
    assert "joined crawl sitemap/sitemap" in again.log
    # The second start continued the crawl: together the two runs stored every item.
    assert_exact_records([first, second], allow_twice=set(stores([first])[0]))


def crawlstatus(redis_srv) -> list[str]:
    """``scrapy crawlstatus sitemap`` (in process): its lines."""
    argv = ["crawlstatus", "sitemap", "-s", f"MAYADEEN_REDIS_URL={redis_srv.url}"]
    return inprocess.command(CrawlStatus(), argv, inprocess.project_settings()).stdout.splitlines()


def test_an_ended_crawl_stays_ended_until_restarted_on_purpose(tmp_path):
    """A worker finishes a crawl; another started afterwards (a late machine, a restarted container)
    makes no request and exits 0; ``-a restart=1`` crawls again, from an empty queue and filter. (Each
    worker runs alone: in process; several at once is test_sitemap_workers_share_one_crawl_….)"""
    first, late, again = (tmp_path / name for name in ("first", "late", "again"))
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        assert worker_in_process(srv.url, redis_srv.url, first).returncode == 0
        crawled = len(srv.paths())
        late_run = worker_in_process(srv.url, redis_srv.url, late)
        late_paths = srv.paths()[crawled:]
        ended = crawlstatus(redis_srv)
        restart = worker_in_process(srv.url, redis_srv.url, again, args={"restart": "1"})
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
    assert ended[1] == "queued 0, delayed 0, in flight 0, requests seen 24, leases expired 0, given up 0"
    assert len(ended) == 3 and ": finished, gone, in flight 0, taken " in ended[2]
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
            "Redis at redis://127.0.0.1:1/0 unreachable within MAYADEEN_REDIS_RETRY_TIMEOUT=0.5s"
            " (crawl join: ConnectionError",
        ),
    ],
)
def test_refused_before_any_request(tmp_path, args, settings, message):
    """Refused before any request, with its exit status (in process: the same command and status)."""
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        # JOBDIR relative to the crawl's directory, as a worker started there would take it
        settings = {k: str(tmp_path / v) if k == "JOBDIR" else v for k, v in settings.items()}
        worker = worker_in_process(srv.url, redis_srv.url, tmp_path, args=args, settings=settings)
    assert worker.returncode == (2 if "error:" in message else 1)  # a usage error is exit 2, one line
    assert message.replace("JOBDIR=state", f"JOBDIR={tmp_path / 'state'}") in worker.log
    assert srv.paths() == []
    assert not (tmp_path / "state").exists()
