"""A wait for Redis never outlasts the leases (issue 20, F2): the settings that would let it are refused
at start, and a worker that cannot reach Redis gives up before its leases and budget slots expire, as a
killed worker does (``mayadeen.distributed.timing``, ``link``, ``heartbeat``)."""

from __future__ import annotations

import logging
import re
import signal
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
from scrapy.settings import Settings
from scrapy.utils.log import LogCounterHandler

from mayadeen.distributed import timing
from mayadeen.distributed.crawl import crawl_status
from mayadeen.distributed.keys import CrawlKeys
from mayadeen.preflight import waits_within_lease
from mayadeen.validation import UsageProblem
from tests.distributed import (
    MeteredServer,
    RedisServer,
    assert_exact_records,
    finish,
    log_of,
    needs_redis,
    start_together,
    stores,
    worker_dirs,
)
from tests.fixture_server import FixtureServer
from tests.inprocess import crawl
from tests.scheduled import item_paths, wait_for


@pytest.mark.parametrize(
    "ttl, wait, allowed",
    [("30", "60", "15"), ("30", "15.5", "15"), ("3", "2", "1.3"), ("10", "5.01", "5")],
)
def test_a_redis_wait_longer_than_the_lease_allows_is_refused(tmp_path, ttl, wait, allowed):
    """One line, exit 2, before any request."""
    settings = {
        "MAYADEEN_REDIS_URL": "redis://127.0.0.1:1/0",  # never reached: refused before
        "MAYADEEN_REDIS_LEASE_TTL": ttl,
        "MAYADEEN_REDIS_RETRY_TIMEOUT": wait,
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",
    }
    with FixtureServer() as srv:
        result = crawl("sitemap", srv.url, tmp_path, settings=settings, check=False, timeout=60)
        assert srv.paths() == []
    assert result.returncode == 2 and len(result.log.strip().splitlines()) == 1, result.log
    assert (
        f"-s MAYADEEN_REDIS_RETRY_TIMEOUT={wait} is more than -s MAYADEEN_REDIS_LEASE_TTL={ttl} allows ({allowed}s)"
        in result.log
    )


@pytest.mark.parametrize("ttl, wait", [("30", "soon"), ("30", "-1"), ("0", None)])
def test_a_redis_wait_or_lease_that_is_no_number_is_refused(tmp_path, ttl, wait):
    settings = {"MAYADEEN_REDIS_URL": "redis://127.0.0.1:1/0", "MAYADEEN_REDIS_LEASE_TTL": ttl}
    if wait is not None:
        settings["MAYADEEN_REDIS_RETRY_TIMEOUT"] = wait
    result = crawl("sitemap", "http://127.0.0.1:1", tmp_path, settings=settings, check=False, timeout=60)
    assert result.returncode == 2 and len(result.log.strip().splitlines()) == 1, result.log
    name = "MAYADEEN_REDIS_RETRY_TIMEOUT" if wait is not None else "MAYADEEN_REDIS_LEASE_TTL"
    assert f"-s {name}=" in result.log, result.log


@pytest.mark.parametrize(
    "ttl, problem",
    [
        ("0.3", "leaves no room for one Redis call (0.5s)"),
        ("0.8", "leaves no room for one Redis call (0.5s)"),
        ("3601", "is more than 3600s"),
        ("inf", "is more than 3600s"),
        ("1e12", "is more than 3600s"),
        ("nan", "takes a number"),  # the settings' own check, before
    ],
)
def test_a_lease_ttl_that_cannot_bound_the_waits_is_refused(tmp_path, ttl, problem):
    """Too short for one failed Redis call between a beat and the backstop, or so long that a killed
    worker's pages wait for hours (inf: never fetched again): one line, exit 2, no request."""
    settings = {
        "MAYADEEN_REDIS_URL": "redis://127.0.0.1:1/0",
        "MAYADEEN_REDIS_LEASE_TTL": ttl,
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "0.1",
    }
    result = crawl("sitemap", "http://127.0.0.1:1", tmp_path, settings=settings, check=False, timeout=60)
    assert result.returncode == 2 and len(result.log.strip().splitlines()) == 1, result.log
    assert "-s MAYADEEN_REDIS_LEASE_TTL=" in result.log and problem in result.log, result.log


