"""A worker whose store waits holds at most twice the budget's concurrency of leases (issue 20).

A lease is acknowledged only once its items are stored, and the heartbeat renews it meanwhile: before
the cap, a worker whose store waited kept taking, its leases grew with every page it fetched, and a
kill then had every one of them fetched again. A real redis-server and one worker in process
(``tests/distributed.py``); its SQLite store is held by another connection (``BEGIN EXCLUSIVE``, as in
``tests/test_store_off_reactor.py``) while pages keep arriving.
"""

from __future__ import annotations

import sqlite3

import pytest

from mayadeen.distributed.keys import CrawlKeys
from tests.conftest import expected_records
from tests.distributed import (
    BUDGET,
    MeteredServer,
    RedisServer,
    assert_exact_records,
    needs_redis,
    stat,
    worker_in_process,
)
from tests.scheduled import item_paths, wait_for
from tests.test_store_off_reactor import Meanwhile

pytestmark = [needs_redis, pytest.mark.timeout(300)]

#: ``BUDGET``'s concurrency is 2: four leases at most.
CAP = 2 * int(BUDGET["CONCURRENT_REQUESTS_PER_DOMAIN"])


def lock_store(path) -> sqlite3.Connection | None:
    """``BEGIN EXCLUSIVE`` on the worker's store once it has made its tables, else None."""
    try:
        locker = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        if not locker.execute("SELECT 1 FROM sqlite_master WHERE name = 'crawl_runs'").fetchone():
            locker.close()
            return None
        locker.execute("BEGIN EXCLUSIVE")
        return locker
    except sqlite3.Error:
        return None


def test_a_worker_whose_store_waits_stops_taking_at_the_lease_cap(tmp_path):
    """While the store is locked the worker fetches item pages until it holds ``CAP`` leases, then takes
    nothing: the leases in Redis never exceed the cap, and a heartbeat renews them with no new page
    requested. Once the lock is released every item is stored once and every lease acknowledged."""
    workdir = tmp_path / "worker"
    store = workdir / "mayadeen.sqlite"
    settings = {
        **BUDGET,
        "MAYADEEN_REDIS_LEASE_TTL": "2",  # a heartbeat every 0.4 s
        "MAYADEEN_WARC_DIR": "",
        "MAYADEEN_SQLITE_BUSY_TIMEOUT": "120",  # longer than the test: the item writes wait, off the reactor
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",  # below the lease TTL, as the worker requires
    }
    keys = CrawlKeys("sitemap", "sitemap")
    most_leases = []

    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        client = redis_srv.client()

        def leases() -> int:
            held = client.zcard(keys.leases)
            most_leases.append(held)
            assert held <= CAP, f"{held} leases held, the cap is {CAP}"
            return held

        def at_cap() -> bool:
            return leases() == CAP and len(item_paths(srv.paths())) == CAP

        def steps() -> None:
            wait_for(lambda: srv.paths(), timeout=120)  # the crawl is open, its first request held
            lockers = []
            wait_for(lambda: lockers.append(lock_store(store)) or lockers[-1] is not None, timeout=60)
            locker = lockers[-1]
            try:
                srv.gate.set()
                # Every leased page fetched, their items waiting for the store: the worker is at the cap.
                wait_for(at_cap, timeout=60)
                expiries = [score for _, score in client.zrange(keys.leases, 0, -1, withscores=True)]
                # A heartbeat renews all four leases (each expires later than any did) ...
                wait_for(
                    lambda: (
                        leases()
                        and min(s for _, s in client.zrange(keys.leases, 0, -1, withscores=True)) > max(expiries)
                    ),
                    timeout=30,
                )
                # ... and meanwhile no page more was taken, though the queue holds the rest.
                assert at_cap() and client.zcard(keys.queue) > 0
                assert locker.in_transaction
            finally:
                locker.rollback()
                locker.close()

        srv.gate.clear()
        meanwhile = Meanwhile(steps)
        meanwhile.start()
        result = worker_in_process(srv.url, redis_srv.url, workdir, settings=settings)
        meanwhile.check()
        assert client.zcard(keys.leases) == 0

    assert result.returncode == 0, result.log[-3000:]
    assert max(most_leases) == CAP
    assert_exact_records([workdir])
    assert len(item_paths(srv.paths())) == len(expected_records())  # each item page fetched once
    taken = stat(result.log, "mayadeen/redis/taken")
    assert taken and stat(result.log, "mayadeen/redis/acked") == taken
    assert stat(result.log, "mayadeen/redis/leases/max") == CAP
