"""A connection to PostgreSQL that cannot hang a crawl or a reader: bounded connects, keepalives, and
a watchdog on every round trip to the server.

A hung server (every process stopped, or a network that drops packets) leaves the socket open and a
read waiting forever; a stopped process's kernel still acknowledges, so TCP keepalives and
``tcp_user_timeout`` alone do not end it, and a server-side ``statement_timeout`` is enforced by the
very server that does not answer. So the bound is the client's: every round trip of the connection
(each statement, fetch, commit and rollback: psycopg runs them all through ``Connection.wait``, which
``WatchedConnection`` marks) is watched by a thread of its own (``Watchdog``), which

* after ``PROBE_AFTER`` seconds without an answer asks the server whether it is alive, on a
  connection of its own (connect, ``SELECT 1``, each within ``PROBE_TIMEOUT``) — asked again every
  ``PROBE_EVERY`` seconds while the wait lasts. A server that answers the probe, even with an error
  (too many connections), is working: the round trip is a lock wait or a long statement, bounded by
  the server's own ``lock_timeout``, and goes on. A server that answers nothing is hung: the
  connection is cut at once, so a dead server is noticed in about ``PROBE_AFTER + PROBE_TIMEOUT``
  seconds (4 to 6), not after the longest lock wait;
* cuts the connection anyway once a round trip has had no answer for ``answer_timeout`` seconds
  (the store's ``lock_timeout + retry_timeout``: longer than any lock wait it may make), a server
  that answers probes but not this connection (its backend stopped alone) — except inside
  ``long_statements`` (the migrations at open: rewriting a big table takes minutes on a live server).

Cutting shuts the socket down on a duplicate of its descriptor (psycopg still owns and closes its
own), so the blocked read returns and the call raises ``NoAnswer`` (an ``OperationalError``, the
connection lost, with a sentence saying why): the store's retry loop handles it like a server that
went away, and a call outside it (a reader's ``get``, ``count``, ``iter_records``, the migrations
at open) fails with that sentence.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

#: TCP keepalive probes on an idle connection (seconds before the first, between two, how many): a
#: network that drops packets ends the connection instead of leaving it open forever.
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
#: Seconds a round trip goes unanswered before the server is probed, and between two probes.
PROBE_AFTER, PROBE_EVERY = 2.0, 5.0
#: Seconds the probe's connect (libpq's least) and its ``SELECT 1`` each get.
PROBE_TIMEOUT = 2
#: How often the watchdog looks at the round trip in progress.
_LOOK_EVERY = 0.25


class NoAnswer(psycopg.OperationalError):
    """The server answered nothing in time: the connection was cut (the message says why)."""


def cut_connection(conn: psycopg.Connection) -> None:
    """Shuts ``conn``'s socket down (on a duplicate of its descriptor: psycopg still owns and closes its
    own), so a read blocked on it returns and psycopg raises ``OperationalError``, the connection lost."""
    try:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
    except (OSError, psycopg.Error):  # closed meanwhile: nothing to cut
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already shut down, or never connected: as good as cut
    finally:
        sock.close()


@contextmanager
def cut_after(conn: psycopg.Connection, seconds: float) -> Iterator[None]:
    """``conn`` cut (``cut_connection``) if the block has not ended after ``seconds``."""
    watchdog = threading.Timer(seconds, cut_connection, (conn,))
    watchdog.daemon = True  # a hung call never keeps the process from exiting
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


def server_answers(url: str) -> str | None:
    """None when the server at ``url`` answers (a result or an error of its own), else why not."""
    try:
        with psycopg.connect(url, connect_timeout=PROBE_TIMEOUT, autocommit=True) as probe:
            with cut_after(probe, PROBE_TIMEOUT):
                probe.execute("SELECT 1")
    except psycopg.Error as exc:
        if getattr(exc, "sqlstate", None):
            return None  # an error the server sent: it is alive
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    return None


class Watchdog(threading.Thread):
    """Watches ``conn``'s round trips (see the module docstring); ends with the connection."""

    def __init__(self, conn: WatchedConnection, url: str, location: str, answer_timeout: float):
        super().__init__(name="mayadeen-postgres-watchdog", daemon=True)  # never keeps the process alive
        self.conn = conn
        self.url = url
        self.location = location
        self.answer_timeout = answer_timeout
        self.since: float | None = None  # set by the connection's thread while a round trip waits
        self.verdict: str | None = None  # why the connection was cut
        self.probes = 0  # probes made (a working server's lock wait is probed, not cut)
        self.stopped = threading.Event()

    def run(self) -> None:
        probed_at = None
        while not self.stopped.wait(_LOOK_EVERY) and not self.conn.closed:
            since = self.since
            if since is None:
                probed_at = None
                continue
            now = time.monotonic()
            if now - since >= self.answer_timeout:
                self._cut(f"no answer for {now - since:.0f}s")
            elif now - since >= PROBE_AFTER and (
                probed_at is None or probed_at < since or now - probed_at >= PROBE_EVERY
            ):
                probed_at = now
                self.probes += 1
                silent = server_answers(self.url)
                if silent is not None and self.since == since:
                    self._cut(f"no answer for {time.monotonic() - since:.0f}s, nor to a new connection ({silent})")

    def _cut(self, why: str) -> None:
        self.verdict = f"PostgreSQL at {self.location} does not answer: {why}; connection cut"
        cut_connection(self.conn)
        self.stopped.set()


