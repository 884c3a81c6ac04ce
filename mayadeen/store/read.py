"""Streaming reads of a store for datasets: the selected articles, revisions and breaking-news
flashes, one record at a time.

Opens the SQLite file read-only (no writer lock: it works while a crawl writes) and reads in one
transaction, so every pass of an export sees the same snapshot. Rows become records through the
store's own conversions (``record_from_row``, ``breaking.stored_flash``): the same keys and
values as the crawl produced. A store that only the ``breaking`` spider has written holds flashes and
no articles: it reads as no items.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from mayadeen.store import breaking
from mayadeen.store.sqlite import RECORD_COLUMNS, ArticleStore, record_from_row

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
        terms, params = self._days(f"{col}date_published")
        if self.sections:
            marks = ", ".join("?" * len(self.sections))
            terms.append(f"(lower({col}section) IN ({marks}) OR lower({col}section_group) IN ({marks}))")
            params += [s.lower() for s in self.sections] * 2
        if self.kinds:
            terms.append(f"{col}kind IN ({', '.join('?' * len(self.kinds))})")
            params += list(self.kinds)
        return (" AND ".join(terms) or "1"), params

    def where_days(self, column: str) -> tuple[str, list[Any]]:
        """The condition on the days alone, for the UTC time ``column`` of rows without section or kind."""
        terms, params = self._days(column)
        return (" AND ".join(terms) or "1"), params

    @property
    def names_items(self) -> bool:
        """True when it selects by section or kind, which only items have."""
        return bool(self.sections or self.kinds)

    def _days(self, column: str) -> tuple[list[str], list[Any]]:
        terms, params = [], []
        if self.since:
            terms.append(f"{column} >= ?")
            params.append(f"{self.since.isoformat()}T00:00:00Z")
        if self.until:
            terms.append(f"{column} < ?")
            params.append(f"{(self.until + timedelta(days=1)).isoformat()}T00:00:00Z")
        return terms, params


class StoreSnapshot:
    """One consistent, read-only view of the store at ``path`` (a context manager)."""

    def __init__(self, path: str | os.PathLike):
        self.store = ArticleStore(path, readonly=True)
        self.conn = self.store.conn
        try:
            self.conn.execute("BEGIN")
            self.schema_version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {name for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"articles", "breaking_news"} & tables:  # fails early on a non-store
                raise sqlite3.DatabaseError("no articles or breaking_news table: not a mayadeen store")
            self.has_articles = "articles" in tables
            self.has_flashes = "breaking_news" in tables
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
        if not self.has_articles:
            return
        where, params = selection.where()
        cursor = self.conn.execute(
            f"SELECT {', '.join(RECORD_COLUMNS)} FROM articles WHERE {where} ORDER BY {_ORDER}", params
        )
        for row in cursor:
            yield record_from_row(row)

    def revisions(self, selection: Selection) -> Iterator[dict[str, Any]]:
        """Every earlier version of the selected items: its record plus ``revision`` and ``seen_at``
        (the last time that version was seen), ordered by its own ``date_published``, url, revision."""
        if not self.has_articles:
            return
        where, params = selection.where("a")
        cursor = self.conn.execute(
            "SELECT r.record, r.revision, r.seen_at FROM article_revisions r JOIN articles a ON a.article_id = r.article_id"
            f" WHERE {where} ORDER BY json_extract(r.record, '$.date_published'), r.url, r.revision",
            params,
        )
        for text, revision, seen_at in cursor:
            stored = json.loads(text)
            yield {**{c: stored.get(c) for c in RECORD_COLUMNS}, "revision": revision, "seen_at": seen_at}

    def revisions_by_day(self, selection: Selection) -> list[tuple[str, int]]:
        """(UTC day the replaced version was last seen, revisions) of the selected items, by day."""
        if not self.has_articles:
            return []
        where, params = selection.where("a")
        return self.conn.execute(
            "SELECT substr(r.seen_at, 1, 10) AS day, count(*) FROM article_revisions r"
            f" JOIN articles a ON a.article_id = r.article_id WHERE {where} GROUP BY day ORDER BY day",
            params,
        ).fetchall()

    def runs(self) -> list[dict[str, Any]]:
        """Every crawl run, oldest first."""
        return self.store.runs() if self.has_articles else []

    def flashes(self, selection: Selection) -> Iterator[dict[str, Any]]:
        """Every breaking-news flash whose ``time`` is on the selected days, as its record plus ``edits``,
        ordered by ``time``, then when it was stored."""
        if not self.has_flashes:
            return
        where, params = selection.where_days("time")
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        cursor.execute(f"SELECT {', '.join(breaking.STORED_COLUMNS)} FROM breaking_news WHERE {where}"
                       " ORDER BY time, id", params)
        for row in cursor:
            yield breaking.stored_flash(row)

    def flash_summary(self, selection: Selection) -> dict[str, Any]:
        """Counts of the flashes ``flashes`` yields: all, linked to an article, edited, time estimated;
        the first and last ``time``."""
        if not self.has_flashes:
            return {"flashes": 0, "linked": 0, "edited": 0, "estimated": 0, "first": None, "last": None}
        where, params = selection.where_days("time")
        row = self.conn.execute(
            "SELECT count(*), count(article_url), count(nullif(coalesce(edits, '[]'), '[]')),"
            f" coalesce(sum(time_estimated), 0), min(time), max(time) FROM breaking_news WHERE {where}",
            params).fetchone()
        return dict(zip(("flashes", "linked", "edited", "estimated", "first", "last"), row, strict=True))
