"""Items that keep failing: remembered in the store, retried by later runs at growing intervals.

Table ``failing_items``: one row per item URL whose page was given up after its retries (5xx,
timeouts, cut or empty answers, redirect loops), with the number of runs it failed in, the first
and last failure, the last reason and ``next_attempt_at``: the first moment a later run fetches it
again (``interval * 2**(failures-1)``, at most ``longest``). A run that stores the item removes its
row. The functions work on either engine (``mayadeen.store.interface.Store``); both create the table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mayadeen.record import TIMESTAMP_FORMAT, utc_timestamp
from mayadeen.store.interface import Store

#: SQLite's table, created with the store's other tables (PostgreSQL's: ``mayadeen.store.postgres_schema``).
DDL = """CREATE TABLE IF NOT EXISTS failing_items (
    url TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    first_failed_at TEXT NOT NULL,
    last_failed_at TEXT NOT NULL,
    last_reason TEXT,
    next_attempt_at TEXT NOT NULL
)"""


def next_attempts(store: Store) -> dict[str, str]:
    """url -> ``next_attempt_at`` of every failing item."""
    rows = store.read(lambda: store.rows("SELECT url, next_attempt_at FROM failing_items"))
    return {row["url"]: row["next_attempt_at"] for row in rows}


def record_failure(
    store: Store,
    url: str,
    reason: str,
    interval: float,
    longest: float,
    *,
    existing_only: bool = False,
    first_due_now: bool = False,
) -> dict | None:
    """Counts one more failed run for ``url``; returns its row (``failures``, ``first_failed_at``,
    ``next_attempt_at``). ``existing_only``: only for an item failing still (None when it is not);
    ``first_due_now``: a new row is due at once (asked for by the next run, not kept from it)."""
    now = datetime.now(UTC)

    def count() -> dict | None:
        row = store.row("SELECT failures, first_failed_at FROM failing_items WHERE url = $1", (url,))
        if row is None and existing_only:
            return None
        failures, first = (row["failures"] + 1, row["first_failed_at"]) if row else (1, utc_timestamp(now))
        wait = 0 if first_due_now and row is None else min(longest, interval * 2 ** (failures - 1))
        next_at = (now + timedelta(seconds=wait)).strftime(TIMESTAMP_FORMAT)
        store.run(
            "INSERT INTO failing_items (url, failures, first_failed_at, last_failed_at, last_reason, next_attempt_at)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (url) DO UPDATE SET failures = excluded.failures,"
            " last_failed_at = excluded.last_failed_at, last_reason = excluded.last_reason,"
            " next_attempt_at = excluded.next_attempt_at",
            (url, failures, first, utc_timestamp(now), reason, next_at),
        )
        return {"failures": failures, "first_failed_at": first, "next_attempt_at": next_at}

    return store.write(count, serial=f"failing_items {url}")


def clear(store: Store, url: str) -> bool:
    """Forgets ``url`` (its item was stored); whether it was failing."""
    return store.write(lambda: store.run("DELETE FROM failing_items WHERE url = $1", (url,))) > 0


def failing(store: Store) -> list[tuple[str, int, str]]:
    """``(url, failures, next_attempt_at)`` of every failing item, most failures first."""
    rows = store.read(
        lambda: store.rows("SELECT url, failures, next_attempt_at FROM failing_items ORDER BY failures DESC, url")
    )
    return [(row["url"], row["failures"], row["next_attempt_at"]) for row in rows]
