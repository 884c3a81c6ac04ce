"""Whether a SQLite store is sound: a cheap look before every run, the full check when it is due.

``PRAGMA quick_check`` reads every page of the file: 1.2–1.6 s a run on a 1.4 GB store, growing with
the archive. A store written by this crawler is damaged only by something outside it (a disk, a
copy, an edit) or by a run that died mid-write, so before each run only what is cheap is read:

* ``look``: the header, the schema (page 1 and ``sqlite_master``), the migrations applied and the last
  ``crawl_runs`` row; it says whether the full check is due: when the last run did not close its row
  (its process is gone), or when no run is on record (a file this crawler did not write);
* ``integrity_check``: ``PRAGMA integrity_check``, every page and index, read-only; run then, and on
  demand by ``scrapy storecheck`` (weekly, from cron or a timer).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from mayadeen.store.run_progress import died
from mayadeen.store.schema import applied

SQLITE_HEADER = b"SQLite format 3\x00"


class NotSqlite(ValueError):
    """The file does not start with SQLite's header."""


@dataclass(frozen=True)
class Look:
    """What the cheap look found: the schema version and why the full check is due (None: not due)."""

    schema_version: int
    full_check_due: str | None


def _open(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)


def _last_run_unclosed(conn: sqlite3.Connection) -> str | None:
    """Why the last run calls for the full check: none on record, or it died without closing its row."""
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "crawl_runs" not in tables:
        return "no crawl run on record"
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT * FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return "no crawl run on record"
    row = dict(row)
    if row.get("result") == "killed" or (row["finished_at"] is None and died(row.get("pid"), row.get("host"))):
        return f"the last run (crawl_runs id {row['id']}) did not close cleanly"
    return None


def look(path: Path) -> Look:
    """The cheap look (a few pages). NotSqlite, or sqlite3.DatabaseError when even those are damaged."""
    with path.open("rb") as f:
        if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise NotSqlite(f"{path} is not a SQLite database")
    conn = _open(path)
    try:
        version = applied(conn)
        return Look(version, _last_run_unclosed(conn))
    finally:
        conn.close()


def integrity_check(path: Path, limit: int = 1) -> list[str]:
    """The problems ``PRAGMA integrity_check`` finds (at most ``limit``, one line each); an empty list
    when sound. (SQLite may put several on one row.)"""
    try:
        conn = _open(path)
        try:
            rows = conn.execute(f"PRAGMA integrity_check({int(limit)})")
            found = [line.strip() for (text,) in rows for line in text.splitlines() if line.strip()][:limit]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        found = [str(exc)]
    return [] if found == ["ok"] else found
