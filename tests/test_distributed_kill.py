"""A worker of a distributed crawl SIGKILLed while it holds leases: the others finish the crawl, and
at-least-once costs no more than its bound (``tests/distributed.py`` holds the servers and checks)."""

from __future__ import annotations

import pickle
import signal
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mayadeen.distributed.crawl import crawl_status
from mayadeen.distributed.keys import CrawlKeys
from tests.distributed import (
    BUDGET,
    MeteredServer,
    RedisServer,
    assert_all_ok,
    assert_exact_records,
    assert_one_postgres_row_each,
    finish,
    needs_redis,
    start_worker,
    stores,
    worker_dirs,
)
from tests.scheduled import item_paths, wait_for

pytestmark = [needs_redis, pytest.mark.timeout(300)]


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
        srv.latency = 0.0  # slow only so that the victim held requests in flight when killed
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
