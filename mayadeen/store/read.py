"""Streaming reads of a store for datasets: the selected articles, revisions and breaking-news
flashes, one record at a time, from either engine (``mayadeen.store.interface.Store``).

Opens the store read-only (a SQLite file without the writer lock, a PostgreSQL database through a
read-only connection: it works while crawls write) and reads in one read-only transaction
(``Store.snapshot``), so every pass of an export sees the same state. Rows become records with the
same keys and values as the crawl produced, whichever engine holds them (objects' keys in the
contract order, see ``postgres_schema.from_column``). A SQLite store that only the
``breaking`` spider has written holds flashes and no articles: it reads as no items.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from typing import Any

from mayadeen.days import DayWindow
from mayadeen.store import breaking
from mayadeen.store.engines import StoreTarget, connect
from mayadeen.store.interface import Store, placeholders
from mayadeen.store.model import JSON_COLUMNS, RECORD_COLUMNS

#: The export's order: NULLs first on both engines (PostgreSQL's default puts them last).
_ORDER = "date_published NULLS FIRST, url"


@dataclass(frozen=True)
class Selection:
    """Which items: publication days (Beirut, inclusive: ``mayadeen.days``), sections or section groups,
    kinds; empty = all."""

    since: date | None = None
    until: date | None = None
    sections: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def where(self, alias: str = "", start: int = 1) -> tuple[str, list[Any]]:
        """The SQL condition (``TRUE`` for everything) and its parameters, on ``alias``'s columns;
        its placeholders are numbered from ``$start``."""
        col = f"{alias}." if alias else ""
        terms, params = self._days(f"{col}date_published", start)
        if self.sections:
            marks = placeholders(len(self.sections), start + len(params))
            terms.append(f"(lower({col}section) IN ({marks}) OR lower({col}section_group) IN ({marks}))")
            params += [s.lower() for s in self.sections]
        if self.kinds:
            terms.append(f"{col}kind IN ({placeholders(len(self.kinds), start + len(params))})")
            params += list(self.kinds)
        return (" AND ".join(terms) or "TRUE"), params

    def where_days(self, column: str, start: int = 1) -> tuple[str, list[Any]]:
        """The condition on the days alone, on the time ``column`` of rows without section or kind."""
        terms, params = self._days(column, start)
        return (" AND ".join(terms) or "TRUE"), params

    @property
    def names_items(self) -> bool:
        """True when it selects by section or kind, which only items have."""
        return bool(self.sections or self.kinds)

    def _days(self, column: str, start: int) -> tuple[list[str], list[Any]]:
        terms, params = [], []
        first, after = DayWindow(self.since, self.until).bounds()
        if first:
            terms.append(f"{column} >= ${start + len(params)}")
            params.append(first)
        if after:
            terms.append(f"{column} < ${start + len(params)}")
            params.append(after)
        return terms, params


#: Where the JSON columns are in a row of RECORD_COLUMNS.
_JSON_AT = tuple(i for i, c in enumerate(RECORD_COLUMNS) if c in JSON_COLUMNS)


def _row_record(
    row: tuple[Any, ...], decoded: tuple[int, ...] = _JSON_AT, as_text: tuple[int, ...] = (), to_text=None
) -> dict[str, Any]:
    """The record of a row of RECORD_COLUMNS (``stream_values``), the JSON columns at ``decoded``
    decoded and those at ``as_text`` through ``to_text`` (``Store.json_text``); no dict per row until
    the record's own (one per exported item)."""
    values = list(row)
    for i in decoded:
        values[i] = Store.from_json(values[i])
    for i in as_text:
        values[i] = to_text(values[i])
    return dict(zip(RECORD_COLUMNS, values, strict=True))


def _record(values: dict[str, Any]) -> dict[str, Any]:
    """The record of a revision's stored record: RECORD_COLUMNS, JSON decoded."""
    return _row_record(tuple(map(values.get, RECORD_COLUMNS)))


