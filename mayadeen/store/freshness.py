"""Whether an item page needs fetching: the one place every spider asks.

Discovery shows a date for most items: a sitemap ``<lastmod>``, a news sitemap's publication date, an
RSS ``pubDate``, a listing card's day ("4 Aug 2025", a Beirut-local day without a time). The store
answers, for the URLs discovery finds (``ArticleStore.lookup``: by primary key and a covering index,
whatever the size of the store), what it last saw of the item: its ``date_modified`` and
``date_published``, and the newest date discovery showed when it was last stored (``listed_date``).
An item is fetched when it is not stored yet, or when the date discovery shows is newer than all of
those; a day-only date is compared by Beirut-local day. A URL is known under every alias of its item
(an old slug that now redirects). A stored item seen without a date (a link between items) is not
fetched again. ``full`` (``-a full=1``) fetches every item regardless of the store.

In a JOBDIR crawl resumed after a kill (``mayadeen.extensions.resume``; the crawl builds its
``Freshness`` in ``mayadeen.spiders.freshness``), items whose page the job
fetched but did not finish are fetched again whatever the store says, and items an earlier run of the
job stored are not fetched again, in either mode; both count as news rather than as unchanged,
so the ``sections`` spider keeps paging past them.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from mayadeen.days import site_day
from mayadeen.normalize.dates import SITE_TZ, date_precision, to_utc_iso
from mayadeen.store.model import ItemState

logger = logging.getLogger(__name__)

#: The stat (``mayadeen/fresh/…``) of an unchanged item this crawl stored itself: found, not skipped.
STORED_THIS_CRAWL = "stored_this_crawl"

_FRESH_PREFIX = "mayadeen/fresh/"


#: Stats of a discovery that left whole parts of the site unread as unchanged (monthly sitemaps whose
#: lastmod did not move, or that answered 304): the items in them were not seen.
PARTS_UNREAD = ("mayadeen/sitemap/unchanged", "mayadeen/sitemap/not_modified")


def items_seen(stats: Mapping[str, Any]) -> int:
    """The items discovery showed in a run (``mayadeen/fresh/<verdict>``), fetched or skipped: what a
    quiet incremental run and a full one of the same spider have alike."""
    return sum(v for k, v in stats.items() if k.startswith(_FRESH_PREFIX))


def comparable_items_seen(stats: Mapping[str, Any]) -> int | None:
    """``items_seen``, or None when discovery left parts of the site unread (the count says nothing
    of the site's size then, and cannot be compared with other runs)."""
    return None if any(stats.get(key) for key in PARTS_UNREAD) else items_seen(stats)


#: Store answers kept for a second look at the same URL; dropped wholesale beyond this.
CACHE_SIZE = 20_000

#: What the store says of the URLs asked about (``Store.lookup``), awaited: the crawl's lookups are
#: made off the reactor thread.
Lookup = Callable[[list[str]], Awaitable[Mapping[str, ItemState]]]


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


def is_day_only(value) -> bool:
    """Whether a date value names a day without a time (``2025-08-04``, ``4 Aug 2025``)."""
    return date_precision(value) == 0


class Freshness:
    """Answers ``verdict(url, seen)`` from the store, looking up only the URLs asked about.

    ``lookup``: the store's answers for a list of URLs (``Store.lookup``), awaited; None: nothing is
    stored. ``await prefetch(urls)`` looks URLs up; ``verdict`` then answers for them without waiting.
    ``lookup_errors``: what ``lookup`` raises when the store cannot answer; the URLs it was asked about
    are then fetched (a WARNING and ``mayadeen/freshness/lookup_errors``): refetching a stored item
    costs a request, skipping an unknown one would lose it.
    ``unfinished``: URLs this job fetched but did not finish; ``done_runs``: the job's earlier runs
    (``crawl_runs`` ids: the items they stored are done); ``done``: URLs finished in this job when
    there is no store; ``full``: fetch every item. Stats (when given): ``mayadeen/fresh/<verdict>``, the number of items
    judged so, each item once, by its first verdict (``unchanged``: not fetched, as an earlier crawl
    stored it: the summary's ``skipped``); an unchanged item this crawl stored itself since
    ``started`` (listed again by another source, or stored by another worker of a distributed crawl)
    counts as ``mayadeen/fresh/stored_this_crawl``, as it was not skipped. ``listed_date(url)`` hands
    the pipeline the date discovery showed for an item it fetched.
    """

    def __init__(
        self,
        lookup: Lookup | None,
        *,
        lookup_errors: tuple[type[BaseException], ...] = (),
        full: bool = False,
        unfinished: Collection[str] = (),
        done_runs: Collection[int] = (),
        done: Collection[str] = (),
        stats=None,
        started: datetime | None = None,
    ):
        self.lookup = lookup
        self.lookup_errors = lookup_errors
        self.full = full
        self.unfinished = frozenset(unfinished)
        self.done_runs = frozenset(done_runs)
        self.done = frozenset(done)
        self.stats = stats
        self.started = started
        self._known: dict[str, ItemState | None] = {}
        self._listed: dict[str, str] = {}
        self._counted: set[str] = set()

    async def prefetch(self, urls: Iterable[str]) -> None:
        """Looks up ``urls`` in one go (a sitemap's worth), for the verdicts that follow. Ask for the
        verdicts before awaiting anything else: a later ``prefetch`` may drop these answers."""
        missing = [u for u in dict.fromkeys(urls) if u not in self._known]
        if not missing or self.lookup is None:
            return
        try:
            found = await self.lookup(missing)
        except self.lookup_errors as exc:
            logger.warning(
                "The store could not say whether %d items are stored (%s): they are fetched", len(missing), exc
            )
            if self.stats is not None:
                self.stats.inc_value("mayadeen/freshness/lookup_errors")
            found = {}
        if len(self._known) + len(missing) > CACHE_SIZE:
            self._known.clear()
        self._known.update((u, found.get(u)) for u in missing)

    def state(self, url: str) -> ItemState | None:
        if url not in self._known and self.lookup is not None:
            raise LookupError(f"{url} was not looked up in the store (await prefetch first)")
        return self._known.get(url)

    def verdict(self, url: str, seen=None, *, day_only: bool | None = None, count: bool = True) -> Verdict:
        """What to do with the item at ``url`` (canonical, looked up by ``prefetch``) that discovery
        shows with date ``seen``.

        ``day_only``: ``seen`` is a day, not an instant (listing cards); guessed from ``seen`` if None.
        ``count``: add the verdict to the stats (off for a second look at the same card).
        """
        verdict = self._verdict(url, seen, day_only)
        if verdict.fetch:
            listed = to_utc_iso(seen) if seen not in (None, "") else None
            if listed:
                self._listed[url] = listed
        if count and self.stats is not None and url not in self._counted:
            self._counted.add(url)  # an item listed by two sources counts once
            self.stats.inc_value(f"{_FRESH_PREFIX}{self._counted_as(url, verdict)}")
        return verdict

    def _counted_as(self, url: str, verdict: Verdict) -> str:
        state = self.state(url) if verdict is Verdict.UNCHANGED and self.started is not None else None
        if state is not None:
            stored = state.last_seen if isinstance(state.last_seen, datetime) else parse_instant(state.last_seen)
            if stored is not None and stored >= self.started:
                return STORED_THIS_CRAWL
        return verdict.value

    def needs_fetch(self, url: str, seen=None, *, day_only: bool | None = None) -> bool:
        return self.verdict(url, seen, day_only=day_only).fetch

    def listed_date(self, url: str) -> str | None:
        """The date (UTC ISO) discovery showed for ``url`` when it was judged worth fetching; once."""
        return self._listed.pop(url, None)

    def _verdict(self, url: str, seen, day_only: bool | None) -> Verdict:
        state = self.state(url)
        if url in self.unfinished or (state and state.url in self.unfinished):
            return Verdict.UNFINISHED
        if url in self.done or (state and state.last_run in self.done_runs):
            return Verdict.DONE
        if self.full:
            return Verdict.FULL
        if state is None:
            return Verdict.NEW
        if seen is None or seen == "":
            return Verdict.UNCHANGED
        known = (parse_instant(d) for d in (state.date_modified, state.date_published, state.listed_date))
        newest = max((d for d in known if d), default=None)
        if newest is None:  # stored without any date (should not happen: validation requires one)
            return Verdict.CHANGED
        if day_only is None:
            day_only = is_day_only(seen)
        if day_only:
            day = site_day(seen)
            return Verdict.CHANGED if day and day > newest.astimezone(SITE_TZ).date() else Verdict.UNCHANGED
        moment = parse_instant(seen)
        return Verdict.CHANGED if moment and moment > newest else Verdict.UNCHANGED
