"""The SQLite store: current articles, their earlier revisions, and one row per crawl run.

A plain class without Scrapy, so scripts, notebooks and spiders use the same code as the pipeline.
Tables and upgrades: ``mayadeen.store.schema``.

Durability and sharing:

* WAL journal: readers (a spider checking dates, an analyst) query while crawls write.
* ``synchronous=NORMAL``: in WAL mode a commit survives the crawler being killed (SIGKILL, OOM) —
  the WAL is in the OS page cache — and the file can never be corrupted. Only an OS crash or power
  cut can lose the last few commits, which the next crawl fetches again; ``FULL`` would add an fsync
  per item for that case alone.
* Several writers: every write is one short transaction (``BEGIN IMMEDIATE`` … ``COMMIT``, one per
  item or run row), and a writer finding another's transaction open waits for it up to
  ``busy_timeout`` seconds. Each transaction reads the item's state and writes it in one go, so two
  crawls storing the same item at once give one row and at most one revision; a killed crawl never
  leaves a row half-written or an old revision without its replacement. (SQLite's locks need a
  local disk: keep the store off NFS.)
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mayadeen.record import utc_timestamp
from mayadeen.store import schema
from mayadeen.store.interface import Store
from mayadeen.store.model import (
    BOOKKEEPING_COLUMNS,
    JSON_COLUMNS,
    KEPT_OUT,
    NEW,
    RECORD_COLUMNS,
    SQLITE,
    UPDATED,
    ItemState,
    settled_change,
)

#: The path of a store kept in memory, gone when it is closed.
MEMORY = ":memory:"

#: What ``lookup`` answers per URL, from the article_urls table and the covering index alone.
_STATE = "a.article_id, a.url, a.date_modified, a.date_published, a.listed_date, a.last_seen, a.last_run"
#: SQLite's default limit on bound parameters is 999 in old builds.
_CHUNK = 500


def stored_json(value: Any) -> str | None:
    """The text a JSON column keeps: compact, as ``jsontext.compact`` writes it (the export hands it
    over as it is, ``StoreSnapshot.articles``' ``encoded``); SQL NULL for None."""
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _column_values(record: Mapping[str, Any], columns: Iterable[str]) -> list[Any]:
    return [stored_json(record.get(c)) if c in JSON_COLUMNS else record.get(c) for c in columns]


def record_from_row(row: Iterable[Any]) -> dict[str, Any]:
    """The record of an ``articles`` row whose first columns are RECORD_COLUMNS, in order."""
    return {
        c: (json.loads(v) if c in JSON_COLUMNS and v is not None else v)
        for c, v in zip(RECORD_COLUMNS, row, strict=False)
    }


def read_connection(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that only reads the store at ``path`` and leaves nothing beside it.

    A ``mode=ro`` connection to a WAL store makes its ``-wal`` and ``-shm`` and cannot remove them
    (only a connection that may write does, as the last one to close). So when no ``-wal`` exists (no
    other connection is open) and the file may be written, the connection may write but is
    ``query_only``: SQLite removes the files it made as it closes, or leaves them to a crawl that
    opened the store meanwhile, which removes them itself. ``immutable`` would make no files, but
    would read pages a crawl that starts meanwhile rewrites. Otherwise (a crawl has it open, a
    killed crawl's WAL waits for recovery, a read-only file) ``mode=ro``: nothing is added then.
    """
    if not path.exists():
        raise FileNotFoundError(f"no store at {path}")
    wal = path.with_name(path.name + "-wal")
    if wal.exists() or not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=timeout)
    conn = sqlite3.connect(path, isolation_level=None, timeout=timeout)
    conn.execute("PRAGMA query_only = 1")
    return conn


class ArticleStore(Store):
    """Articles by ``article_id``, their revisions and the crawl runs, in one SQLite file.

    ``ArticleStore(path)`` opens (creating or upgrading) the file for reading and writing; several may
    be open on one file at once, in one process or many. ``ArticleStore(path, readonly=True)`` opens
    an existing file for reading only. ``ArticleStore(":memory:")``: a store for one run, in memory.
    """

    engine = SQLITE
    errors = (sqlite3.Error,)

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False, busy_timeout: float = 60.0):
        self.path = Path(path)
        self.location = str(self.path)
        self.readonly = readonly
        if readonly:
            self.conn = read_connection(self.path, busy_timeout)
            return
        # isolation_level=None: transactions are ours (BEGIN IMMEDIATE in _write), not implicit.
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout)
        try:
            mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal" and self.location != MEMORY:  # a memory database has no WAL
                raise sqlite3.OperationalError(f"{self.path}: cannot switch to WAL (journal_mode={mode})")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            if schema.applied(self.conn) != schema.SCHEMA_VERSION:
                with self._write() as conn:
                    schema.migrate(conn, self.path)
        except BaseException:
            self.close()
            raise

    @contextmanager
    def _write(self, also: Callable[[], None] | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any error.

        ``also()`` runs at the end of a successful body, inside the transaction.
        """
        if self.readonly:
            raise PermissionError(f"{self.path} is open read-only")
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            yield self.conn
            if also is not None:
                also()

    # --- SQL both engines speak (``Store``) -------------------------------------------------

    def _cursor(self) -> sqlite3.Cursor:
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor

    def _bare_cursor(self) -> sqlite3.Cursor:
        return self.conn.cursor()

    @staticmethod
    def _params(params: Sequence[Any]) -> dict[str, Any]:
        """SQLite reads ``$1`` as the parameter named ``1``."""
        return {str(n): value for n, value in enumerate(params, 1)}

    def read(self, work):
        """``work()`` in one read transaction (a snapshot: WAL readers never wait for writers)."""
        if self.conn.in_transaction:
            return work()
        self.conn.execute("BEGIN")
        try:
            return work()
        finally:
            self.conn.execute("ROLLBACK")

    def write(self, work, *, serial: str | None = None):
        """``work()`` in one ``BEGIN IMMEDIATE`` transaction (or the one already open). SQLite has one
        writer at a time, so every ``serial`` name is already taken in turn."""
        if self.conn.in_transaction:
            return work()
        with self._write():
            return work()

    def json(self, value: Any) -> str | None:
        return stored_json(value)

    #: Written by ``stored_json`` (the store has never written a JSON column otherwise).
    keeps_json_text = True

    def schema_version(self) -> int:
        return schema.applied(self.conn)

    def tables(self) -> set[str]:
        return {name for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    # --- articles -------------------------------------------------------------------------------

    def upsert(
        self,
        record: Mapping[str, Any],
        seen_at: str | None = None,
        *,
        aliases: Iterable[str] = (),
        listed: str | None = None,
        run_id: int | None = None,
        also: Callable[[], None] | None = None,
        take_fetched: bool = False,
    ) -> str:
        """Store one record; returns ``"new"``, ``"updated"``, ``"unchanged"``, ``"stale"`` (modified before
        the stored version, which stays, unless ``take_fetched``: ``model.stored_change``) or ``"degraded"``
        (lacking facts the stored version has, modified no later: ``model.lost_facts``; it stays).

        Keyed by ``article_id``. A different ``content_hash`` replaces the row (revision + 1) and files
        the old version in ``article_revisions``. The same hash updates the other columns in place
        (METADATA_COLUMNS: dates, section, shares, related, url…) without a revision. A new ``url``
        becomes the item's address; the old one and ``aliases`` (other URLs it was reached under)
        stay in ``article_urls``. ``listed``: the date discovery showed for it (UTC ISO), kept if newer;
        ``run_id``: the crawl run storing it (``last_run``). ``also()``: the caller's own writes
        that belong with the item (e.g. its ``warc_captures`` row), made in the same transaction.
        """
        seen_at = seen_at or utc_timestamp()
        article_id, url = record["article_id"], record["url"]
        kept: list[str] = []  # a version the store refused: the caller's writes that belong with it go too
        with self._write(lambda: None if kept or also is None else also()) as conn:
            old = conn.execute(
                "SELECT content_hash, revision, date_modified FROM articles INDEXED BY articles_state"
                " WHERE article_id = ?",
                (article_id,),
            ).fetchone()
            if old is None:
                names = (*RECORD_COLUMNS, *BOOKKEEPING_COLUMNS)
                conn.execute(
                    f"INSERT INTO articles ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                    (*_column_values(record, RECORD_COLUMNS), seen_at, seen_at, 1, listed, run_id),
                )
                outcome = NEW
            else:
                columns, outcome, revision, stored = settled_change(
                    record, old, lambda: self._stored_version(conn, article_id), take_fetched=take_fetched
                )
                if outcome in KEPT_OUT:  # the content stays; where the item is and when it was listed are news
                    kept.append(outcome)
                if outcome == UPDATED:
                    self._file_revision(conn, article_id, *stored)
                assignments = ", ".join(f"{c} = ?" for c in columns)
                conn.execute(
                    f"UPDATE articles SET {assignments}, last_seen = ?, revision = ?, last_run = ?, listed_date ="
                    " CASE WHEN listed_date IS NULL OR ? > listed_date THEN coalesce(?, listed_date)"
                    " ELSE listed_date END WHERE article_id = ?",
                    (*_column_values(record, columns), seen_at, revision, run_id, listed, listed, article_id),
                )
            conn.execute("INSERT OR REPLACE INTO article_urls (url, article_id) VALUES (?, ?)", (url, article_id))
            conn.executemany(
                "INSERT OR IGNORE INTO article_urls (url, article_id) VALUES (?, ?)",
                [(alias, article_id) for alias in set(aliases) - {url}],
            )
            return outcome

    @staticmethod
    def _stored_version(conn: sqlite3.Connection, article_id: str) -> tuple[dict[str, Any], int, str]:
        """The current record of ``article_id``, its revision and when it was last seen."""
        row = conn.execute(
            f"SELECT {', '.join(RECORD_COLUMNS)}, revision, last_seen FROM articles WHERE article_id = ?", (article_id,)
        ).fetchone()
        return record_from_row(row), row[-2], row[-1]

    @staticmethod
    def _file_revision(conn: sqlite3.Connection, article_id: str, old: dict, revision: int, seen_at: str) -> None:
        """Files the current version of ``article_id`` in article_revisions (its content changed)."""
        conn.execute(
            "INSERT INTO article_revisions (article_id, revision, url, content_hash, date_modified, record, seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (article_id, revision, old["url"], old["content_hash"], old["date_modified"], stored_json(old), seen_at),
        )

    def get(self, url_or_id: str) -> dict[str, Any] | None:
        """The current record of an item (by ``article_id``, its url or an alias) plus the bookkeeping
        columns, or None."""
        article_id = self.article_id(url_or_id)
        names = (*RECORD_COLUMNS, *BOOKKEEPING_COLUMNS)
        row = self.conn.execute(
            f"SELECT {', '.join(names)} FROM articles WHERE article_id = ?", (article_id,)
        ).fetchone()
        if row is None:
            return None
        record = record_from_row(row)
        record.update(zip(BOOKKEEPING_COLUMNS, row[len(RECORD_COLUMNS) :], strict=True))
        return record

    def revisions(self, url_or_id: str) -> list[dict[str, Any]]:
        """Earlier versions of an item, oldest first: ``{revision, url, content_hash, date_modified,
        seen_at, record}``. ``seen_at`` is the last time that version was seen before it was replaced.
        """
        rows = self.conn.execute(
            "SELECT revision, url, content_hash, date_modified, seen_at, record FROM article_revisions"
            " WHERE article_id = ? ORDER BY revision",
            (self.article_id(url_or_id),),
        )
        return [
            {"revision": r, "url": u, "content_hash": h, "date_modified": m, "seen_at": s, "record": json.loads(rec)}
            for r, u, h, m, s, rec in rows
        ]

    def lookup(self, urls: Iterable[str]) -> dict[str, ItemState]:
        """url -> ItemState for those of ``urls`` the store knows (as an address or an alias).

        Reads the article_urls table and the covering ``articles_state`` index only: the cost follows
        the number of URLs asked about, not the size of the store.
        """
        wanted = list(dict.fromkeys(urls))
        out: dict[str, ItemState] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = self.conn.execute(
                f"SELECT u.url, {_STATE} FROM article_urls u JOIN articles a INDEXED BY articles_state"
                f" ON a.article_id = u.article_id WHERE u.url IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            out.update((row[0], ItemState(*row[1:])) for row in rows)
        return out

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Every current record, one at a time, by ``article_id`` (memory does not grow with the store)."""
        cursor = self.conn.execute(f"SELECT {', '.join(RECORD_COLUMNS)} FROM articles ORDER BY article_id")
        for row in cursor:
            yield record_from_row(row)

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM articles").fetchone()[0]
