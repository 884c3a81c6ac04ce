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
``link_similarity``), published at the flash's time or up to ``link_window`` seconds after it — only
when it is the one best match: two articles alike to the same degree are a tie, and a tie is no link
(a junk flash that matches everything links to nothing). Linking runs when a flash is stored or its text or time
changes (against the
stored articles) and when an article is stored (``link_article``, against the stored flashes).

Streaming (``streamed``): a flash is stored with ``streamed`` false and marked (``mark_streamed``) only
once the ``breaking`` spider's feeds hold it (``mayadeen.feeds.durable``); a run streams every flash not marked
(``unstreamed``), so after a kill the next run writes what the killed one stored and did not write.
The column came after the table: rows from before it count as streamed (they were, when stored).

Writers: ``BreakingStore`` works on a store of either engine (``mayadeen.store.interface.Store``),
with the same SQL on both. Each page's flashes (``record``) and each article's links
(``link_article``) are one write transaction that takes turns with every other writer of the
table (``serial``: SQLite's one writer at a time, PostgreSQL's advisory lock), so a ticker job every
minute, a watch service and the harvest of crawls on several machines store each flash once.
SQLite's table (``create_tables``, with its full-text index ``breaking_fts``) is part of the
store's own migration; PostgreSQL's is in ``mayadeen.store.postgres_schema``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from mayadeen.breaking.similarity import EDIT_SIMILARITY, edit_likeness, headline_similarity, text_key
from mayadeen.record import TIMESTAMP_FORMAT, utc_timestamp
from mayadeen.store.fts import BREAKING_FTS, ensure_fts
from mayadeen.store.interface import Store
from mayadeen.urls import item_kind

NEW, UPDATED, UNCHANGED = "new", "updated", "unchanged"
#: How long an item without a usable time still matches a flash with the same text.
UNTIMED_MATCH_HOURS = 24
DEFAULT_LINK_SIMILARITY = 0.5
DEFAULT_LINK_WINDOW = 24 * 3600
#: The ``serial`` name of the table's writers: they take turns (``Store.write``).
SERIAL = "breaking_news"

#: SQLite's table, created with the store's other tables (PostgreSQL's: ``mayadeen.store.postgres_schema``).
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
#: Added after the table (SQLite's ``ALTER TABLE``, PostgreSQL's in ``postgres_schema``): rows from before
#: it were streamed when stored; every insert says false.
STREAMED_DDL = "streamed INTEGER NOT NULL DEFAULT 1"
#: What ``unstreamed`` reads (partial: the flashes not yet in a stream are few).
UNSTREAMED_INDEX = "breaking_news_unstreamed"

#: The record's keys, in contract order (``mayadeen.breaking.item.FlashItem``).
RECORD_COLUMNS = ("text", "time", "time_estimated", "url", "first_seen", "last_seen", "article_url", "language")
#: An exported flash: the record and ``edits``, its earlier texts (a JSON column).
STORED_COLUMNS = (*RECORD_COLUMNS, "edits")
_SELECT = f"SELECT id, {', '.join(RECORD_COLUMNS)}, text_key, edits FROM breaking_news"


def create_tables(conn: sqlite3.Connection) -> None:
    """Creates SQLite's table, its indexes and its full-text index if missing (idempotent; run inside
    the caller's transaction)."""
    for statement in DDL:
        conn.execute(statement)
    if "streamed" not in {row[1] for row in conn.execute("PRAGMA table_info(breaking_news)")}:
        conn.execute(f"ALTER TABLE breaking_news ADD COLUMN {STREAMED_DDL}")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {UNSTREAMED_INDEX} ON breaking_news (id) WHERE NOT streamed")
    ensure_fts(conn, BREAKING_FTS)


def _shift(timestamp: str, seconds: float) -> str:
    moment = datetime.strptime(timestamp, TIMESTAMP_FORMAT) + timedelta(seconds=seconds)
    return moment.strftime(TIMESTAMP_FORMAT)


def _record(row: Mapping[str, Any]) -> dict[str, Any]:
    record = {c: row[c] for c in RECORD_COLUMNS}
    record["time_estimated"] = bool(record["time_estimated"])  # SQLite: 0/1
    return record


def _edits(row: Mapping[str, Any]) -> list[str]:
    return Store.from_json(row["edits"]) or []