class StoreSnapshot:
    """One consistent, read-only view of the store at ``target`` (a context manager). Raises what
    ``engines.store_errors(target)`` names when the store cannot be opened or is not a store."""

    def __init__(self, target: StoreTarget):
        self._open = ExitStack()
        try:
            self.store = self._open.enter_context(connect(target, readonly=True))
            self._open.enter_context(self.store.snapshot())
            tables = self.store.tables()
            if not {"articles", "breaking_news"} & tables:  # fails early on a non-store
                raise FileNotFoundError(f"no articles or breaking_news table in {target}: not a mayadeen store")
            self.schema_version = self.store.schema_version()
            self.has_articles = "articles" in tables
            self.has_flashes = "breaking_news" in tables
        except BaseException:
            self._open.close()
            raise

    def __enter__(self) -> StoreSnapshot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._open.__exit__(*exc_info)

    def articles(self, selection: Selection, encoded: frozenset[str] = frozenset()) -> Iterator[dict[str, Any]]:
        """The current record of every selected item, ordered by ``date_published``, then ``url``.

        The JSON columns named in ``encoded`` come as their compact JSON text (``Store.json_text``),
        not decoded: a writer of JSON text needs no more, and decoding a row's lists of objects costs
        more than the rest of its reading (SQLite hands over the text it keeps, as it is)."""
        if not self.has_articles:
            return
        where, params = selection.where()
        decoded = tuple(i for i in _JSON_AT if RECORD_COLUMNS[i] not in encoded)
        as_text = () if self.store.keeps_json_text else tuple(i for i in _JSON_AT if i not in decoded)
        for row in self.store.stream_values(
            f"SELECT {', '.join(RECORD_COLUMNS)} FROM articles WHERE {where} ORDER BY {_ORDER}", params
        ):
            yield _row_record(row, decoded, as_text, self.store.json_text)

    def revisions(self, selection: Selection) -> Iterator[dict[str, Any]]:
        """Every earlier version of the selected items: its record plus ``revision`` and ``seen_at``
        (the last time that version was seen), ordered by its own ``date_published``, url, revision."""
        if not self.has_articles:
            return
        where, params = selection.where("a")
        for row in self.store.stream(
            "SELECT r.record, r.revision, r.seen_at FROM article_revisions r JOIN articles a"
            f" ON a.article_id = r.article_id WHERE {where}"
            " ORDER BY r.record ->> 'date_published' NULLS FIRST, r.url, r.revision",
            params,
        ):
            stored = self.store.from_json(row["record"])
            yield {**_record(stored), "revision": row["revision"], "seen_at": row["seen_at"]}

    def article_versions(self, selection: Selection) -> Iterator[tuple[Any, ...]]:
        """(date_published, url, content_hash, last_seen, revision) of every selected item: what
        changes whenever its exported row does (every store of an item sets ``last_seen``). Read from
        the covering index, never the body, when the selection names no section or kind."""
        if not self.has_articles:
            return
        where, params = selection.where()
        yield from self.store.stream_values(
            f"SELECT date_published, url, content_hash, last_seen, revision FROM articles WHERE {where}", params
        )

    def revision_versions(self, selection: Selection) -> Iterator[tuple[Any, ...]]:
        """(its own date_published, article_id, revision, seen_at) of every earlier version ``revisions`` yields."""
        if not self.has_articles:
            return
        where, params = selection.where("a")
        yield from self.store.stream_values(
            "SELECT r.record ->> 'date_published' AS published, r.article_id, r.revision, r.seen_at"
            f" FROM article_revisions r JOIN articles a ON a.article_id = r.article_id WHERE {where}",
            params,
        )

    def flash_versions(self, selection: Selection) -> Iterator[tuple[Any, ...]]:
        """(time, the stored flash as JSON) of each flash ``flashes`` yields (flashes are few, and edited in place)."""
        if not self.has_flashes:
            return
        where, params = selection.where_days("time")
        for row in self.store.stream(
            f"SELECT {', '.join(breaking.STORED_COLUMNS)} FROM breaking_news WHERE {where}", params
        ):
            yield row["time"], json.dumps(breaking.stored_flash(row), sort_keys=True)  # alike on both engines

    def revisions_by_day(self, selection: Selection) -> list[tuple[str, int]]:
        """(UTC day the replaced version was last seen, revisions) of the selected items, by day."""
        if not self.has_articles:
            return []
        where, params = selection.where("a")
        days = Counter(
            row["seen_at"][:10]
            for row in self.store.stream(
                "SELECT r.seen_at FROM article_revisions r JOIN articles a ON a.article_id = r.article_id"
                f" WHERE {where}",
                params,
            )
        )
        return sorted(days.items())

    def runs(self) -> list[dict[str, Any]]:
        """Every crawl run, oldest first."""
        return self.store.runs() if self.has_articles else []

    def flashes(self, selection: Selection) -> Iterator[dict[str, Any]]:
        """Every breaking-news flash whose ``time`` is on the selected days, as its record plus ``edits``,
        ordered by ``time``, then when it was stored."""
        if not self.has_flashes:
            return
        where, params = selection.where_days("time")
        for row in self.store.stream(
            f"SELECT {', '.join(breaking.STORED_COLUMNS)} FROM breaking_news WHERE {where} ORDER BY time, id", params
        ):
            yield breaking.stored_flash(row)

    def flash_summary(self, selection: Selection) -> dict[str, Any]:
        """Counts of the flashes ``flashes`` yields: all, linked to an article, edited, time estimated;
        the first and last ``time``."""
        if not self.has_flashes:
            return {"flashes": 0, "linked": 0, "edited": 0, "estimated": 0, "first": None, "last": None}
        where, params = selection.where_days("time")
        return self.store.row(
            "SELECT count(*) AS flashes, count(article_url) AS linked, count(nullif(coalesce(edits, '[]'), '[]'))"
            " AS edited, count(*) FILTER (WHERE time_estimated) AS estimated, min(time) AS first, max(time) AS last"
            f" FROM breaking_news WHERE {where}",
            params,
        )