@pytest.mark.parametrize(
    "given, named",
    [
        ({}, "MAYADEEN_STORE_REACTOR_TIMEOUT=10 (its default) is not below -s MAYADEEN_REDIS_LEASE_TTL=8"),
        (
            {"MAYADEEN_STORE_REACTOR_TIMEOUT": "9"},
            "-s MAYADEEN_STORE_REACTOR_TIMEOUT=9 is not below -s MAYADEEN_REDIS_LEASE_TTL=8",
        ),
    ],
)
def test_a_store_wait_not_below_the_lease_names_what_the_user_gave(given, named):
    """The default in force is called the default, not a ``-s`` the user never typed."""
    settings = Settings({"MAYADEEN_REDIS_URL": "redis://db"}, priority="project")
    settings.setmodule("mayadeen.settings", priority="project")
    settings.setdict({"MAYADEEN_REDIS_URL": "redis://db", "MAYADEEN_REDIS_LEASE_TTL": "8", **given}, priority="cmdline")
    with pytest.raises(UsageProblem) as refused:
        waits_within_lease(settings)
    assert str(refused.value).startswith(named + ":"), refused.value
    assert "lower it (-s MAYADEEN_STORE_REACTOR_TIMEOUT=4)" in str(refused.value)


def test_following_each_refusal_gives_a_crawl_that_starts(tmp_path):
    """From a TTL too short, each refusal's suggestion taken as written: the crawl passes its checks
    (it then fails only because nothing answers at the Redis address)."""
    settings = {"MAYADEEN_REDIS_URL": "redis://127.0.0.1:1/0", "MAYADEEN_REDIS_LEASE_TTL": "0.3"}
    refusals = []
    for _ in range(3):
        result = crawl("sitemap", "http://127.0.0.1:1", tmp_path, settings=settings, check=False, timeout=60)
        if result.returncode != 2:
            break
        refusals.append(result.log.strip())
        if least := re.search(r"MAYADEEN_REDIS_LEASE_TTL=[\d.]+ .* it takes at least ([\d.]+)s$", refusals[-1]):
            settings["MAYADEEN_REDIS_LEASE_TTL"] = least.group(1)
        else:
            name, value = re.search(r"\(-s (MAYADEEN_\w+)=([\d.]+)\)", refusals[-1]).groups()
            settings[name] = value
    assert len(refusals) == 2, refusals
    assert "MAYADEEN_STORE_REACTOR_TIMEOUT=10 (its default) is not below" in refusals[1]
    assert result.returncode == 1 and "finish_reason=redis_unavailable" in result.log, result.log[-2000:]
    assert settings["MAYADEEN_REDIS_LEASE_TTL"] == "0.84" and settings["MAYADEEN_STORE_REACTOR_TIMEOUT"] == "0.42"


def test_a_worker_that_never_reached_redis_says_so_in_its_summary(tmp_path):
    """Its wait and its lines came before Scrapy starts the run's clock and counts log lines: the
    summary still counts the ERROR and the WARNING, and its duration is the retries' (the link gives up
    once the next try could end after the 1.3 s window, after pauses of 0.05, 0.1 and 0.2 s at least:
    0.4-0.8 s seen), not duration=0.0s errors=0."""
    settings = {
        "MAYADEEN_REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens there
        "MAYADEEN_REDIS_LEASE_TTL": "3",
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",
    }
    counters = [h for h in logging.root.handlers if isinstance(h, LogCounterHandler)]  # other tests' crawls'
    began = time.monotonic()
    result = crawl("sitemap", "http://127.0.0.1:1", tmp_path, settings=settings, check=False, timeout=60)
    took = time.monotonic() - began
    assert result.returncode == 1, result.log[-2000:]
    errors = [line for line in result.log.splitlines() if " ERROR: " in line and "Run summary:" not in line]
    assert len(errors) == 1 and "unreachable within MAYADEEN_REDIS_RETRY_TIMEOUT=1.3s" in errors[0], errors
    summary = re.search(
        r"Run summary: .*result=FAILED \(redis_unavailable\).* errors=(\d+) warnings=(\d+) duration=([\d.]+)s",
        result.log,
    )
    assert summary, result.log[-2000:]
    assert int(summary.group(1)) == 1 and int(summary.group(2)) >= 1
    assert 0.3 <= float(summary.group(3)) <= took
    # Closed before its engine started (no engine_stopped): its log counter is gone all the same, or
    # the finished crawler would count every later line of this process.
    assert not [h for h in logging.root.handlers if isinstance(h, LogCounterHandler) and h not in counters]


