"""What a dataset holds, counted while it streams past: the figures of its card and report.

Only counters (by kind, section, month, day, tag, author, body length), so memory grows with the
number of distinct values, not with the number of items.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any


def week_of(day: str) -> str:
    """The Monday (``YYYY-MM-DD``) of the ISO week of a ``YYYY-MM-DD…`` day."""
    d = date.fromisoformat(day[:10])
    return (d - timedelta(days=d.weekday())).isoformat()


class Profile:
    #: The record keys ``add`` reads (the export decodes no other JSON column: ``datasets.ARTICLES``).
    READS = frozenset({"date_published", "kind", "section_group", "section", "tags", "authors", "word_count"})

    def __init__(self) -> None:
        self.items = 0
        self.first: str | None = None
        self.last: str | None = None
        self.kinds: Counter[str] = Counter()
        self.sections: Counter[tuple[str, str]] = Counter()
        self.months: Counter[str] = Counter()
        self.days: Counter[tuple[str, str]] = Counter()  # (UTC day, section group)
        self.tags: Counter[str] = Counter()
        self.authors: Counter[str] = Counter()
        self.word_counts: Counter[int] = Counter()

    def add(self, record: dict[str, Any]) -> None:
        published = record["date_published"]
        self.items += 1
        self.first = published if self.first is None else min(self.first, published)
        self.last = published if self.last is None else max(self.last, published)
        self.kinds[record["kind"]] += 1
        self.sections[(record["section_group"], record["section"])] += 1
        self.months[published[:7]] += 1
        self.days[(published[:10], record["section_group"])] += 1
        self.tags.update(record.get("tags") or ())
        self.authors.update(record.get("authors") or ())
        self.word_counts[record.get("word_count") or 0] += 1

    def state(self) -> dict[str, Any]:
        """The figures as JSON values (kept in the manifest: an export over an unchanged one reads
        them instead of the rows)."""
        return {
            "items": self.items,
            "first": self.first,
            "last": self.last,
            # in the order met: the report breaks ties between equal counts by it
            **{name: [[*_key(k), n] for k, n in getattr(self, name).items()] for name in _COUNTERS},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Profile:
        profile = cls()
        profile.items, profile.first, profile.last = state["items"], state["first"], state["last"]
        for name in _COUNTERS:
            getattr(profile, name).update({_unkey(entry[:-1]): entry[-1] for entry in state[name]})
        return profile

    def date_range(self) -> str:
        return f"{self.first} – {self.last}" if self.items else "no items"


#: The counters of ``Profile``, by attribute name.
_COUNTERS = ("kinds", "sections", "months", "days", "tags", "authors", "word_counts")


def _key(key: Any) -> list[Any]:
    return list(key) if isinstance(key, tuple) else [key]


def _unkey(parts: list[Any]) -> Any:
    return tuple(parts) if len(parts) > 1 else parts[0]
