"""Streaming reads of a store for datasets: the selected articles and revisions, one record at a time.

Opens the SQLite file read-only (no writer lock: it works while a crawl writes) and reads in one
transaction, so every pass of an export sees the same snapshot. Rows become records through the
store's own conversion (``ArticleStore._record``): the same keys and values as the crawl produced.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from mayadeen.store.sqlite import RECORD_COLUMNS, ArticleStore

_ORDER = "date_published, url"


@dataclass(frozen=True)
class Selection:
    """Which items: publication days (UTC, inclusive), sections or section groups, kinds; empty = all."""

    since: date | None = None
    until: date | None = None
    sections: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def where(self, alias: str = "") -> tuple[str, list[Any]]:
        """The SQL condition (``1`` for everything) and its parameters, on ``alias``'s columns."""
        col = f"{alias}." if alias else ""
        terms, params = [], []
        if self.since:
            terms.append(f"{col}date_published >= ?")
            params.append(f"{self.since.isoformat()}T00:00:00Z")
        if self.until:
            terms.append(f"{col}date_published < ?")
            params.append(f"{(self.until + timedelta(days=1)).isoformat()}T00:00:00Z")
        if self.sections:
            marks = ", ".join("?" * len(self.sections))
            terms.append(f"(lower({col}section) IN ({marks}) OR lower({col}section_group) IN ({marks}))")
            params += [s.lower() for s in self.sections] * 2
        if self.kinds:
            terms.append(f"{col}kind IN ({', '.join('?' * len(self.kinds))})")
            params += list(self.kinds)
        return (" AND ".join(terms) or "1"), params


class StoreSnapshot:
    """One consistent, read-only view of the store at ``path`` (a context manager)."""

    def __init__(self, path: str | os.PathLike):
        self.store = ArticleStore(path, readonly=True)
        self.conn = self.store.conn
        try:
            self.conn.execute("BEGIN")
            self.schema_version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            self.conn.execute("SELECT 1 FROM articles LIMIT 1").fetchall()  # fails early on a non-store
        except BaseException:
            self.store.close()
            raise

    def __enter__(self) -> StoreSnapshot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.conn.execute("ROLLBACK")
        self.store.close()

    def articles(self, selection: Selection) -> Iterator[dict[str, Any]]:
        """The current record of every selected item, ordered by ``date_published``, then ``url``."""
        where, params = selection.where()
        cursor = self.conn.execute(
            f"SELECT {', '.join(RECORD_COLUMNS)} FROM articles WHERE {where} ORDER BY {_ORDER}", params
        )
        for row in cursor:
            yield ArticleStore._record(row)

    def revisions(self, selection: Selection) -> Iterator[dict[str, Any]]:
        """Every earlier version of the selected items: its record plus ``revision`` and ``seen_at``
        (the last time that version was seen), ordered by its own ``date_published``, url, revision."""
        where, params = selection.where("a")
        cursor = self.conn.execute(
            "SELECT r.record, r.revision, r.seen_at FROM article_revisions r JOIN articles a ON a.url = r.url"
            f" WHERE {where} ORDER BY json_extract(r.record, '$.date_published'), r.url, r.revision",
            params,
        )
        for text, revision, seen_at in cursor:
            stored = json.loads(text)
            yield {**{c: stored.get(c) for c in RECORD_COLUMNS}, "revision": revision, "seen_at": seen_at}

    def revisions_by_day(self, selection: Selection) -> list[tuple[str, int]]:
        """(UTC day the replaced version was last seen, revisions) of the selected items, by day."""
        where, params = selection.where("a")
        return self.conn.execute(
            "SELECT substr(r.seen_at, 1, 10) AS day, count(*) FROM article_revisions r"
            f" JOIN articles a ON a.url = r.url WHERE {where} GROUP BY day ORDER BY day",
            params,
        ).fetchall()

    def runs(self) -> list[dict[str, Any]]:
        """Every crawl run, oldest first."""
        return self.store.runs()
