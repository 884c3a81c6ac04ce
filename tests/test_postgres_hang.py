"""A PostgreSQL server that hangs mid-crawl (every process stopped: a server stuck, or a network that
drops packets, where the socket stays open and nothing answers) is a server gone: the crawl's store
calls give up after ``MAYADEEN_STORE_RETRY_TIMEOUT``, the items are counted lost, and the crawl ends
and its process exits, while PostgreSQL still hangs."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest
from twisted.internet.threads import blockingCallFromThread

from mayadeen.ordered_thread import OrderedThread
from tests import inprocess
from tests.conftest import ROOT, expected_records
from tests.scheduled import crawl_command, wait_for
from tests.test_distributed_store import stored_count
from tests.test_months_of_runs import HoldingServer
from tests.test_store_off_reactor import server_processes, signal_if_alive

#: Small windows: the item the freeze catches costs the watchdog's probe (2 s) and the retry window (a
#: connection attempt: libpq's least, 2 s); each next transaction one attempt (the window is the outage's).
SETTINGS = {
    "MAYADEEN_SQLITE_BUSY_TIMEOUT": "1",
    "MAYADEEN_STORE_RETRY_TIMEOUT": "1",
    "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",
    "MAYADEEN_WARC_DIR": "",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "1",
}
ANSWERED = 3  # item pages answered before the freeze; the others are held until it is done


@pytest.mark.soak
def test_a_crawl_ends_while_postgresql_hangs(tmp_path):
    """Every PostgreSQL process stopped mid-crawl: the crawl warns, counts the items lost (every item
    stored or counted), fails and exits, each transaction after the retry window trying the server once."""
    from tests.postgres_server import PostgresCluster

    cluster = PostgresCluster().start()  # its own: the session's cluster stays up for the other tests
    frozen: list[int] = []
    proc = None
    try:
        url = cluster.new_database()
        with HoldingServer(answered=ANSWERED) as srv:
            cmd, env = crawl_command(
                "sitemap", srv.url, tmp_path, args={"js": "0"}, settings={**SETTINGS, "MAYADEEN_STORE_URL": url}
            )
            with (tmp_path / "crawl.log").open("wb") as log:
                proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                # Mid-crawl by construction: an item stored, and an item page held (the crawl cannot end).
                wait_for(
                    lambda: (stored_count(url) >= 1 and srv.items > ANSWERED) or proc.poll() is not None, timeout=120
                )
                assert proc.poll() is None, "the crawl ended before anything was frozen"
                frozen = server_processes(cluster)
                for pid in frozen:
                    signal_if_alive(pid, signal.SIGSTOP)
            finally:
                srv.release.set()
            try:
                proc.wait(240)
            except subprocess.TimeoutExpired:
                raise AssertionError("the crawl did not end while PostgreSQL hung") from None
        for pid in frozen:
            signal_if_alive(pid, signal.SIGCONT)
        stored = stored_count(url)
        log = (tmp_path / "crawl.log").read_text()
        assert "WARNING: PostgreSQL store postgresql://" in log and "unreachable" in log, log[-3000:]
        assert "longer than its retry window" in log, log[-3000:]
        assert "ERROR: Could not store" in log, log[-3000:]
        lost = int(log.split("'mayadeen/lost/store': ", 1)[1].split(",", 1)[0])
        assert lost >= 1 and stored + lost >= len(expected_records()), (stored, lost, log[-3000:])
        assert proc.returncode == 1 and "result=FAILED (lost_records)" in log, log[-3000:]
    finally:
        for pid in frozen:
            signal_if_alive(pid, signal.SIGCONT)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        cluster.stop()


HUNG_CALL_AT_SHUTDOWN = """
import threading
from twisted.internet import reactor
from mayadeen.ordered_thread import OrderedThread

thread = OrderedThread(reactor, "hung")
thread.submit(threading.Event().wait)  # a call that never returns, as on a server that stopped answering
reactor.callLater(0.2, reactor.stop)  # an unclean shutdown: the thread is never closed
reactor.run()
print("reactor stopped", flush=True)
"""


@pytest.mark.soak  # the process is the point, and a real 5 s wait (SHUTDOWN_WAIT); quick twin below
def test_the_process_exits_with_a_call_hung_in_its_ordered_thread():
    """The reactor's shutdown waits a bounded time for a thread whose call hangs, and the process exits."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HUNG_CALL_AT_SHUTDOWN], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the process did not exit with a call hung in its thread") from None
    assert proc.returncode == 0 and b"reactor stopped" in out, out


def test_a_call_hung_in_an_ordered_thread_never_holds_the_process():
    """The thread of a call that hangs is a daemon: the interpreter exits without it (the quick twin of
    the test above, in process)."""
    shared = inprocess.reactor()
    thread = blockingCallFromThread(shared, OrderedThread, shared, "hung-call")
    started, release = threading.Event(), threading.Event()
    thread.submit(lambda: (started.set(), release.wait(60)))
    try:
        assert started.wait(30), "the call did not start"
        hung = [t for t in threading.enumerate() if "hung-call" in t.name and t.is_alive()]
        assert hung and all(t.daemon for t in hung), [(t.name, t.daemon) for t in hung]
    finally:
        release.set()
        blockingCallFromThread(shared, thread.stop)
