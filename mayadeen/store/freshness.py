"""Whether an item page needs fetching: the one place every spider asks.

Discovery shows a date for most items: a sitemap ``<lastmod>``, a news sitemap's publication date, an
RSS ``pubDate``, a listing card's day ("4 Aug 2025", a Beirut-local day without a time). The store
holds the dates of every item it has (``ArticleStore.stored_dates()``, read once when the spider
opens). An item is fetched when it is not stored yet, or when the date discovery shows is newer than
the newest date the store holds for it (date_modified, else date_published); a day-only date is
compared by Beirut-local day. A stored item seen without a date (a link between items) is not
fetched again. ``full`` (``-a full=1``) fetches every item regardless of the store.

In a JOBDIR crawl resumed after a kill (``mayadeen.extensions.resume``), items this job has already
finished are not fetched again, in either mode, and items whose page it fetched but did not finish
are fetched again whatever the store says; both count as news rather than as unchanged, so the
``sections`` spider keeps paging past them.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection, Mapping
from datetime import date, datetime
from pathlib import Path

from mayadeen.normalize.dates import SITE_TZ, to_utc_iso
from mayadeen.store.sqlite import StoredDates, read_stored_dates

logger = logging.getLogger(__name__)

class Verdict(enum.Enum):
    NEW = "new"  # not in the store: fetch
    CHANGED = "changed"  # stored, but discovery shows a newer date: fetch
    UNCHANGED = "unchanged"  # stored, nothing newer: skip
    DONE = "done"  # finished earlier in this (resumed) job: skip
    UNFINISHED = "unfinished"  # fetched earlier in this job, killed before it was finished: fetch
    FULL = "full"  # -a full=1: fetch

    @property
    def fetch(self) -> bool:
        return self not in (Verdict.UNCHANGED, Verdict.DONE)


def parse_instant(value) -> datetime | None:
    """Any date the site writes (ISO 8601 with or without offset, RFC 822, "4 Aug 2025") as aware UTC."""
    utc = to_utc_iso(value)
    return datetime.fromisoformat(utc) if utc else None


def site_day(value) -> date | None:
    """The Beirut-local day of any date the site writes (a bare day is that day)."""
    moment = parse_instant(value)
    return moment.astimezone(SITE_TZ).date() if moment else None


def is_day_only(value) -> bool:
    """Whether a date string names a day without a time (``2025-08-04``, ``4 Aug 2025``)."""
    if isinstance(value, str):
        return ":" not in value  # every time of day the site writes has hh:mm
    return isinstance(value, date) and not isinstance(value, datetime)


class Freshness:
    """Answers ``verdict(url, seen)`` from a snapshot of the store's dates.

    ``stored``: url -> ``StoredDates`` (``ArticleStore.stored_dates()``); ``done``/``fetched``: URLs
    this job has already finished / fetched; ``full``: fetch every item. Stats (when given):
    ``mayadeen/fresh/<verdict>``, the number of items judged so (``unchanged``: not fetched).
    """

    def __init__(self, stored: Mapping[str, StoredDates], *, full: bool = False,
                 done: Collection[str] = (), fetched: Collection[str] = (), stats=None):
        self.stored = stored
        self.full = full
        self.done = frozenset(done)
        self.unfinished = frozenset(fetched) - self.done
        self.stats = stats
        self._counted: set[tuple[str, Verdict]] = set()

    @classmethod
    def from_crawler(cls, crawler, *, full: bool = False) -> Freshness:
        from mayadeen.extensions.resume import Journal, read_journal  # the JOBDIR journal

        path = crawler.settings.get("MAYADEEN_SQLITE_PATH") or ""
        stored = read_stored_dates(path) if path.strip() else {}
        jobdir = crawler.settings.get("JOBDIR")
        journal = read_journal(Path(jobdir)) if jobdir else Journal(frozenset(), frozenset())
        if full:
            logger.info("Full crawl: every item is fetched again")
        elif path.strip():
            logger.info("Incremental crawl: %d items in %s are fetched again only if newer", len(stored), path)
        else:
            logger.info("No store (MAYADEEN_SQLITE_PATH is empty): every item is fetched")
        if journal.fetched or journal.done:
            logger.info("Resumed job: %d items finished earlier in this job are skipped, %d unfinished are"
                        " fetched again", len(journal.done), len(journal.fetched - journal.done))
        return cls(stored, full=full, done=journal.done, fetched=journal.fetched, stats=crawler.stats)

    def verdict(self, url: str, seen=None, *, day_only: bool | None = None, count: bool = True) -> Verdict:
        """What to do with the item at ``url`` (canonical) that discovery shows with date ``seen``.

        ``day_only``: ``seen`` is a day, not an instant (listing cards); guessed from ``seen`` if None.
        ``count``: add the verdict to the stats (off for a second look at the same card).
        """
        verdict = self._verdict(url, seen, day_only)
        if count and self.stats is not None and (url, verdict) not in self._counted:
            self._counted.add((url, verdict))  # an item listed by two sitemaps counts once
            self.stats.inc_value(f"mayadeen/fresh/{verdict.value}")
        return verdict

    def needs_fetch(self, url: str, seen=None, *, day_only: bool | None = None) -> bool:
        return self.verdict(url, seen, day_only=day_only).fetch

    def _verdict(self, url: str, seen, day_only: bool | None) -> Verdict:
        if url in self.done:
            return Verdict.DONE
        if url in self.unfinished:
            return Verdict.UNFINISHED
        if self.full:
            return Verdict.FULL
        dates = self.stored.get(url)
        if dates is None:
            return Verdict.NEW
        if seen is None or seen == "":
            return Verdict.UNCHANGED
        newest = max((d for d in (parse_instant(dates.date_modified), parse_instant(dates.date_published)) if d),
                     default=None)
        if newest is None:  # stored without any date (should not happen: validation requires one)
            return Verdict.CHANGED
        if day_only is None:
            day_only = is_day_only(seen)
        if day_only:
            day = site_day(seen)
            return Verdict.CHANGED if day and day > newest.astimezone(SITE_TZ).date() else Verdict.UNCHANGED
        moment = parse_instant(seen)
        return Verdict.CHANGED if moment and moment > newest else Verdict.UNCHANGED
