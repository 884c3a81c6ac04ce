"""A window of Beirut-local days, as the ``since``/``until`` spider arguments give it (parsed by
``mayadeen.validation``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mayadeen.normalize.dates import SITE_TZ


@dataclass(frozen=True)
class DayWindow:
    """Inclusive Beirut-local days ``since``..``until``; either end may be open (None)."""

    since: date | None = None
    until: date | None = None

    @property
    def is_open(self) -> bool:
        return self.since is None and self.until is None

    def contains(self, day: date) -> bool:
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)

    def overlaps(self, first: date | None, last: date | None) -> bool:
        """Whether days ``first``..``last`` (None: unbounded) share a day with the window."""
        return not (
            (last is not None and self.since is not None and last < self.since)
            or (first is not None and self.until is not None and first > self.until)
        )

    def covers(self, first: date | None, last: date | None) -> bool:
        """Whether every day ``first``..``last`` lies in the window."""
        return (self.since is None or (first is not None and first >= self.since)) and (
            self.until is None or (last is not None and last <= self.until)
        )

    def __str__(self) -> str:
        return f"{self.since or '…'}..{self.until or '…'}"


def today() -> date:
    return datetime.now(SITE_TZ).date()