@pytest.mark.parametrize("ttl, wait", [("30", None), ("30", "15"), ("2", None), ("10", "5"), ("0.85", None)])
def test_a_redis_wait_within_the_lease_is_accepted(ttl, wait):
    settings = {
        "MAYADEEN_REDIS_URL": "redis://db",
        "MAYADEEN_REDIS_LEASE_TTL": ttl,
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "0.1",
    }
    if wait is not None:
        settings["MAYADEEN_REDIS_RETRY_TIMEOUT"] = wait
    waits_within_lease(Settings(settings))


@pytest.mark.parametrize("ttl", [0.85, 1, 2, 3, 10, 30, 60, 600, 3600])
def test_the_default_wait_ends_a_beat_before_the_leases_expire(ttl):
    """From a renewal that reached Redis: a beat, a failed call and the retry window end one beat
    before the TTL (where the heartbeat's backstop stops the worker); the default takes all of it."""
    interval, wait = timing.heartbeat_interval(ttl), timing.retry_timeout(Settings({"MAYADEEN_REDIS_LEASE_TTL": ttl}))
    assert wait == timing.longest_retry_timeout(ttl) >= 0
    assert interval + timing.call_bound(ttl) + wait <= ttl - interval + 1e-9


@needs_redis
@pytest.mark.soak
@pytest.mark.timeout(300)
def test_redis_frozen_longer_than_the_lease_under_two_workers(tmp_path):
    """Redis SIGSTOPped while two workers hold leases, until both have given up (longer than the TTL of
    3 s): each exits 1 with its one line, no page is fetched twice but those the two held when they gave
    up, the site never has more requests open than its budget, and a restart finishes the crawl with
    exact records. (On main, with a retry window of 60 s, the workers waited on past their leases.)"""
    concurrency = 2
    settings = {
        "DOWNLOAD_DELAY": "0.05",
        "CONCURRENT_REQUESTS_PER_DOMAIN": str(concurrency),
        "MAYADEEN_REDIS_LEASE_TTL": "3",  # the default retry window: 1.3 s
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",
        "MAYADEEN_WARC_DIR": "",
    }
    dirs = worker_dirs(tmp_path, 3)
    keys = CrawlKeys("sitemap", "sitemap")
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(latency=0.3) as srv:
        client = redis_srv.client()
        workers = start_together("sitemap", srv, redis_srv, dirs[:2], settings=settings)
        wait_for(lambda: len(item_paths(srv.paths())) >= 3 and client.hlen(keys.owner) > 0, timeout=120)
        redis_srv.proc.send_signal(signal.SIGSTOP)
        try:
            codes = finish(workers, timeout=60)  # each gives up in a few seconds
        finally:
            redis_srv.proc.send_signal(signal.SIGCONT)
        # What the two fetched: a page fetched again must be one of these. (Which leases they held when
        # they gave up cannot be read afterwards: the takes they sent before giving up run once Redis
        # wakes, reclaiming expired leases.)
        first_round = {urlsplit(p).path for p in srv.paths()}
        srv.latency = 0.0  # slow only so that the freeze came mid-crawl
        [restart] = start_together("sitemap", srv, redis_srv, dirs[2:], settings=settings)
        [code] = finish([restart])
        status = crawl_status(client, keys)
    for workdir, exit_code in zip(dirs[:2], codes, strict=True):
        log = log_of(workdir)
        assert exit_code == 1, log[-3000:]
        errors = [line for line in log.splitlines() if " ERROR: " in line and "Run summary:" not in line]
        assert len(errors) == 1 and "unreachable within MAYADEEN_REDIS_RETRY_TIMEOUT=1.3s" in errors[0], errors
    assert code == 0, log_of(dirs[2])[-3000:]
    assert status["status"] == "ended"
    paths = Counter(urlsplit(p).path for p in srv.paths())
    paths.pop("/robots.txt")
    twice = {path for path, n in paths.items() if n > 1}
    print(f"{len(twice)} pages fetched twice; most requests open at once {srv.most_open}")
    assert len(item_paths(list(paths))) == 14
    # At-least-once within its bound: twice at most, and only what the two could hold (their lease caps).
    assert twice <= first_round and max(paths.values()) <= 2, twice
    assert len(twice) <= 2 * (2 * concurrency)
    assert srv.most_open <= concurrency
    # Exact records: an item stored by a worker that gave up before acknowledging it is stored again.
    assert_exact_records(dirs, allow_twice={u for rows in stores(dirs[:2]) for u in rows})
