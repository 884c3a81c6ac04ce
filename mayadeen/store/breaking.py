"""The ``breaking_news`` table: every flash of the BREAKING ticker once, and the article that followed it.

Identity (``BreakingStore.record``), for each item a page shows:

1. **Same flash**: a stored flash with the same time and the same identity key (``text_key``: case,
   punctuation, quotes, accents and spacing ignored) — whichever page or run showed it. Its
   ``last_seen`` moves; nothing else changes.
2. **Edited flash**: otherwise, a stored flash with the same time whose key is ``EDIT_SIMILARITY``
   alike (a corrected word or number; the most alike one) and that no other item of the same page
   is. Its text becomes the new one; the earlier texts are kept in ``edits`` (an earlier text seen
   again, from a stale copy of a page, changes nothing).
3. **Time repaired**: otherwise, a flash stored without a usable time (see 5) with the same key, seen
   in the last ``UNTIMED_MATCH_HOURS``: it gets the real time.
4. Otherwise a **new** flash.
5. An item **without a usable time** (``data-time`` missing or broken) is the flash with the same key
   seen in the last ``UNTIMED_MATCH_HOURS``, else a new flash whose ``time`` is when it was first seen,
   flagged ``time_estimated``.

Linking (``article_url``): a flash whose own link points at an item page of the site is linked to it.
Otherwise the stored article whose headline is most alike (``headline_similarity`` at least
``link_similarity``), published at the flash's time or up to ``link_window`` seconds after it; ties go
to the earlier article. Linking runs when a flash is stored or its text or time changes (against the
stored articles) and when an article is stored (``link_article``, against the stored flashes).

Writers: ``BreakingStore`` opens its own connection (WAL, busy timeout) and writes in short
transactions (one per page), like every writer of ``mayadeen.store.sqlite``: a ticker job every
minute, or a watch service, runs beside a long crawl of the same file. ``create_tables``
is also part of the store's own migration, so every store file has the table and its full-text
index ``breaking_fts`` (``mayadeen.store.fts``).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mayadeen.breaking.similarity import EDIT_SIMILARITY, edit_likeness, headline_similarity, text_key
from mayadeen.record import TIMESTAMP_FORMAT, utc_timestamp
from mayadeen.store.fts import BREAKING_FTS, ensure_fts
from mayadeen.store.interface import SharedStore
from mayadeen.urls import item_kind

NEW, UPDATED, UNCHANGED = "new", "updated", "unchanged"
#: How long an item without a usable time still matches a flash with the same text.
UNTIMED_MATCH_HOURS = 24
DEFAULT_LINK_SIMILARITY = 0.5
DEFAULT_LINK_WINDOW = 24 * 3600

DDL = (
    """CREATE TABLE IF NOT EXISTS breaking_news (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        text TEXT NOT NULL,
        time TEXT NOT NULL,
        time_estimated INTEGER NOT NULL DEFAULT 0,
        url TEXT,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        article_url TEXT,
        language TEXT,
        text_key TEXT NOT NULL,
        edits TEXT
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS breaking_news_identity ON breaking_news (time, text_key)",
    "CREATE INDEX IF NOT EXISTS breaking_news_text_key ON breaking_news (text_key)",
    "CREATE INDEX IF NOT EXISTS breaking_news_article_url ON breaking_news (article_url)",
)

#: The record's keys, in contract order (``mayadeen.breaking.item.FlashItem``).
RECORD_COLUMNS = ("text", "time", "time_estimated", "url", "first_seen", "last_seen", "article_url", "language")
#: An exported flash: the record and ``edits``, its earlier texts (JSON in the table).
STORED_COLUMNS = (*RECORD_COLUMNS, "edits")
_SELECT = f"SELECT id, {', '.join(RECORD_COLUMNS)}, text_key, edits FROM breaking_news"


def create_tables(conn: sqlite3.Connection) -> None:
    """Creates the table, its indexes and its full-text index if missing (idempotent; run inside the
    caller's transaction)."""
    for statement in DDL:
        conn.execute(statement)
    ensure_fts(conn, BREAKING_FTS)


def _shift(timestamp: str, seconds: float) -> str:
    moment = datetime.strptime(timestamp, TIMESTAMP_FORMAT) + timedelta(seconds=seconds)
    return moment.strftime(TIMESTAMP_FORMAT)


def _record(row: sqlite3.Row) -> dict[str, Any]:
    record = {c: row[c] for c in RECORD_COLUMNS}
    record["time_estimated"] = bool(record["time_estimated"])
    return record


