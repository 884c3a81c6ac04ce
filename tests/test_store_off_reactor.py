"""A store that waits (a SQLite file locked by another writer, a PostgreSQL server that is down) stops
no download: every store call of a crawl runs off the reactor thread (``mayadeen.pipelines.store_thread``).

In-process crawls against the fixture server; while the store waits, the test shows the crawl going
on: requests keep reaching the server (a crawl sends its next request only from a running reactor, two
at a time here) and a call put on the reactor runs.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mayadeen.site_server import write_answer
from mayadeen.store.engines import POSTGRESQL, StoreTarget, connect
from mayadeen.urls import PUBLIC_URL, item_kind
from tests import inprocess
from tests.conftest import expected_records
from tests.fixture_server import FixtureServer
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import stored, wait_for

P = PUBLIC_URL
#: Two requests at a time, one try: the next request needs the reactor; a 500 is given up at once.
SETTINGS = {"CONCURRENT_REQUESTS": "2", "CONCURRENT_REQUESTS_PER_DOMAIN": "2", "RETRY_TIMES": "0"}
#: Longer than any deadline of these tests: a store wait made on the reactor would show as a stall.
LONG_WAIT = "120"


class GatedServer(FixtureServer):
    """Holds the sitemaps until ``gate`` is set (``held`` is set once one waits); with ``fail_first``,
    answers the first item page requested with a 500 (``failing``: its path)."""

    def __init__(self, *, fail_first: bool = False):
        super().__init__()
        self.gate, self.held = threading.Event(), threading.Event()
        self.fail_first = fail_first
        self.failing: str | None = None

    def handle(self, handler, answer) -> None:
        path = urlsplit(handler.path).path
        if path.startswith("/sitemaps/"):
            self.held.set()
            self.gate.wait(120)
        elif self.fail_first and item_kind(P + path):
            with self._lock:
                self.failing = self.failing or path
                first = self.failing == path
            if first:
                answer = type(answer)(500, "text/plain", b"failing")
        write_answer(handler, answer)

    def item_requests(self) -> Counter:
        return Counter(path for path in (urlsplit(p).path for p in self.paths()) if item_kind(P + path))


class Meanwhile(threading.Thread):
    """``steps()`` in a thread of the test while the crawl runs in the main one (its command installs
    signal handlers); ``check()`` raises what the steps raised."""

    def __init__(self, steps):
        super().__init__(daemon=True)
        self.steps = steps
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.steps()
        except BaseException as exc:  # re-raised in the test's thread
            self.error = exc

    def check(self) -> None:
        self.join(60)
        assert not self.is_alive(), "the steps did not end"
        if self.error is not None:
            raise self.error


def sitemap_crawl_while(steps, srv, tmp_path, settings: dict):
    """A sitemap crawl in process against ``srv`` while ``steps()`` run in a thread of the test."""
    meanwhile = Meanwhile(steps)
    meanwhile.start()
    result = crawl_in_process("sitemap", srv.url, tmp_path, settings=settings, check=False, timeout=240)
    meanwhile.check()
    return result


def reactor_runs(timeout: float = 10.0) -> bool:
    """Whether a call put on the crawl's reactor runs within ``timeout`` seconds."""
    ran = threading.Event()
    inprocess.reactor().callFromThread(ran.set)
    return ran.wait(timeout)


def test_downloads_go_on_while_the_sqlite_store_is_locked(tmp_path):
    """Another writer holds the store (``BEGIN EXCLUSIVE``) while the crawl reads the sitemaps and fetches
    every item: freshness lookups and WARC revisit lookups read (WAL readers do not wait for a writer),
    the items' writes and the given-up item's ``failing_items`` row wait for the lock in the store
    threads, and the reactor goes on. Once the lock is released, every item is stored."""
    settings = {**SETTINGS, "MAYADEEN_SQLITE_BUSY_TIMEOUT": LONG_WAIT, "MAYADEEN_STORE_REACTOR_TIMEOUT": LONG_WAIT}
    store = tmp_path / "mayadeen.sqlite"

    def steps() -> None:
        assert srv.held.wait(60), "no sitemap requested"  # the store pipeline has opened the store
        locker = sqlite3.connect(store, isolation_level=None, timeout=30)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            srv.gate.set()
            # Every item page requested while the lock is held, the failing one given up early on.
            wait_for(lambda: len(srv.item_requests()) == len(expected_records()), timeout=60)
            assert reactor_runs()
            assert locker.in_transaction and stored(store) == {}  # nothing got past the lock
        finally:
            srv.gate.set()
            locker.execute("ROLLBACK")
            locker.close()

    with GatedServer(fail_first=True) as srv:
        result = sitemap_crawl_while(steps, srv, tmp_path, settings)
    failing = P + srv.failing
    assert set(stored(store)) == set(expected_records()) - {failing}, result.log[-3000:]
    with sqlite3.connect(store) as con:
        assert [url for (url,) in con.execute("SELECT url FROM failing_items")] == [failing]
    assert set(srv.item_requests().values()) == {1}  # each item page fetched once


class Said(logging.Handler):
    """``seen`` is set once logger ``name`` logs a message with ``words`` in it (while entered)."""

    def __init__(self, name: str, words: str):
        super().__init__()
        self.logger, self.words = logging.getLogger(name), words
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.seen.set()

    def __enter__(self) -> Said:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)


