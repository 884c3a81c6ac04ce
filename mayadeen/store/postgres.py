"""The PostgreSQL store: the SQLite store's tables and semantics in one database that many crawl
machines write and many readers query (psycopg 3).

Tables as in ``mayadeen.store.schema``, with PostgreSQL types where they help readers: ``jsonb`` for
the record's lists and objects (and a revision's whole record), ``timestamptz`` for its dates and the
bookkeeping times, ``integer`` for counts. Every value reads back as the record has it: dates as
``YYYY-MM-DDThh:mm:ssZ`` strings (the record's dates have whole seconds in UTC, so nothing is lost).
``article_id`` and ``url`` columns collate as ``C`` (byte order, as SQLite's).

Several writers: each item is stored in one transaction. A new item is inserted with
``ON CONFLICT (article_id) DO NOTHING``; an existing one is read ``FOR UPDATE`` (its row lock), so
two workers storing the same item at the same moment are serialised: one row, and one revision per
content change. A transaction that loses a deadlock, or its connection (the server restarted), is
done again whole. Readers never wait for writers. The tables and their migrations are in
``postgres_schema``; migrating takes an advisory lock, so workers starting at once do it once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from mayadeen.record import utc_timestamp
from mayadeen.store.interface import Store
from mayadeen.store.model import (
    BOOKKEEPING_COLUMNS,
    KEPT_OUT,
    NEW,
    POSTGRESQL,
    RECORD_COLUMNS,
    UPDATED,
    ItemState,
    StoreTarget,
    settled_change,
)
from mayadeen.store.postgres_connection import connect
from mayadeen.store.postgres_outage import Outage
from mayadeen.store.postgres_schema import known_version, migrate, row_of, to_column

logger = logging.getLogger(__name__)

_DEADLOCK_RETRIES = 5
#: The longest pause between two tries of a server that went away (the backoff doubles up to it).
_LONGEST_PAUSE = 2.0


class PostgresStore(Store):
    """Articles by ``article_id``, their revisions and the crawl runs, in one PostgreSQL database.

    ``PostgresStore(url)`` connects (creating or upgrading the tables); ``readonly=True`` connects for
    reading only (every transaction read-only) and needs the tables to exist. ``lock_timeout``:
    seconds a write waits for another's row lock before it fails. ``retry_timeout``: seconds the
    crawl's reads and writes (``upsert``, ``lookup``, the run rows) retry a server that went away
    (restarted, network lost), connecting again with backoff, before they fail; the window is the
    outage's, not each transaction's (``postgres_outage``).
    A transaction cut off by a lost connection is done again whole: it either never committed or
    committed in full, and an upsert done again finds the item stored.

    A server that stops answering (hung, or a network that drops packets: the socket stays open and
    a read waits forever) counts as gone too: every round trip of the connection is watched
    (``postgres_connection``): a server that answers neither it nor a new connection within a few
    seconds, or a round trip with no answer after ``answer_timeout`` seconds (``lock_timeout +
    retry_timeout``: longer than any lock wait it may make), has its connection cut. A transaction is
    then retried as after a lost connection; any other call (``get``, ``count``, ``iter_records``,
    a snapshot's reads, the migrations at open) fails with ``NoAnswer``, which says so.
    """

    engine = POSTGRESQL
    errors = (psycopg.Error,)
    snapshot_begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    _streams = 0  # server-side cursors opened, for their names

    def __init__(self, url: str, *, readonly: bool = False, lock_timeout: float = 60.0, retry_timeout: float = 60.0):
        self.url = url
        self.location = str(StoreTarget(POSTGRESQL, url))
        self.readonly = readonly
        self.lock_timeout = lock_timeout
        self.retry_timeout = retry_timeout
        self.answer_timeout = lock_timeout + retry_timeout
        self.outage = Outage(self.location, retry_timeout, logger)
        self.conn = self._connect()
        try:
            if readonly:
                self.schema_version()
            else:
                migrate(self.conn, self.location)
        except BaseException:
            self.close()
            raise

    def _connect(self) -> psycopg.Connection:
        return connect(
            self.url,
            location=self.location,
            lock_timeout=self.lock_timeout,
            retry_timeout=self.retry_timeout,
            answer_timeout=self.answer_timeout,
            readonly=self.readonly,
        )

    def _transaction(self, work: Callable[[], Any], *, write: bool = False) -> Any:
        """``work()`` in one transaction: done again after a lost deadlock or unique-key race, and after a lost
        connection once connected again (with backoff, until the outage's ``retry_timeout`` has run out)."""
        if write and self.readonly:
            raise PermissionError(f"{self.location} is open read-only")
        delay, deadlocks = 0.05, 0
        while True:
            try:
                # Inside the retries: a connection lost by an earlier transaction or read is tried again
                # here, within what is left of the outage's window (at least once).
                self._reconnect()
                with self.conn.transaction():
                    result = work()
            except (psycopg.errors.DeadlockDetected, psycopg.errors.UniqueViolation):
                # Lost to a concurrent writer: a deadlock, or an insert of the same item that reached a
                # unique index other than ``ON CONFLICT``'s first (its url). Done again, it finds the
                # other writer's committed row.
                deadlocks += 1
                if deadlocks >= _DEADLOCK_RETRIES:
                    raise
            except psycopg.OperationalError as exc:
                if not self.conn.closed:
                    raise  # not the connection (a lock timeout, say): the caller's to handle
                if self.outage.seconds_left(exc) <= 0:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, _LONGEST_PAUSE)
            else:
                self.outage.ended()
                return result

    def _reconnect(self) -> None:
        """A connection lost earlier (a read outside ``_transaction``, or retries that ran out):
        connected again, or OperationalError while the server is still away."""
        if self.conn.closed:
            self.conn = self._connect()

    # --- SQL both engines speak (``Store``) -------------------------------------------------

    # Raw cursors: the statement goes to the server as written, its ``$n`` bound there.

    def _cursor(self) -> psycopg.RawCursor:
        self._reconnect()
        return psycopg.RawCursor(self.conn, row_factory=dict_row)

    def _stream_cursor(self, tuples: bool = False) -> psycopg.RawServerCursor:
        """A server-side cursor (rows fetched a batch at a time), unique among the transaction's."""
        self._reconnect()
        self._streams += 1
        factory = tuple_row if tuples else dict_row
        cursor = psycopg.RawServerCursor(self.conn, f"stream_{self._streams}", row_factory=factory)
        cursor.itersize = 1000
        return cursor

    def _bare_cursor(self) -> psycopg.RawCursor:
        return psycopg.RawCursor(self.conn)

    @staticmethod
    def _row(row: Mapping[str, Any]) -> dict[str, Any]:
        return row_of(row.keys(), row.values())

    @staticmethod
    def _values(names: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row_of(names, row).values())

    def _in_transaction(self) -> bool:
        # UNKNOWN is a connection lost: no transaction open, and the work gets the retries.
        return self.conn.info.transaction_status not in (
            psycopg.pq.TransactionStatus.IDLE,
            psycopg.pq.TransactionStatus.UNKNOWN,
        )

    def read(self, work):
        """``work()`` in one repeatable-read transaction (one snapshot), retried like every read."""
        if self._in_transaction():
            return work()

        def snapshot():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return work()

        return self._transaction(snapshot)

    def write(self, work, *, serial: str | None = None):
        """``work()`` in one transaction (or the one already open), done again whole after a lost
        connection or deadlock. ``serial``: a transaction-scoped advisory lock on that name, so
        read-then-write work of every machine takes turns."""
        if self._in_transaction():
            return work()

        def serialised():
            if serial is not None:
                key = int.from_bytes(hashlib.blake2b(serial.encode(), digest_size=8).digest(), "big", signed=True)
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            return work()

        return self._transaction(serialised, write=True)

    def json(self, value: Any) -> Jsonb | None:
        return None if value is None else Jsonb(value)

    # --- tables ---------------------------------------------------------------------------------

    def schema_version(self) -> int:
        return known_version(self.conn, self.location, readonly=self.readonly)

    def tables(self) -> set[str]:
        rows = self.conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return {name for (name,) in rows}

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
        """Store one record, with the SQLite store's outcomes and arguments (``ArticleStore.upsert``)."""
        aliases = sorted(set(aliases) - {record["url"]})  # one order for every writer: fewer deadlocks
        seen_at = seen_at or utc_timestamp()
        return self._transaction(
            lambda: self._upsert(record, seen_at, aliases, listed, run_id, also, take_fetched), write=True
        )

    def _upsert(self, record, seen_at, aliases, listed, run_id, also, take_fetched) -> str:
        conn, article_id, url = self.conn, record["article_id"], record["url"]
        old = self._locked_state(article_id)
        if old is None:  # new, unless another writer inserts it first: then it waits for that one's commit
            names = (*RECORD_COLUMNS, *BOOKKEEPING_COLUMNS)
            values = [to_column(c, record.get(c)) for c in RECORD_COLUMNS] + [seen_at, seen_at, 1, listed, run_id]
            inserted = conn.execute(
                f"INSERT INTO articles ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
                " ON CONFLICT (article_id) DO NOTHING RETURNING revision",
                values,
            ).fetchone()
            old = None if inserted else self._locked_state(article_id)
        kept = False  # a version the store refused: the caller's writes that belong with it go too
        if old is None:
            outcome = NEW
        else:
            columns, outcome, revision, stored = settled_change(
                record, old, lambda: self._stored_version(article_id), take_fetched=take_fetched
            )
            kept = outcome in KEPT_OUT  # the content stays; where the item is and when it was listed are news
            if outcome == UPDATED:
                self._file_revision(article_id, *stored)
            assignments = "".join(f"{c} = %s, " for c in columns)
            conn.execute(
                f"UPDATE articles SET {assignments}last_seen = %s, revision = %s, last_run = %s,"
                " listed_date = greatest(listed_date, %s::timestamptz) WHERE article_id = %s",
                (*(to_column(c, record.get(c)) for c in columns), seen_at, revision, run_id, listed, article_id),
            )
        conn.execute(
            "INSERT INTO article_urls (url, article_id) VALUES (%s, %s)"
            " ON CONFLICT (url) DO UPDATE SET article_id = excluded.article_id",
            (url, article_id),
        )
        for alias in aliases:
            conn.execute(
                "INSERT INTO article_urls (url, article_id) VALUES (%s, %s) ON CONFLICT DO NOTHING", (alias, article_id)
            )
        if also is not None and not kept:
            also()
        return outcome

    def _locked_state(self, article_id: str) -> tuple | None:
        """The stored item's content_hash, revision and date_modified, its row locked until commit."""
        sql = "SELECT content_hash, revision, date_modified FROM articles WHERE article_id = %s FOR UPDATE"
        return self.conn.execute(sql, (article_id,)).fetchone()

    def _stored_version(self, article_id: str) -> tuple[dict[str, Any], int, Any]:
        """The current (locked) record of ``article_id``, its revision and when it was last seen."""
        names = (*RECORD_COLUMNS, "revision", "last_seen")
        row = self.conn.execute(f"SELECT {', '.join(names)} FROM articles WHERE article_id = %s", (article_id,))
        record = row_of(names, row.fetchone())
        return record, record.pop("revision"), record.pop("last_seen")

    def _file_revision(self, article_id: str, old: dict, revision: int, seen_at) -> None:
        """Files the current version of ``article_id`` in article_revisions (its content changed)."""
        self.conn.execute(
            "INSERT INTO article_revisions (article_id, revision, url, content_hash, date_modified, record, seen_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (article_id, revision, old["url"], old["content_hash"], old["date_modified"], Jsonb(old), seen_at),
        )

    def get(self, url_or_id: str) -> dict[str, Any] | None:
        """The current record of an item (by id, url or alias) plus the bookkeeping columns, or None."""
        names = (*RECORD_COLUMNS, *BOOKKEEPING_COLUMNS)
        row = self.conn.execute(
            f"SELECT {', '.join(names)} FROM articles WHERE article_id = %s", (self.article_id(url_or_id),)
        ).fetchone()
        return None if row is None else row_of(names, row)

    def revisions(self, url_or_id: str) -> list[dict[str, Any]]:
        """Earlier versions of an item, oldest first, as ``ArticleStore.revisions``."""
        names = ("revision", "url", "content_hash", "date_modified", "seen_at", "record")
        rows = self.conn.execute(
            f"SELECT {', '.join(names)} FROM article_revisions WHERE article_id = %s ORDER BY revision",
            (self.article_id(url_or_id),),
        )
        out = []
        for row in rows:
            revision = row_of(names, row)
            revision["record"] = {c: revision["record"][c] for c in RECORD_COLUMNS if c in revision["record"]}
            out.append(revision)
        return out

    def lookup(self, urls: Iterable[str]) -> dict[str, ItemState]:
        """url -> ItemState for those of ``urls`` the store knows (as an address or an alias)."""
        wanted = list(dict.fromkeys(urls))
        names = ItemState._fields
        rows = self._transaction(
            lambda: self.conn.execute(
                f"SELECT u.url, {', '.join(f'a.{n}' for n in names)} FROM article_urls u"
                " JOIN articles a ON a.article_id = u.article_id WHERE u.url = ANY(%s)",
                (wanted,),
            ).fetchall()
        )
        return {row[0]: ItemState(**row_of(names, row[1:])) for row in rows}

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Every current record by ``article_id``, a page at a time (no transaction held open)."""
        after = ""
        while True:
            rows = self.conn.execute(
                f"SELECT {', '.join(RECORD_COLUMNS)} FROM articles WHERE article_id > %s ORDER BY article_id LIMIT 500",
                (after,),
            ).fetchall()
            for row in rows:
                yield row_of(RECORD_COLUMNS, row)
            if len(rows) < 500:
                return
            after = rows[-1][RECORD_COLUMNS.index("article_id")]

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM articles").fetchone()[0]