def stored_flash(row: sqlite3.Row) -> dict[str, Any]:
    """A row (with the ``STORED_COLUMNS``; ``edits`` JSON text or a list) as the flash's record plus
    ``edits``, its earlier texts, oldest first."""
    return {**_record(row), "edits": SharedStore.from_json(row["edits"]) or []}


class BreakingStore:
    """Flashes in the ``breaking_news`` table of the store at ``path`` (``":memory:"`` for none)."""

    def __init__(self, path: str | os.PathLike, *, busy_timeout: float = 10.0,
                 link_similarity: float = DEFAULT_LINK_SIMILARITY, link_window: float = DEFAULT_LINK_WINDOW):
        self.path = str(path)
        self.link_similarity = link_similarity
        self.link_window = link_window
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout)
        self.conn.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        with self._write():
            create_tables(self.conn)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> BreakingStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, rolled back on any error."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # --- flashes ----------------------------------------------------------------------------------

    def record(self, entries: Iterable, seen_at: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Stores the items one page shows (``TickerEntry``-like: text, time, url, language).

        Returns ``(outcome, record)`` per item, outcome ``"new"``, ``"updated"`` (an edit, or a
        repaired time) or ``"unchanged"``; all in one transaction.
        """
        seen_at = seen_at or utc_timestamp()
        entries = list(entries)
        results: list[tuple[str, dict[str, Any]] | None] = [None] * len(entries)
        claimed: set[int] = set()  # flashes already matched by an item of this page
        with self._write():
            # Exact matches first, so an edit never takes a flash another item of the page is.
            for i, entry in enumerate(entries):
                row = self._same(entry, seen_at)
                if row is not None:
                    claimed.add(row["id"])
                    results[i] = (UNCHANGED, self._touch(row, entry, seen_at))
            for i, entry in enumerate(entries):
                if results[i] is None:
                    # Looked up again: an item of this page may have just stored the same flash.
                    row = self._same(entry, seen_at)
                    results[i] = ((UNCHANGED, self._touch(row, entry, seen_at)) if row is not None
                                  else self._edit_or_insert(entry, seen_at, claimed))
        return results  # type: ignore[return-value]

    def _same(self, entry, seen_at: str) -> sqlite3.Row | None:
        key = text_key(entry.text)
        if entry.time is not None:
            return self.conn.execute(f"{_SELECT} WHERE time = ? AND text_key = ?", (entry.time, key)).fetchone()
        return self._recent_with_key(key, seen_at, estimated_only=False)

    def _recent_with_key(self, key: str, seen_at: str, *, estimated_only: bool) -> sqlite3.Row | None:
        since = _shift(seen_at, -UNTIMED_MATCH_HOURS * 3600)
        flag = " AND time_estimated = 1" if estimated_only else ""
        return self.conn.execute(
            f"{_SELECT} WHERE text_key = ? AND last_seen >= ?{flag} ORDER BY last_seen DESC LIMIT 1", (key, since)
        ).fetchone()

    def _touch(self, row: sqlite3.Row, entry, seen_at: str) -> dict[str, Any]:
        """The same flash seen again: ``last_seen`` moves; a link or language it lacked is filled in."""
        url = row["url"] or entry.url
        self.conn.execute(
            "UPDATE breaking_news SET last_seen = max(last_seen, ?), url = ?, language = coalesce(language, ?)"
            " WHERE id = ?", (seen_at, url, entry.language, row["id"]))
        if url != row["url"]:
            self._link_flash(row["id"])
        return self._get(row["id"])

    def _edit_or_insert(self, entry, seen_at: str, claimed: set[int]) -> tuple[str, dict[str, Any]]:
        key = text_key(entry.text)
        if entry.time is not None:
            candidates = self.conn.execute(f"{_SELECT} WHERE time = ?", (entry.time,)).fetchall()
            likeness = {r["id"]: edit_likeness(key, r["text_key"]) for r in candidates if r["id"] not in claimed}
            edited = [r for r in candidates if likeness.get(r["id"], 0.0) >= EDIT_SIMILARITY]
            if edited:
                row = max(edited, key=lambda r: likeness[r["id"]])
                claimed.add(row["id"])
                edits = json.loads(row["edits"] or "[]")
                if key in {text_key(t) for t in edits}:  # an earlier text, from a stale copy of a page
                    return UNCHANGED, self._touch(row, entry, seen_at)
                edits.append(row["text"])
                self.conn.execute(
                    "UPDATE breaking_news SET text = ?, text_key = ?, edits = ?, last_seen = max(last_seen, ?),"
                    " url = coalesce(?, url) WHERE id = ?",
                    (entry.text, key, json.dumps(edits, ensure_ascii=False), seen_at, entry.url, row["id"]))
                self._link_flash(row["id"])
                return UPDATED, self._get(row["id"])
            untimed = self._recent_with_key(key, seen_at, estimated_only=True)
            if untimed is not None and untimed["id"] not in claimed:
                claimed.add(untimed["id"])
                self.conn.execute(
                    "UPDATE breaking_news SET time = ?, time_estimated = 0, last_seen = max(last_seen, ?) WHERE id = ?",
                    (entry.time, seen_at, untimed["id"]))
                self._link_flash(untimed["id"])
                return UPDATED, self._get(untimed["id"])
        cursor = self.conn.execute(
            "INSERT INTO breaking_news (text, time, time_estimated, url, first_seen, last_seen, language, text_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.text, entry.time or seen_at, int(entry.time is None), entry.url, seen_at, seen_at,
             entry.language, key))
        claimed.add(cursor.lastrowid)
        self._link_flash(cursor.lastrowid)
        return NEW, self._get(cursor.lastrowid)

    def _get(self, flash_id: int) -> dict[str, Any]:
        return _record(self.conn.execute(f"{_SELECT} WHERE id = ?", (flash_id,)).fetchone())

    def flashes(self) -> list[dict[str, Any]]:
        """Every stored flash as a record (plus ``edits``, the earlier texts), oldest first."""
        rows = self.conn.execute(f"{_SELECT} ORDER BY time, id").fetchall()
        return [stored_flash(r) for r in rows]

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM breaking_news").fetchone()[0]

    # --- linking ----------------------------------------------------------------------------------

    def _has_articles(self) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'articles'").fetchone() is not None

    def _rank(self, text: str, headline: str | None, published: str | None, url: str) -> tuple | None:
        """Sort key of an article as the match of a flash (smaller is better), None when it does not match."""
        score = headline_similarity(text, headline or "")
        if score < self.link_similarity or self.link_similarity <= 0:
            return None
        return (-score, published or "", url)

    def _link_flash(self, flash_id: int) -> None:
        """Sets the flash's ``article_url`` from its own link or the best stored article (inside a write)."""
        row = self.conn.execute("SELECT text, time, url FROM breaking_news WHERE id = ?", (flash_id,)).fetchone()
        if row["url"] and item_kind(row["url"]):
            best = row["url"]
        elif self._has_articles():
            candidates = self.conn.execute(
                "SELECT url, headline, date_published FROM articles WHERE date_published >= ? AND date_published <= ?",
                (row["time"], _shift(row["time"], self.link_window))).fetchall()
            ranked = [(rank, url) for url, headline, published in candidates
                      if (rank := self._rank(row["text"], headline, published, url)) is not None]
            best = min(ranked)[1] if ranked else None
        else:
            best = None
        self.conn.execute("UPDATE breaking_news SET article_url = ? WHERE id = ?", (best, flash_id))

    def link_article(self, url: str, headline: str | None, published: str | None) -> int:
        """An article was stored: links it to the flashes it matches better than their current article.

        Returns the number of flashes it was linked to.
        """
        if not (url and headline and published):
            return 0
        linked = 0
        with self._write():
            flashes = self.conn.execute(
                "SELECT id, text, url, article_url FROM breaking_news WHERE time <= ? AND time >= ?",
                (published, _shift(published, -self.link_window))).fetchall()
            for flash in flashes:
                if flash["url"] and item_kind(flash["url"]):
                    continue  # linked by its own link
                mine = self._rank(flash["text"], headline, published, url)
                if mine is None or flash["article_url"] == url:
                    continue
                current = self._current_rank(flash["text"], flash["article_url"])
                if current is None or mine < current:
                    self.conn.execute("UPDATE breaking_news SET article_url = ? WHERE id = ?", (url, flash["id"]))
                    linked += 1
        return linked

    def _current_rank(self, text: str, article_url: str | None) -> tuple | None:
        if not article_url or not self._has_articles():
            return None
        row = self.conn.execute("SELECT headline, date_published FROM articles WHERE url = ?", (article_url,)).fetchone()
        return self._rank(text, row[0], row[1], article_url) if row else None
