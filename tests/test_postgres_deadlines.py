"""Every call on a PostgreSQL store has a deadline: with the server frozen (every process SIGSTOPped: it
answers nothing, as on a network that drops packets) each path ends with a clear error within seconds,
while a lock wait on a working server is left to the server's own ``lock_timeout``
(``mayadeen.store.postgres_connection``)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

import psycopg
import pytest

from mayadeen.store.postgres import PostgresStore
from mayadeen.store.postgres_connection import PROBE_AFTER, PROBE_TIMEOUT, NoAnswer
from mayadeen.store.postgres_schema import SCHEMA_LOCK
from tests.conftest import expected_records
from tests.postgres_server import needs_postgres
from tests.scheduled import wait_for
from tests.test_store_off_reactor import server_processes, signal_if_alive

pytestmark = [needs_postgres, pytest.mark.timeout(120)]

URL = sorted(expected_records())[0]


@pytest.fixture(scope="module")
def cluster():
    """A cluster of this module's own: freezing the session's would stop the other tests."""
    from tests.postgres_server import PostgresCluster

    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def filled(cluster) -> str:
    """A database holding the expected records."""
    url = cluster.new_database()
    with PostgresStore(url) as store:
        for record in expected_records().values():
            store.upsert(record)
    return url


@contextmanager
def frozen(cluster):
    """Every process of the server stopped for the block."""
    pids = server_processes(cluster)
    for pid in pids:
        signal_if_alive(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            signal_if_alive(pid, signal.SIGCONT)


def snapshot_stream(store):
    with store.snapshot():
        return list(store.stream("SELECT url FROM articles"))


CALLS = {
    "get": lambda store: store.get(URL),
    "revisions": lambda store: store.revisions(URL),
    "count": lambda store: store.count(),
    "iter_records": lambda store: next(store.iter_records()),
    "rows": lambda store: store.rows("SELECT count(*) AS n FROM articles"),
    "tables": lambda store: store.tables(),
    "schema_version": lambda store: store.schema_version(),
    "snapshot_stream": snapshot_stream,
}


@pytest.mark.soak  # a hung server, every call; quick: opening a store on a frozen server ends
def test_every_call_on_a_frozen_server_ends_with_a_clear_error(cluster, filled):
    """Each call made directly on the connection (outside the retried transactions), by a reader and by
    a writer, with the default windows (a lock wait of 60 s, retries for 60 s): the server is found
    silent by a probe on a new connection, and the call fails saying so. One freeze for all of them:
    each call waits in a thread of its own, as the store's callers do."""
    cases = [(call, readonly) for call in sorted(CALLS) for readonly in (True, False)]
    stores = {case: PostgresStore(filled, readonly=case[1]) for case in cases}
    outcomes: dict[tuple[str, bool], BaseException | None] = {}

    def frozen_call(case):
        try:
            CALLS[case[0]](stores[case])
            outcomes[case] = None
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcomes[case] = exc

    try:
        for case in cases:
            CALLS[case[0]](stores[case])  # answers while the server runs
        with frozen(cluster):
            threads = [threading.Thread(target=frozen_call, args=(case,), daemon=True) for case in cases]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
    finally:
        for store in stores.values():
            store.close()
    for case in cases:
        failure = outcomes.get(case)
        assert isinstance(failure, NoAnswer), (case, failure)
        message = str(failure)
        assert message.startswith("PostgreSQL at postgresql://postgres@127.0.0.1:") and "does not answer" in message
        assert "nor to a new connection" in message and message.endswith("connection cut"), message


def test_opening_a_store_on_a_frozen_server_ends(cluster, filled):
    """The connect is bounded by its own timeout (libpq's connect_timeout)."""
    with frozen(cluster), pytest.raises(psycopg.OperationalError, match="timeout"):
        PostgresStore(filled, retry_timeout=2)


@pytest.mark.soak  # a server frozen during a lock wait; quick: a frozen server's calls and open end
def test_a_lock_wait_is_left_to_the_server_and_a_freeze_during_it_is_noticed(cluster):
    """The migrations at open wait for another opener's schema lock: the server answers probes, so the
    wait goes on past the probes; frozen meanwhile, the open fails within seconds, not after the lock
    wait's 60 s."""
    url = cluster.new_database()
    outcome: list[BaseException | PostgresStore] = []

    def open_store():
        try:
            outcome.append(PostgresStore(url))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    with psycopg.connect(url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))  # held until the holder's commit
        opener = threading.Thread(target=open_store, daemon=True)
        opener.start()
        # Waiting for the lock (on the server's clock) longer than a probe takes to come and to answer.
        with psycopg.connect(url, autocommit=True) as watcher:
            wait_for(
                lambda: (
                    watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND now() - query_start > make_interval(secs => %s)",
                        (PROBE_AFTER + 2 * PROBE_TIMEOUT,),
                    ).fetchone()[0]
                    > 0
                ),
                timeout=60,
            )
        assert opener.is_alive() and not outcome, outcome  # a lock wait on a working server: not cut
        with frozen(cluster):
            opener.join(60)
            assert not opener.is_alive(), "the open still waits on a frozen server"
        holder.rollback()
    [failure] = outcome
    assert isinstance(failure, NoAnswer) and "nor to a new connection" in str(failure), failure