class WatchedConnection(psycopg.Connection):
    """A psycopg connection whose every round trip its ``Watchdog`` bounds (``watch`` starts it)."""

    watchdog: Watchdog | None = None

    def watch(self, url: str, location: str, answer_timeout: float) -> None:
        self.watchdog = Watchdog(self, url, location, answer_timeout)
        self.watchdog.start()

    def wait(self, gen, *args, **kwargs):
        # psycopg consumes every statement, fetch, commit and rollback of the connection here.
        watchdog = self.watchdog
        if watchdog is None:
            return super().wait(gen, *args, **kwargs)
        watchdog.since = time.monotonic()
        try:
            return super().wait(gen, *args, **kwargs)
        except psycopg.OperationalError as exc:
            if watchdog.verdict is not None:
                raise NoAnswer(watchdog.verdict) from exc
            raise
        finally:
            watchdog.since = None

    @contextmanager
    def long_statements(self) -> Iterator[None]:
        """Round trips that may take long on a live server (a migration rewriting a big table): no
        ceiling on their wait, only a server that answers no probe has the connection cut."""
        watchdog = self.watchdog
        if watchdog is None:
            yield
            return
        ceiling, watchdog.answer_timeout = watchdog.answer_timeout, math.inf
        try:
            yield
        finally:
            watchdog.answer_timeout = ceiling

    def close(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stopped.set()
        super().close()


def connect(
    url: str, *, location: str, lock_timeout: float, retry_timeout: float, answer_timeout: float, readonly: bool
) -> WatchedConnection:
    """A watched connection in autocommit, UTC, with ``lock_timeout`` (seconds) on locks, read-only if
    asked."""
    conn = WatchedConnection.connect(
        url,
        autocommit=True,
        # A connection attempt gets no more than the retry window (libpq's least is 2 s).
        connect_timeout=max(2, min(10, round(retry_timeout))),
        tcp_user_timeout=round(answer_timeout * 1000),  # data unacknowledged this long: lost
        **_KEEPALIVES,
    )
    conn.watch(url, location, answer_timeout)
    conn.execute(f"SET lock_timeout = {int(lock_timeout * 1000):d}")
    conn.execute("SET TIME ZONE 'UTC'")
    if readonly:
        conn.execute("SET default_transaction_read_only = on")
    return conn
