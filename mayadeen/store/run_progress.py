"""A run's ``crawl_runs`` row while the run goes on: who runs it, its figures so far, how it ended.

Columns added to ``crawl_runs`` (by ``migrate``, idempotent):

``pid``, ``host``
    the process that runs the crawl, so that the next run can tell a crawl that is still running
    from one that was killed (SIGKILL, OOM, power cut) and never finished its row;
``updated_at``
    when the row's figures were last brought up to date (every ``MAYADEEN_PROGRESS_INTERVAL``);
``result``
    ``ok``, or why the run failed (the ``crawl`` command's verdict, the same as its summary line);
    ``killed`` for a run the next run found dead.

Functions take a connection in autocommit mode (``isolation_level=None``, as ``ArticleStore.conn``)
and write in short transactions of their own.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from mayadeen.processes import is_running
from mayadeen.record import utc_timestamp

COLUMNS = {"pid": "INTEGER", "host": "TEXT", "updated_at": "TEXT", "result": "TEXT"}
#: The result and finish reason of a run that died without closing its row.
KILLED = "killed"
#: The figures ``update`` may set (column names never come from the caller's strings).
FIGURES = frozenset({"items_new", "items_updated", "items_unchanged", "items_dropped", "requests", "errors"})


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        yield conn


def migrate(conn: sqlite3.Connection) -> None:
    with _transaction(conn):
        present = {row[1] for row in conn.execute("PRAGMA table_info(crawl_runs)")}
        for name, kind in COLUMNS.items():
            if name not in present:
                conn.execute(f"ALTER TABLE crawl_runs ADD COLUMN {name} {kind}")


def claim(conn: sqlite3.Connection, run_id: int) -> None:
    """Marks ``run_id`` as this process's run."""
    with _transaction(conn):
        conn.execute("UPDATE crawl_runs SET pid = ?, host = ?, updated_at = ? WHERE id = ?",
                     (os.getpid(), socket.gethostname(), utc_timestamp(), run_id))


def _alive(pid: int | None) -> bool:
    if not pid or pid == os.getpid():
        return False  # our pid on another run's row: that run's process is gone
    return is_running(pid)


def died(pid: int | None, host: str | None) -> bool:
    """Whether the process of an unfinished run is gone (unknown host: gone; another host: unknowable)."""
    return host is None or (host == socket.gethostname() and not _alive(pid))


def mark_killed(conn: sqlite3.Connection, current_run: int) -> list[int]:
    """Closes the rows of runs that died without finishing (on this host, or of unknown host).

    Their ``finished_at`` becomes the last time they were seen alive; finish reason and result
    ``killed``. Returns their ids.
    """
    rows = conn.execute("SELECT id, pid, host FROM crawl_runs WHERE finished_at IS NULL AND id != ?", (current_run,))
    dead = [run for run, pid, run_host in rows.fetchall() if died(pid, run_host)]
    if dead:
        with _transaction(conn):
            conn.executemany(
                "UPDATE crawl_runs SET finished_at = coalesce(updated_at, started_at), finish_reason = ?,"
                " result = ? WHERE id = ? AND finished_at IS NULL", [(KILLED, KILLED, run) for run in dead])
    return dead


def update(conn: sqlite3.Connection, run_id: int, figures: Mapping[str, Any]) -> None:
    """The run's figures so far (names in FIGURES), and ``updated_at`` = now."""
    names = sorted(set(figures) & FIGURES)
    assignments = "".join(f"{n} = ?, " for n in names)
    with _transaction(conn):
        conn.execute(f"UPDATE crawl_runs SET {assignments}updated_at = ? WHERE id = ?",
                     (*(figures[n] for n in names), utc_timestamp(), run_id))


def record_result(conn: sqlite3.Connection, run_id: int, result: str, finish_reason: str | None = None) -> None:
    """Sets a run's ``result`` (and ``finish_reason``/``finished_at`` when the run never closed its row)."""
    migrate(conn)
    with _transaction(conn):
        conn.execute("UPDATE crawl_runs SET result = ?, finish_reason = coalesce(finish_reason, ?),"
                     " finished_at = coalesce(finished_at, ?) WHERE id = ?",
                     (result, finish_reason, utc_timestamp(), run_id))
