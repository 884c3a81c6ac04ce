"""Items that keep failing: remembered in the store, retried by later runs at growing intervals.

Table ``failing_items``: one row per item URL whose page was given up after its retries (5xx,
timeouts, cut or empty answers, redirect loops), with the number of runs it failed in, the first
and last failure, the last reason and ``next_attempt_at``: the first moment a later run fetches it
again (``interval * 2**(failures-1)``, at most ``longest``). A run that stores the item removes its
row. Functions take a connection in autocommit mode (``ArticleStore.conn``).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from mayadeen.record import TIMESTAMP_FORMAT, utc_timestamp

DDL = """CREATE TABLE IF NOT EXISTS failing_items (
    url TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    first_failed_at TEXT NOT NULL,
    last_failed_at TEXT NOT NULL,
    last_reason TEXT,
    next_attempt_at TEXT NOT NULL
)"""


def migrate(conn: sqlite3.Connection) -> None:
    conn.execute(DDL)


def next_attempts(conn: sqlite3.Connection) -> dict[str, str]:
    """url -> ``next_attempt_at`` of every failing item."""
    return dict(conn.execute("SELECT url, next_attempt_at FROM failing_items"))


def record_failure(conn: sqlite3.Connection, url: str, reason: str, interval: float, longest: float) -> dict:
    """Counts one more failed run for ``url``; returns its row (``failures``, ``first_failed_at``,
    ``next_attempt_at``)."""
    now = datetime.now(timezone.utc)
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT failures, first_failed_at FROM failing_items WHERE url = ?", (url,)).fetchone()
        failures, first = (row[0] + 1, row[1]) if row else (1, utc_timestamp(now))
        wait = min(longest, interval * 2 ** (failures - 1))
        next_at = (now + timedelta(seconds=wait)).strftime(TIMESTAMP_FORMAT)
        conn.execute(
            "INSERT INTO failing_items (url, failures, first_failed_at, last_failed_at, last_reason, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET failures = excluded.failures,"
            " last_failed_at = excluded.last_failed_at, last_reason = excluded.last_reason,"
            " next_attempt_at = excluded.next_attempt_at",
            (url, failures, first, utc_timestamp(now), reason, next_at))
    return {"failures": failures, "first_failed_at": first, "next_attempt_at": next_at}


def clear(conn: sqlite3.Connection, url: str) -> bool:
    """Forgets ``url`` (its item was stored); whether it was failing."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        return conn.execute("DELETE FROM failing_items WHERE url = ?", (url,)).rowcount > 0


def failing(conn: sqlite3.Connection) -> list[tuple[str, int, str]]:
    """``(url, failures, next_attempt_at)`` of every failing item, most failures first."""
    return list(conn.execute("SELECT url, failures, next_attempt_at FROM failing_items ORDER BY failures DESC, url"))
