"""A window of Beirut-local days, as the ``since``/``until`` spider arguments give it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mayadeen.normalize import SITE_TZ


def _day_arg(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"-a {name}= takes a day as YYYY-MM-DD, got {value!r}") from None


@dataclass(frozen=True)
class DayWindow:
    """Inclusive Beirut-local days ``since``..``until``; either end may be open (None)."""

    since: date | None = None
    until: date | None = None

    @classmethod
    def from_args(cls, since: str | None, until: str | None) -> DayWindow:
        window = cls(_day_arg("since", since), _day_arg("until", until))
        if window.since and window.until and window.since > window.until:
            raise ValueError(f"-a since={window.since} is after -a until={window.until}")
        return window

    @property
    def is_open(self) -> bool:
        return self.since is None and self.until is None

    def contains(self, day: date) -> bool:
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)

    def overlaps(self, first: date | None, last: date | None) -> bool:
        """Whether days ``first``..``last`` (None: unbounded) share a day with the window."""
        return not ((last is not None and self.since is not None and last < self.since)
                    or (first is not None and self.until is not None and first > self.until))

    def covers(self, first: date | None, last: date | None) -> bool:
        """Whether every day ``first``..``last`` lies in the window."""
        return ((self.since is None or (first is not None and first >= self.since))
                and (self.until is None or (last is not None and last <= self.until)))

    def __str__(self) -> str:
        return f"{self.since or '…'}..{self.until or '…'}"


def today() -> date:
    return datetime.now(SITE_TZ).date()
