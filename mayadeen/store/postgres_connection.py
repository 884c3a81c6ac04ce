"""A connection to PostgreSQL that cannot hang a crawl: bounded connects, keepalives, and a watchdog
that cuts a connection whose transaction has no end.

A hung server (stopped, or a network that drops packets) leaves the socket open and a read waiting
forever; a stopped process's kernel still acknowledges, so TCP keepalives alone do not end it. The
watchdog shuts the socket down (on a duplicate of its descriptor: psycopg still owns and closes its
own), so the blocked read returns and psycopg raises ``OperationalError``, the connection lost, which
the store's retry loop handles like a server that went away.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

#: TCP keepalive probes on an idle connection (seconds before the first, between two, how many): a
#: network that drops packets ends the connection instead of leaving it open forever.
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


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


def connect(
    url: str, *, lock_timeout: float, retry_timeout: float, answer_timeout: float, readonly: bool
) -> psycopg.Connection:
    """A connection in autocommit, UTC, with ``lock_timeout`` (seconds) on row locks, read-only if asked."""
    conn = psycopg.connect(
        url,
        autocommit=True,
        # A connection attempt gets no more than the retry window (libpq's least is 2 s).
        connect_timeout=max(2, min(10, round(retry_timeout))),
        tcp_user_timeout=round(answer_timeout * 1000),  # data unacknowledged this long: lost
        **_KEEPALIVES,
    )
    conn.execute(f"SET lock_timeout = {int(lock_timeout * 1000):d}")
    conn.execute("SET TIME ZONE 'UTC'")
    if readonly:
        conn.execute("SET default_transaction_read_only = on")
    return conn


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
