"""What a day on the command line means, for every command: a calendar day in Beirut.

The site is Lebanese: the times it prints (an article's date, the ticker's) are Beirut wall-clock
time, and the day it shows an item under is a Beirut day. So ``scrapy crawl -a since/until``,
``scrapy export --since/--until`` and ``scrapy reextract --since/--until`` all take ``YYYY-MM-DD`` as an
inclusive day in ``Asia/Beirut`` (UTC+2, UTC+3 in summer): an item published at 23:30 UTC on 4 August
is of 5 August (02:30 in Beirut). Each command filters on the one date it has (said in its ``-h``): a
crawl on the last change the sitemap or feed shows (before fetching, it knows no other), an export on
the publication, a re-extraction on the fetch of the archived capture. The store and the archive hold
UTC instants; a window of days is the UTC interval ``bounds()`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from mayadeen.normalize.dates import SITE_TZ, to_utc_iso
from mayadeen.record import TIMESTAMP_FORMAT

#: The time zone of every day given on the command line, as the commands' help names it.
DAY_ZONE = "Beirut time, Asia/Beirut"


def site_day(value) -> date | None:
    """The Beirut day of any date the site writes or the store holds (a bare day is that day)."""
    utc = to_utc_iso(value)
    return datetime.fromisoformat(utc).astimezone(SITE_TZ).date() if utc else None


def day_start(day: date) -> str:
    """The UTC instant (``YYYY-MM-DDThh:mm:ssZ``) at which the Beirut day ``day`` begins."""
    return datetime.combine(day, time(), SITE_TZ).astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def today() -> date:
    return datetime.now(SITE_TZ).date()


@dataclass(frozen=True)
class DayWindow:
    """Inclusive Beirut days ``since``..``until``; either end may be open (None)."""

    since: date | None = None
    until: date | None = None

    @property
    def is_open(self) -> bool:
        return self.since is None and self.until is None

    def contains(self, day: date) -> bool:
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)

    def holds(self, moment) -> bool:
        """Whether the instant ``moment`` (a UTC timestamp, any date the site writes) is on a day of the window."""
        if self.is_open:
            return True
        day = site_day(moment)
        return day is not None and self.contains(day)

    def bounds(self) -> tuple[str | None, str | None]:
        """The window as UTC instants: its first (inclusive), and the first after it (exclusive)."""
        return (
            day_start(self.since) if self.since else None,
            day_start(self.until + timedelta(days=1)) if self.until else None,
        )

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