def test_downloads_go_on_while_postgresql_is_down(tmp_path):
    """PostgreSQL stops once the crawl has opened the store, before it reads a sitemap: the freshness
    lookups of the sitemaps' items wait for the server off the reactor, so every sitemap is still read
    (each monthly one is requested only once the index has been read, on the reactor). Once the server
    is back, the crawl stores every item, each fetched once."""
    from tests.postgres_server import PostgresCluster

    cluster = PostgresCluster().start()  # its own: the session's cluster stays up for the other tests
    try:
        url = cluster.new_database()
        settings = {
            **SETTINGS,
            "MAYADEEN_STORE_URL": url,
            "MAYADEEN_STORE_RETRY_TIMEOUT": LONG_WAIT,
            "MAYADEEN_STORE_REACTOR_TIMEOUT": LONG_WAIT,
        }

        def steps() -> None:
            assert srv.held.wait(60), "no sitemap requested"  # the store pipeline has opened the store
            cluster.stop_server()
            try:
                srv.gate.set()
                assert watch.seen.wait(60), "no store call met the stopped server"
                wait_for(lambda: sitemaps <= {urlsplit(p).path for p in srv.paths()}, timeout=60)
                assert reactor_runs()
            finally:
                srv.gate.set()
                cluster.start_server()

        # mayadeen.store.postgres says when a store call finds the server gone
        with GatedServer() as srv, Said("mayadeen.store.postgres", "unreachable") as watch:
            sitemaps = {path for path in srv.site.entries if path.startswith("/sitemaps/")}
            result = sitemap_crawl_while(steps, srv, tmp_path, settings)
        log = result.log
        assert result.returncode == 0 and "result=ok" in log.strip().splitlines()[-1], log[-3000:]
        with connect(StoreTarget(POSTGRESQL, url), readonly=True) as store:
            assert {record["url"] for record in store.iter_records()} == set(expected_records())
        assert set(srv.item_requests().values()) == {1} and len(srv.item_requests()) == len(expected_records())
    finally:
        cluster.stop()


def server_processes(cluster) -> list[int]:
    """The PostgreSQL server's processes: the postmaster and its children (one backend per connection)."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == postmaster:  # ppid
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def signal_if_alive(pid: int, signum: int) -> None:
    """A backend of a connection closed just before may exit meanwhile: it needs no freezing."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


class FreezeStoreAtClose(logging.Handler):
    """Freezes the PostgreSQL server (SIGSTOP: connections hang, as on a lost network) when the engine
    says it closes the spider, on the reactor thread, before the close's reads; ``told`` is set once
    the item-count monitor's read of the earlier runs has given up. ``thaw()`` lets the server go on."""

    ENGINE, HISTORY = "scrapy.core.engine", "mayadeen.monitors.history"

    def __init__(self, cluster):
        super().__init__()
        self.cluster = cluster
        self.frozen: list[int] = []
        self.stopped, self.told = threading.Event(), threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Closing spider (") and not self.stopped.is_set():
            self.frozen = server_processes(self.cluster)
            for pid in self.frozen:
                signal_if_alive(pid, signal.SIGSTOP)
            self.stopped.set()
        elif "could not read the earlier runs" in message:
            self.told.set()

    def thaw(self) -> None:
        frozen, self.frozen = self.frozen, []
        for pid in frozen:
            signal_if_alive(pid, signal.SIGCONT)

    def __enter__(self) -> FreezeStoreAtClose:
        for name in (self.ENGINE, self.HISTORY):
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        for name in (self.ENGINE, self.HISTORY):
            logging.getLogger(name).removeHandler(self)
        self.thaw()


@pytest.mark.soak  # PostgreSQL hung at close; quick: the downloads go on while it is down
def test_the_item_count_monitor_reads_off_the_reactor_while_the_store_hangs(tmp_path):
    """PostgreSQL hangs (every process stopped) as the spider closes: the item-count monitor's read of
    the earlier runs waits off the reactor (a call put on it keeps running; PostgreSQL has no
    statement timeout here, a new connection waits 10 s), gives up after
    ``MAYADEEN_STORE_REACTOR_TIMEOUT`` with a WARNING, and the monitor says it could not read; once the
    server goes on, the close files the run."""
    from tests.postgres_server import PostgresCluster

    cluster = PostgresCluster().start()  # its own: the session's cluster stays up for the other tests
    try:
        url = cluster.new_database()
        settings = {**SETTINGS, "MAYADEEN_STORE_URL": url, "MAYADEEN_STORE_REACTOR_TIMEOUT": "2"}

        def steps() -> None:
            try:
                assert freeze.stopped.wait(120), "the spider did not close"
                deadline = time.monotonic() + 60
                while True:  # the reactor checked at least once while the server is frozen
                    assert reactor_runs(timeout=3), "the reactor stopped while the store hung"
                    if freeze.told.is_set():
                        break
                    assert time.monotonic() < deadline, "the monitor's read did not give up"
            finally:
                freeze.thaw()

        with FixtureServer() as srv, FreezeStoreAtClose(cluster) as freeze:
            result = sitemap_crawl_while(steps, srv, tmp_path, settings)
        log = result.log
        assert result.returncode == 0 and "result=ok" in log.strip().splitlines()[-1], log[-3000:]
        assert "WARNING: The item-count monitor could not read the earlier runs from postgresql://" in log
        assert "Item count/items seen near the usual count... SKIPPED (could not read the earlier runs" in log
        with connect(StoreTarget(POSTGRESQL, url), readonly=True) as store:  # the run filed once the server went on
            assert [run["finish_reason"] for run in store.rows("SELECT finish_reason FROM crawl_runs")] == ["finished"]
            assert {record["url"] for record in store.iter_records()} == set(expected_records())
    finally:
        cluster.stop()
