"""The BREAKING ticker that every HTML page of the site carries, as a page object.

``ul#breaking-ticker > li.breaking-ticker__item[data-time]``: short text-only flashes, newest first,
``data-time`` in ISO 8601 with the Beirut offset. ``TickerPage(response).read()`` gives the usable
flashes and counts what it had to leave out; it never raises on a broken ticker. The site shows
about ten flashes: a ticker with more than ``max_flashes`` is broken (or hostile), and only its
first ``max_flashes`` items, the newest, are read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from mayadeen.normalize import element_text, public_url, to_language, to_utc_iso
from mayadeen.urls import DEFAULT_TRACKING_PARAMS

#: What the site writes when it names no language: this is the English edition.
DEFAULT_LANGUAGE = "en"
#: Flashes read from one ticker by default (``MAYADEEN_MAX_TICKER_FLASHES``).
DEFAULT_MAX_FLASHES = 200


@dataclass(frozen=True)
class TickerEntry:
    """One flash as a page shows it."""

    text: str
    """Whitespace-normalised text as a reader sees it (markup inside the item dropped)."""
    time: str | None
    """``data-time`` as UTC ``YYYY-MM-DDThh:mm:ssZ``; None when it is missing or broken."""
    url: str | None
    """Where the flash links to (its first ``<a href>``), canonical and public; None when it links nowhere."""
    language: str


@dataclass
class TickerReading:
    """The flashes of one ticker, plus counts of the items left out or degraded."""

    found: bool
    """Whether the page has a ticker at all (an empty ticker is found, with no entries)."""
    entries: list[TickerEntry] = field(default_factory=list)
    problems: Counter[str] = field(default_factory=Counter)
    """``empty`` (no text: left out), ``duplicate`` (same text and time twice: one kept),
    ``bad_time`` (missing or broken ``data-time``: kept, without a time)."""
    details: list[str] = field(default_factory=list)
    """One short description per problem, for the log."""
    left_out: int = 0
    """Items beyond ``max_flashes``, not read."""


class TickerPage:
    """Reads the ticker of a response (any HTML page of the site); flash URLs lose the ``tracking``
    query parameters; at most ``max_flashes`` items are read (0: all)."""

    TICKER = "ul#breaking-ticker"
    ITEMS = "//ul[@id='breaking-ticker']/li"

    def __init__(
        self, response, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS, max_flashes: int = DEFAULT_MAX_FLASHES
    ):
        self.response = response
        self.tracking = tuple(tracking)
        self.max_flashes = max_flashes

    @cached_property
    def language(self) -> str:
        lang = self.response.xpath("/html/@lang").get()
        return to_language(lang) or DEFAULT_LANGUAGE

    def read(self) -> TickerReading:
        if not self.response.css(self.TICKER):
            return TickerReading(found=False)
        reading = TickerReading(found=True)
        seen: set[tuple[str | None, str]] = set()
        for position, item in enumerate(self._items(reading), start=1):
            text = element_text(item.root)
            if not text:
                reading.problems["empty"] += 1
                reading.details.append(f"item {position}: no text")
                continue
            raw_time = item.attrib.get("data-time")
            # A day without a time of day would pin the flash to midnight: not a time either.
            time = to_utc_iso(raw_time) if raw_time and ":" in raw_time else None
            if time is None:
                reading.problems["bad_time"] += 1
                reading.details.append(f"item {position}: data-time {raw_time!r} is not a time")
            if (time, text) in seen:
                reading.problems["duplicate"] += 1
                reading.details.append(f"item {position}: repeats an earlier item")
                continue
            seen.add((time, text))
            href = item.css("a::attr(href)").get()
            url = public_url(href, self.response.url, self.tracking) if href else None
            reading.entries.append(TickerEntry(text, time, url, self.language))
        return reading

    def _items(self, reading: TickerReading):
        """The first ``max_flashes`` items (selected by XPath: the others are never made into selectors)."""
        if not self.max_flashes:
            return self.response.xpath(self.ITEMS)
        total = int(float(self.response.xpath(f"count({self.ITEMS})").get()))
        if total > self.max_flashes:
            reading.left_out = total - self.max_flashes
            reading.details.append(
                f"{total} items, a broken ticker: only the first {self.max_flashes} are read"
                " (MAYADEEN_MAX_TICKER_FLASHES)"
            )
        return self.response.xpath(f"({self.ITEMS})[position() <= {self.max_flashes}]")
