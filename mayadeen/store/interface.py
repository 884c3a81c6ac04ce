"""What every store engine offers: the methods the pipeline, freshness, spiders and run rows use.

Engines: ``mayadeen.store.sqlite.ArticleStore`` (one file) and ``mayadeen.store.postgres.PostgresStore``
(one database for many machines); ``mayadeen.store.engines.connect`` opens either. Records go in and
come back as the record contract has them (dates as ``YYYY-MM-DDThh:mm:ssZ`` strings, lists and
objects as Python lists and dicts).

The store's later tables (breaking news, WARC captures, failing items, full-text search) and the
export reader are written once, in SQL both engines speak, over ``Store``'s few methods:
``rows``/``row``/``stream``/``run`` (rows as dicts, times as the record's strings; ``stream_values``
the same values as tuples, for many rows), ``read``/``write`` (one transaction; a write waits for
other writers of the same ``serial`` name, and PostgreSQL's is done again whole after a lost
connection), ``snapshot`` (one read-only transaction for a long reader such as an export) and ``json``
(a list or object as a query parameter). Each engine creates its tables through its own migrations.

Parameters are numbered, ``$1, $2, …`` (``placeholders`` writes a list of them), a style both
drivers take as it is, so no SQL text is rewritten and a ``?`` or ``%`` in a literal, or jsonb's ``?``
operators, mean what they say: PostgreSQL gets them as server-side parameters (psycopg's raw
cursors), SQLite as named parameters ``$1`` bound from ``{"1": …}``. A number may appear twice.
Each engine's own SQL keeps its driver's style (``?`` in SQLite's, ``%s`` in PostgreSQL's).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, suppress
from typing import Any, TypeVar

from mayadeen.jsontext import compact, loads
from mayadeen.record import utc_timestamp
from mayadeen.store.model import ItemState
from mayadeen.store.run_progress import FIGURES as PROGRESS_FIGURES
from mayadeen.store.run_progress import KILLED, died
from mayadeen.store.sitemap_reads import SitemapRead

T = TypeVar("T")


def placeholders(count: int, start: int = 1) -> str:
    """``count`` numbered placeholders from ``$start``, for an IN list or a VALUES row."""
    return ", ".join(f"${n}" for n in range(start, start + count))


#: What ``finish_run`` may set (column names never come from the caller's strings).
RUN_FIGURES = frozenset({
    "finished_at", "items_new", "items_updated", "items_unchanged", "items_dropped", "requests",
    "responses_by_status", "errors", "finish_reason", "coverage", "items_seen", "monitors_failed",
})  # fmt: skip
#: crawl_runs' JSON columns.
RUN_JSON = frozenset({"arguments", "responses_by_status", "coverage", "monitors_failed"})


class Store:
    """The one interface of a store, and what both engines do the same way: closing their one
    connection (``conn``, also through the ``with`` statement), running SQL both speak, the run rows
    and the URL lookups. Each engine implements the methods here that raise NotImplementedError."""

    engine: str  # "sqlite" or "postgresql"
    location: str  # for logs: the file, or the URL without its password
    readonly: bool
    #: The exceptions a failed read or write raises (the write was rolled back).
    errors: tuple[type[BaseException], ...]
    conn: Any
    #: Starts ``snapshot``'s transaction.
    snapshot_begin = "BEGIN"

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of a query, as column -> value (times as ``YYYY-MM-DDThh:mm:ssZ`` strings)."""
        cursor = self._cursor()
        cursor.execute(statement, self._params(params))
        return [self._row(r) for r in cursor.fetchall()]

    def row(self, statement: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        found = self.rows(statement, params)
        return found[0] if found else None

    def stream(self, statement: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        """The rows of a query one at a time, as ``rows`` gives them; memory does not grow with the
        result. Inside ``read`` or ``snapshot`` (PostgreSQL reads it through a server-side cursor)."""
        with closing(self._stream_cursor()) as cursor:
            cursor.execute(statement, self._params(params))
            for found in cursor:
                yield self._row(found)

    def stream_values(self, statement: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """``stream``'s rows as tuples of their values in the statement's column order: no dict
        per row, for a reader of many rows (an export)."""
        with closing(self._stream_cursor(tuples=True)) as cursor:
            cursor.execute(statement, self._params(params))
            names = [d[0] for d in cursor.description]
            for found in cursor:
                yield self._values(names, found)

    def run(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Executes one statement; the number of rows it changed."""
        cursor = self._bare_cursor()
        cursor.execute(statement, self._params(params))
        return cursor.rowcount

    def run_many(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        self._bare_cursor().executemany(statement, [self._params(r) for r in rows])

    @staticmethod
    def _params(params: Sequence[Any]) -> Any:
        """``params`` as the driver binds ``$1, $2, …`` (PostgreSQL: the sequence as it is)."""
        return params

    @staticmethod
    def _row(row: Any) -> dict[str, Any]:
        return dict(row)

    @staticmethod
    def _values(names: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row of ``stream_values`` (``names``: its columns) with the values ``_row`` gives."""
        return row

    def _cursor(self) -> Any:
        raise NotImplementedError

    def _stream_cursor(self, tuples: bool = False) -> Any:
        """A cursor for ``stream`` (rows as ``_row`` reads them) or, with ``tuples``, ``stream_values``."""
        return self._bare_cursor() if tuples else self._cursor()

    def _bare_cursor(self) -> Any:
        """A cursor on the connection as it is (inside a transaction, never a new connection)."""
        raise NotImplementedError

    @contextmanager
    def snapshot(self) -> Iterator[Store]:
        """One read-only transaction for the ``with`` block, held open however long it lasts: every
        read in it (``read`` joins it) sees the same state of the store. Not retried: a lost
        connection fails the block."""
        self.conn.execute(self.snapshot_begin)
        try:
            yield self
        except BaseException:
            with suppress(*self.errors):
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("ROLLBACK")

    def schema_version(self) -> int | None:
        """The version of the store's tables."""
        raise NotImplementedError

    def tables(self) -> set[str]:
        """The names of the store's tables (a SQLite file written by an older version, or by the
        ``breaking`` job alone, may lack some)."""
        raise NotImplementedError

    def read(self, work: Callable[[], T]) -> T:
        """``work()``, whose reads see one state of the store."""
        raise NotImplementedError

    def write(self, work: Callable[[], T], *, serial: str | None = None) -> T:
        """``work()`` in one write transaction, committed when it returns and rolled back if it raises.
        ``serial``: writers of the same name (on any machine) take turns, for read-then-write work."""
        raise NotImplementedError

    def json(self, value: Any) -> Any:
        """A list or object (or None) as a query parameter for a JSON column."""
        raise NotImplementedError

    @staticmethod
    def from_json(value: Any) -> Any:
        """A JSON column's value as Python (SQLite hands back its text, PostgreSQL the value)."""
        return loads(value) if isinstance(value, str) else value

    #: A JSON column's value in a row is its compact JSON text already: no ``json_text`` needed (SQLite).
    keeps_json_text = False

    @staticmethod
    def json_text(value: Any) -> str | None:
        """A JSON column's value, as a row holds it, as compact JSON text (``jsontext.compact``; None
        for null): PostgreSQL hands back the value, encoded here."""
        return None if value is None else compact(value).decode()

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
            self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- articles (each engine's own SQL) -----------------------------------------------------------

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
        """Store one record: ``"new"``, ``"updated"``, ``"unchanged"``, ``"stale"`` or ``"degraded"``
        (``model.settled_change``); ``also()``: the caller's writes that belong with it, in its transaction."""
        raise NotImplementedError

    def get(self, url_or_id: str) -> dict[str, Any] | None:
        """The current record of an item (by id, url or alias) plus the bookkeeping columns, or None."""
        raise NotImplementedError

    def revisions(self, url_or_id: str) -> list[dict[str, Any]]:
        """Earlier versions of an item, oldest first."""
        raise NotImplementedError

    def lookup(self, urls: Iterable[str]) -> dict[str, ItemState]:
        """url -> ItemState for those of ``urls`` the store knows (as an address or an alias)."""
        raise NotImplementedError

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Every current record by ``article_id``, one at a time."""
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    # --- sitemaps read (``mayadeen.store.sitemap_reads``) -------------------------------------------

    def sitemap_reads(self) -> dict[str, SitemapRead]:
        rows = self.read(lambda: self.rows("SELECT url, lastmod, etag, last_modified FROM sitemap_reads"))
        return {row["url"]: SitemapRead(**row) for row in rows}

    def keep_sitemap_reads(self, reads: Iterable[SitemapRead], read_at: str | None = None) -> None:
        rows = [(r.url, r.lastmod, r.etag, r.last_modified, read_at or utc_timestamp()) for r in reads]
        self.write(
            lambda: self.run_many(
                "INSERT INTO sitemap_reads (url, lastmod, etag, last_modified, read_at) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (url) DO UPDATE SET lastmod = excluded.lastmod, etag = excluded.etag,"
                " last_modified = excluded.last_modified, read_at = excluded.read_at",
                rows,
            )
        )

    # --- crawl runs -----------------------------------------------------------------------------

    def start_run(self, spider: str, arguments: Mapping[str, Any] | None = None, started_at: str | None = None) -> int:
        """Record the start of a crawl; returns its run id for ``finish_run``."""
        args = json.loads(json.dumps(dict(arguments or {}), sort_keys=True, default=str))
        values = (spider, self.json(args), started_at or utc_timestamp())
        return self.write(
            lambda: self.row(
                "INSERT INTO crawl_runs (spider, arguments, started_at) VALUES ($1, $2, $3) RETURNING id", values
            )["id"]
        )

    def finish_run(self, run_id: int, **figures: Any) -> None:
        """Set a run's figures (names in RUN_FIGURES; dicts such as responses_by_status become JSON).

        ``finished_at`` defaults to now on the first call; later calls (e.g. adding ``coverage``
        after the crawl) keep it unless they pass it.
        """
        unknown = set(figures) - RUN_FIGURES
        if unknown:
            raise ValueError(f"unknown crawl run figures: {sorted(unknown)}")
        names = sorted(figures)
        assignments = [f"{n} = ${i}" for i, n in enumerate(names, 2)]
        values = [self.json(figures[n]) if isinstance(figures[n], (dict, list)) else figures[n] for n in names]
        if "finished_at" not in figures:
            assignments.append(f"finished_at = coalesce(finished_at, ${len(values) + 2})")
            values.append(utc_timestamp())
        self.write(lambda: self.run(f"UPDATE crawl_runs SET {', '.join(assignments)} WHERE id = $1", (run_id, *values)))

    def runs(self) -> list[dict[str, Any]]:
        """All crawl runs, oldest first, JSON columns decoded."""
        return [
            {k: self.from_json(v) if k in RUN_JSON else v for k, v in row.items()}
            for row in self.rows("SELECT * FROM crawl_runs ORDER BY id")
        ]

    # --- a run while it goes on (``mayadeen.store.run_progress``) -----------------------------------

    def claim_run(self, run_id: int) -> None:
        """Marks ``run_id`` as this process's run."""
        self.write(
            lambda: self.run(
                "UPDATE crawl_runs SET pid = $1, host = $2, updated_at = $3 WHERE id = $4",
                (os.getpid(), socket.gethostname(), utc_timestamp(), run_id),
            )
        )

    def mark_killed(self, current_run: int) -> list[int]:
        """Closes the rows of runs that died without finishing (on this host, or of unknown host).

        Their ``finished_at`` becomes the last time they were seen alive; finish reason and result
        ``killed``. Returns their ids.
        """
        rows = self.read(
            lambda: self.rows(
                "SELECT id, pid, host FROM crawl_runs WHERE finished_at IS NULL AND id <> $1", (current_run,)
            )
        )
        dead = [row["id"] for row in rows if died(row["pid"], row["host"])]
        if dead:
            self.write(
                lambda: self.run_many(
                    "UPDATE crawl_runs SET finished_at = coalesce(updated_at, started_at), finish_reason = $1,"
                    " result = $1 WHERE id = $2 AND finished_at IS NULL",
                    [(KILLED, run) for run in dead],
                )
            )
        return dead

    def update_run(self, run_id: int, figures: Mapping[str, Any]) -> None:
        """The run's figures so far (names in ``run_progress.FIGURES``), and ``updated_at`` = now."""
        names = sorted(set(figures) & PROGRESS_FIGURES)
        self.write(
            lambda: self.run(
                f"UPDATE crawl_runs SET {''.join(f'{n} = ${i}, ' for i, n in enumerate(names, 3))}updated_at = $2"
                " WHERE id = $1",
                (run_id, utc_timestamp(), *(figures[n] for n in names)),
            )
        )

    def record_result(self, run_id: int, result: str, finish_reason: str | None = None) -> None:
        """Sets a run's ``result`` (and ``finish_reason``/``finished_at`` when the run never closed its row)."""
        self.write(
            lambda: self.run(
                "UPDATE crawl_runs SET result = $1, finish_reason = coalesce(finish_reason, $2),"
                " finished_at = coalesce(finished_at, $3) WHERE id = $4",
                (result, finish_reason, utc_timestamp(), run_id),
            )
        )

    # --- URLs -------------------------------------------------------------------------------------

    def article_id(self, url_or_id: str) -> str | None:
        """The ``article_id`` of an item given its id, its url or one of its aliases."""
        if url_or_id.isdigit():
            return url_or_id
        row = self.row("SELECT article_id FROM article_urls WHERE url = $1", (url_or_id,))
        return row["article_id"] if row else None

    def urls(self, url_or_id: str) -> list[str]:
        """Every URL an item is known under (its address and aliases), sorted."""
        rows = self.rows(
            "SELECT url FROM article_urls WHERE article_id = $1 ORDER BY url", (self.article_id(url_or_id),)
        )
        return [r["url"] for r in rows]
