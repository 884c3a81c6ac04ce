"""The SQLite store: current articles, their earlier revisions, and one row per crawl run.

A plain class without Scrapy, so scripts, notebooks and spiders (read-only, for incremental crawls)
use the same code as the pipeline.

Durability choices:

* WAL journal: readers (a spider checking dates, an analyst) query while a crawl writes.
* ``synchronous=NORMAL``: in WAL mode a commit survives the crawler being killed (SIGKILL, OOM) —
  the WAL is in the OS page cache — and the file can never be corrupted. Only an OS crash or power
  cut can lose the last few commits, which the next crawl fetches again; ``FULL`` would add an fsync
  per item for that case alone.
* One transaction per item (``BEGIN IMMEDIATE`` … ``COMMIT``): a killed crawl never leaves a row
  half-written or an old revision without its replacement.
* One writer: an exclusive ``flock`` on ``<db>.lock``, held for the writer's lifetime. The kernel
  drops it when the process dies, however it dies, so there is no stale lock to clean up. (flock is
  advisory and unreliable on NFS: keep the store on a local disk.)
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from mayadeen.record import RECORD_KEYS, STRUCTURED_KEYS, utc_timestamp
from mayadeen.store import breaking
from mayadeen.store.captures import CAPTURES_DDL
from mayadeen.store.fts import ensure_fts

#: Bumped with every change to the tables below; ``_migrate`` upgrades older files step by step.
SCHEMA_VERSION = 2  # 2: breaking_news (mayadeen.store.breaking), warc_captures (mayadeen.store.captures)

#: The record's keys, one column each, in contract order (from the schema, like the item's fields).
RECORD_COLUMNS = RECORD_KEYS
#: Lists and objects, stored as JSON text (SQL NULL for null).
JSON_COLUMNS = frozenset(STRUCTURED_KEYS)

NEW, UPDATED, UNCHANGED = "new", "updated", "unchanged"

_DDL = (
    """CREATE TABLE IF NOT EXISTS articles (
        url TEXT PRIMARY KEY,
        article_id TEXT, kind TEXT, section_group TEXT, section TEXT,
        headline TEXT, summary TEXT, body TEXT, authors TEXT, source TEXT,
        date_published TEXT, date_modified TEXT, tags TEXT,
        read_time_minutes INTEGER, shares INTEGER, word_count INTEGER,
        image TEXT, images TEXT, video TEXT, related TEXT, language TEXT,
        scraped_at TEXT, content_hash TEXT,
        first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 1
    )""",
    "CREATE INDEX IF NOT EXISTS articles_article_id ON articles (article_id)",
    "CREATE INDEX IF NOT EXISTS articles_date_published ON articles (date_published)",
    """CREATE TABLE IF NOT EXISTS article_revisions (
        url TEXT NOT NULL,
        revision INTEGER NOT NULL,
        content_hash TEXT,
        date_modified TEXT,
        record TEXT NOT NULL,
        seen_at TEXT,
        PRIMARY KEY (url, revision)
    )""",
    """CREATE TABLE IF NOT EXISTS crawl_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        spider TEXT NOT NULL,
        arguments TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        items_new INTEGER, items_updated INTEGER, items_unchanged INTEGER, items_dropped INTEGER,
        requests INTEGER,
        responses_by_status TEXT,
        errors INTEGER,
        finish_reason TEXT,
        coverage TEXT
    )""",
    *CAPTURES_DDL,
)

#: What ``finish_run`` may set (column names never come from the caller's strings).
RUN_FIGURES = frozenset({
    "finished_at", "items_new", "items_updated", "items_unchanged", "items_dropped", "requests",
    "responses_by_status", "errors", "finish_reason", "coverage",
})  # fmt: skip


class StoreLocked(RuntimeError):
    """Another process holds the writer lock of this store."""

    def __init__(self, path: str | os.PathLike, pid: int | None):
        self.path, self.pid = str(path), pid
        holder = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"another crawl is writing {self.path} ({holder})")


class StoredDates(NamedTuple):
    """What an incremental crawl needs to decide whether to fetch a page again."""

    date_modified: str | None
    date_published: str | None
    content_hash: str | None


def _to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class ArticleStore:
    """Articles by url, their revisions and the crawl runs, in one SQLite file.

    ``ArticleStore(path)`` is the single writer: it takes the lock (waiting up to ``lock_timeout``
    seconds, else ``StoreLocked``), turns on WAL and creates or upgrades the tables.
    ``ArticleStore(path, readonly=True)`` opens an existing file for reading only, without the lock,
    and works while a writer is busy.
    """

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False, lock_timeout: float = 0.0,
                 busy_timeout: float = 10.0):
        self.path = Path(path)
        self.readonly = readonly
        self._lock_fd: int | None = None
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"no store at {self.path}")
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout)
        else:
            self._lock(lock_timeout)
            try:
                # isolation_level=None: transactions are ours (BEGIN IMMEDIATE in _write), not implicit.
                self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout)
                mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise sqlite3.OperationalError(f"{self.path}: cannot switch to WAL (journal_mode={mode})")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
            except BaseException:
                self._unlock()
                raise

    # --- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection, then let go of the writer lock (in that order: no write after it)."""
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
            self.conn = None
        self._unlock()

    def __enter__(self) -> ArticleStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _lock(self, timeout: float) -> None:
        # os.open makes a non-inheritable fd: a browser or other child process must not keep the
        # lock alive after the crawler dies.
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pid = _read_pid(fd)
                    os.close(fd)
                    raise StoreLocked(self.path, pid) from None
                time.sleep(min(0.1, remaining))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only fd releases the flock
            self._lock_fd = None

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has store schema version {version}; this code knows up to {SCHEMA_VERSION}"
            )
        with self._write() as conn:
            for statement in _DDL:
                conn.execute(statement)
            breaking.create_tables(conn)
            ensure_fts(conn)
            # Future: `if version < 2: ALTER TABLE …` steps go here, in order.
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")

    @contextmanager
    def _write(self, also: Callable[[sqlite3.Connection], None] | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any error.

        ``also(conn)`` runs at the end of a successful body, inside the transaction.
        """
        if self.readonly:
            raise PermissionError(f"{self.path} is open read-only")
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            yield self.conn
            if also is not None:
                also(self.conn)

    # --- articles -------------------------------------------------------------------------------

    def upsert(self, record: Mapping[str, Any], seen_at: str | None = None, *,
               also: Callable[[sqlite3.Connection], None] | None = None) -> str:
        """Store one record; returns ``"new"``, ``"updated"`` or ``"unchanged"``.

        Keyed by url. A different ``content_hash`` replaces the row (revision + 1) and files the old
        version in ``article_revisions``. The same hash only moves ``last_seen``: the row keeps the
        values of the fetch that first saw this content (shares, scraped_at included) — simpler, and
        a revision's row then says exactly what was seen when.

        ``also(conn)``: the caller's own writes that belong with the item (e.g. its ``warc_captures``
        row), made in the same transaction.
        """
        seen_at = seen_at or utc_timestamp()
        url = record["url"]
        values = [_to_json(record.get(c)) if c in JSON_COLUMNS else record.get(c) for c in RECORD_COLUMNS]
        with self._write(also) as conn:
            old = conn.execute(
                f"SELECT {', '.join(RECORD_COLUMNS)}, revision, last_seen FROM articles WHERE url = ?", (url,)
            ).fetchone()
            if old is None:
                conn.execute(
                    f"INSERT INTO articles ({', '.join(RECORD_COLUMNS)}, first_seen, last_seen, revision)"
                    f" VALUES ({', '.join('?' * len(RECORD_COLUMNS))}, ?, ?, 1)",
                    (*values, seen_at, seen_at),
                )
                return NEW
            old_record = self._record(old)
            revision, last_seen = old[-2], old[-1]
            if old_record["content_hash"] == record.get("content_hash"):
                conn.execute("UPDATE articles SET last_seen = ? WHERE url = ?", (seen_at, url))
                return UNCHANGED
            conn.execute(
                "INSERT INTO article_revisions (url, revision, content_hash, date_modified, record, seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (url, revision, old_record["content_hash"], old_record["date_modified"], _to_json(old_record),
                 last_seen),
            )
            assignments = ", ".join(f"{c} = ?" for c in RECORD_COLUMNS)
            conn.execute(
                f"UPDATE articles SET {assignments}, last_seen = ?, revision = ? WHERE url = ?",
                (*values, seen_at, revision + 1, url),
            )
            return UPDATED

    def get(self, url: str) -> dict[str, Any] | None:
        """The current record of ``url`` plus ``first_seen``, ``last_seen`` and ``revision``, or None."""
        row = self.conn.execute(
            f"SELECT {', '.join(RECORD_COLUMNS)}, first_seen, last_seen, revision FROM articles WHERE url = ?",
            (url,),
        ).fetchone()
        if row is None:
            return None
        record = self._record(row)
        record.update(first_seen=row[-3], last_seen=row[-2], revision=row[-1])
        return record

    def revisions(self, url: str) -> list[dict[str, Any]]:
        """Earlier versions of ``url``, oldest first: ``{revision, content_hash, date_modified, seen_at, record}``.

        ``seen_at`` is the last time that version was seen before it was replaced.
        """
        rows = self.conn.execute(
            "SELECT revision, content_hash, date_modified, seen_at, record FROM article_revisions"
            " WHERE url = ? ORDER BY revision",
            (url,),
        )
        return [
            {"revision": r, "content_hash": h, "date_modified": m, "seen_at": s, "record": json.loads(rec)}
            for r, h, m, s, rec in rows
        ]

    def stored_dates(self) -> dict[str, StoredDates]:
        """url -> (date_modified, date_published, content_hash) of every stored article, in one query.

        For incremental crawls: a listing or sitemap date not newer than the stored one means the page
        need not be fetched again.
        """
        rows = self.conn.execute("SELECT url, date_modified, date_published, content_hash FROM articles")
        return {url: StoredDates(modified, published, digest) for url, modified, published, digest in rows}

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM articles").fetchone()[0]

    @staticmethod
    def _record(row: tuple) -> dict[str, Any]:
        return {
            c: (json.loads(v) if c in JSON_COLUMNS and v is not None else v)
            for c, v in zip(RECORD_COLUMNS, row, strict=False)
        }

    # --- crawl runs -----------------------------------------------------------------------------

    def start_run(self, spider: str, arguments: Mapping[str, Any] | None = None,
                  started_at: str | None = None) -> int:
        """Record the start of a crawl; returns its run id for ``finish_run``."""
        args = json.dumps(dict(arguments or {}), ensure_ascii=False, sort_keys=True, default=str)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO crawl_runs (spider, arguments, started_at) VALUES (?, ?, ?)",
                (spider, args, started_at or utc_timestamp()),
            )
            return cursor.lastrowid

    def finish_run(self, run_id: int, **figures: Any) -> None:
        """Set a run's figures (names in RUN_FIGURES; dicts such as responses_by_status become JSON).

        ``finished_at`` defaults to now on the first call; later calls (e.g. adding ``coverage``
        after the crawl) keep it unless they pass it.
        """
        unknown = set(figures) - RUN_FIGURES
        if unknown:
            raise ValueError(f"unknown crawl run figures: {sorted(unknown)}")
        names = sorted(figures)
        assignments = [f"{n} = ?" for n in names]
        values = [_to_json(figures[n]) if isinstance(figures[n], (dict, list)) else figures[n] for n in names]
        if "finished_at" not in figures:
            assignments.append("finished_at = coalesce(finished_at, ?)")
            values.append(utc_timestamp())
        with self._write() as conn:
            conn.execute(f"UPDATE crawl_runs SET {', '.join(assignments)} WHERE id = ?", (*values, run_id))

    def runs(self) -> list[dict[str, Any]]:
        """All crawl runs, oldest first, JSON columns decoded."""
        cursor = self.conn.execute("SELECT * FROM crawl_runs ORDER BY id")
        names = [d[0] for d in cursor.description]
        out = []
        for row in cursor:
            run = dict(zip(names, row, strict=True))
            for key in ("arguments", "responses_by_status", "coverage"):
                if run[key] is not None:
                    run[key] = json.loads(run[key])
            out.append(run)
        return out


def read_stored_dates(path: str | os.PathLike) -> dict[str, StoredDates]:
    """``stored_dates()`` of the store at ``path`` read-only; empty when there is no store yet."""
    if not Path(path).exists():
        return {}
    with ArticleStore(path, readonly=True) as store:
        return store.stored_dates()


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None