def stored_flash(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row with the ``STORED_COLUMNS`` (a dict of ``Store.rows``, or a ``sqlite3.Row``) as the
    flash's record plus ``edits``, its earlier texts, oldest first. ``edits`` may be the JSON text
    (SQLite), the list (PostgreSQL) or null; ``time_estimated`` 0/1 or a bool."""
    return {**_record(row), "edits": _edits(row)}


class BreakingStore:
    """Flashes in the ``breaking_news`` table of ``store`` (either engine; opened and closed by the caller)."""

    def __init__(
        self,
        store: Store,
        *,
        link_similarity: float = DEFAULT_LINK_SIMILARITY,
        link_window: float = DEFAULT_LINK_WINDOW,
    ):
        self.store = store
        self.link_similarity = link_similarity
        self.link_window = link_window

    # --- flashes ----------------------------------------------------------------------------------

    def record(self, entries: Iterable, seen_at: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Stores the items one page shows (``TickerEntry``-like: text, time, url, language).

        Returns ``(outcome, record)`` per item, outcome ``"new"``, ``"updated"`` (an edit, or a
        repaired time) or ``"unchanged"``; all in one transaction.
        """
        seen_at = seen_at or utc_timestamp()
        entries = list(entries)
        return self.store.write(lambda: self._record_page(entries, seen_at), serial=SERIAL)

    def _record_page(self, entries: list, seen_at: str) -> list[tuple[str, dict[str, Any]]]:
        """``record``'s transaction (done again whole if PostgreSQL's connection was lost)."""
        results: list[tuple[str, dict[str, Any]] | None] = [None] * len(entries)
        claimed: set[int] = set()  # flashes already matched by an item of this page
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
                results[i] = (
                    (UNCHANGED, self._touch(row, entry, seen_at))
                    if row is not None
                    else self._edit_or_insert(entry, seen_at, claimed)
                )
        return results  # type: ignore[return-value]

    def _same(self, entry, seen_at: str) -> dict[str, Any] | None:
        key = text_key(entry.text)
        if entry.time is not None:
            return self.store.row(f"{_SELECT} WHERE time = $1 AND text_key = $2", (entry.time, key))
        return self._recent_with_key(key, seen_at, estimated_only=False)

    def _recent_with_key(self, key: str, seen_at: str, *, estimated_only: bool) -> dict[str, Any] | None:
        since = _shift(seen_at, -UNTIMED_MATCH_HOURS * 3600)
        flag = " AND time_estimated" if estimated_only else ""
        return self.store.row(
            f"{_SELECT} WHERE text_key = $1 AND last_seen >= $2{flag} ORDER BY last_seen DESC LIMIT 1", (key, since)
        )

    def _touch(self, row: Mapping[str, Any], entry, seen_at: str) -> dict[str, Any]:
        """The same flash seen again: ``last_seen`` moves; a link or language it lacked is filled in."""
        url = row["url"] or entry.url
        self.store.run(
            "UPDATE breaking_news SET last_seen = $1, url = $2, language = coalesce(language, $3) WHERE id = $4",
            (max(row["last_seen"], seen_at), url, entry.language, row["id"]),
        )
        if url != row["url"]:
            self._link_flash(row["id"])
        return self._get(row["id"])

    def _edit_or_insert(self, entry, seen_at: str, claimed: set[int]) -> tuple[str, dict[str, Any]]:
        key = text_key(entry.text)
        if entry.time is not None:
            candidates = self.store.rows(f"{_SELECT} WHERE time = $1", (entry.time,))
            likeness = {r["id"]: edit_likeness(key, r["text_key"]) for r in candidates if r["id"] not in claimed}
            edited = [r for r in candidates if likeness.get(r["id"], 0.0) >= EDIT_SIMILARITY]
            if edited:
                row = max(edited, key=lambda r: likeness[r["id"]])
                claimed.add(row["id"])
                edits = _edits(row)
                if key in {text_key(t) for t in edits}:  # an earlier text, from a stale copy of a page
                    return UNCHANGED, self._touch(row, entry, seen_at)
                self.store.run(
                    "UPDATE breaking_news SET text = $1, text_key = $2, edits = $3, last_seen = $4,"
                    " url = coalesce($5, url) WHERE id = $6",
                    (
                        entry.text,
                        key,
                        self.store.json([*edits, row["text"]]),
                        max(row["last_seen"], seen_at),
                        entry.url,
                        row["id"],
                    ),
                )
                self._link_flash(row["id"])
                return UPDATED, self._get(row["id"])
            untimed = self._recent_with_key(key, seen_at, estimated_only=True)
            if untimed is not None and untimed["id"] not in claimed:
                claimed.add(untimed["id"])
                self.store.run(
                    "UPDATE breaking_news SET time = $1, time_estimated = $2, last_seen = $3 WHERE id = $4",
                    (entry.time, False, max(untimed["last_seen"], seen_at), untimed["id"]),
                )
                self._link_flash(untimed["id"])
                return UPDATED, self._get(untimed["id"])
        flash_id = self.store.row(
            "INSERT INTO breaking_news"
            " (text, time, time_estimated, url, first_seen, last_seen, language, text_key, streamed)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            (
                *(entry.text, entry.time or seen_at, entry.time is None, entry.url, seen_at, seen_at),
                *(entry.language, key, False),
            ),
        )["id"]
        claimed.add(flash_id)
        self._link_flash(flash_id)
        return NEW, self._get(flash_id)

    def _get(self, flash_id: int) -> dict[str, Any]:
        return _record(self.store.row(f"{_SELECT} WHERE id = $1", (flash_id,)))

    def flashes(self) -> list[dict[str, Any]]:
        """Every stored flash as a record (plus ``edits``, the earlier texts), oldest first."""
        rows = self.store.read(lambda: self.store.rows(f"{_SELECT} ORDER BY time, id"))
        return [stored_flash(r) for r in rows]

    def unstreamed(self, *, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """``(id, record)`` of the first ``limit`` flashes after id ``after`` that no stream has written
        yet, in the order stored."""
        query = f"{_SELECT} WHERE NOT streamed AND id > $1 ORDER BY id LIMIT $2"
        rows = self.store.read(lambda: self.store.rows(query, (after, limit)))
        return [(r["id"], _record(r)) for r in rows]

    def mark_streamed(self, flash_ids: Iterable[int]) -> None:
        """The streams hold these flashes: no later run writes them again (one transaction)."""
        flash_ids = list(flash_ids)  # a retried transaction reads them again

        def mark():
            for flash_id in flash_ids:
                self.store.run("UPDATE breaking_news SET streamed = $1 WHERE id = $2", (True, flash_id))

        self.store.write(mark)

    def count(self) -> int:
        return self.store.read(lambda: self.store.row("SELECT count(*) AS n FROM breaking_news"))["n"]

    # --- linking ----------------------------------------------------------------------------------

    def _rank(self, text: str, headline: str | None, published: str | None, url: str) -> tuple | None:
        """Sort key of an article as the match of a flash (smaller is better), None when it does not match."""
        score = headline_similarity(text, headline or "")
        if score < self.link_similarity or self.link_similarity <= 0:
            return None
        return (-score, published or "", url)

    def _link_flash(self, flash_id: int) -> str | None:
        """Sets the flash's ``article_url`` from its own link or the one best stored article (inside a
        write), and returns it."""
        flash = self.store.row("SELECT text, time, url FROM breaking_news WHERE id = $1", (flash_id,))
        if flash["url"] and item_kind(flash["url"]):
            best = flash["url"]
        else:
            candidates = self.store.rows(
                "SELECT url, headline, date_published FROM articles"
                " WHERE date_published >= $1 AND date_published <= $2",
                (flash["time"], _shift(flash["time"], self.link_window)),
            )
            ranked = sorted(
                rank
                for a in candidates
                if (rank := self._rank(flash["text"], a["headline"], a["date_published"], a["url"])) is not None
            )
            unique = ranked and (len(ranked) == 1 or ranked[0][0] < ranked[1][0])  # a tie in score is no link
            best = ranked[0][-1] if unique else None
        self.store.run("UPDATE breaking_news SET article_url = $1 WHERE id = $2", (best, flash_id))
        return best

    def link_article(self, url: str, headline: str | None, published: str | None) -> int:
        """An article was stored: the flashes it matches are linked again, to it when it is their one best
        match (it may also make a tie, and then the flash links to none).

        Returns the number of flashes it was linked to.
        """
        if not (url and headline and published):
            return 0
        return self.store.write(lambda: self._link_article(url, headline, published), serial=SERIAL)

    def _link_article(self, url: str, headline: str, published: str) -> int:
        """``link_article``'s transaction."""
        linked = 0
        flashes = self.store.rows(
            "SELECT id, text, url, article_url FROM breaking_news WHERE time <= $1 AND time >= $2",
            (published, _shift(published, -self.link_window)),
        )
        for flash in flashes:
            if flash["url"] and item_kind(flash["url"]):
                continue  # linked by its own link
            if flash["article_url"] == url or self._rank(flash["text"], headline, published, url) is None:
                continue
            linked += self._link_flash(flash["id"]) == url
        return linked
