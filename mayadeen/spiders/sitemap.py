"""``scrapy crawl sitemap``: every item the site's sitemaps list, optionally within a window of days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from mayadeen.store.freshness import site_day
from mayadeen.normalize import SITE_TZ
from mayadeen.pages.discovery import Entry, read_sitemap, robots_sitemaps, sitemap_body, sitemap_month
from mayadeen.spiders.base import MayadeenSpider
from mayadeen.urls import PUBLIC_URL, item_kind
from mayadeen.validation import Argument, UsageProblem, parse_day

#: How far back the Google News sitemap reaches (the site's: 7 days).
NEWS_SITEMAP_DAYS = 7


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
        return not ((last is not None and self.since is not None and last < self.since)
                    or (first is not None and self.until is not None and first > self.until))

    def covers(self, first: date | None, last: date | None) -> bool:
        """Whether every day ``first``..``last`` lies in the window."""
        return ((self.since is None or (first is not None and first >= self.since))
                and (self.until is None or (last is not None and last <= self.until)))

    def __str__(self) -> str:
        return f"{self.since or '…'}..{self.until or '…'}"


def window_arguments(date: str) -> dict:
    """The spider arguments plus ``since``/``until``, whose help (``scrapy crawl -h``) says which date they filter."""
    return {**MayadeenSpider.arguments,
            "since": Argument(parse_day, f"YYYY-MM-DD: only items whose {date} is on or after this Beirut day"),
            "until": Argument(parse_day, f"YYYY-MM-DD: only items whose {date} is on or before this Beirut day")}


def today() -> date:
    return datetime.now(SITE_TZ).date()


class SitemapSpider(MayadeenSpider):
    """robots.txt ``Sitemap:`` lines (else ``/sitemaps/all.xml``) → the sitemap index → monthly sitemaps,
    plus the news sitemap → every item they list.

    Arguments (``-a``), besides ``base_url`` and ``full``:

    ``since``, ``until``
        ``YYYY-MM-DD``, each optional, inclusive, Beirut-local days: only items whose sitemap
        ``<lastmod>`` falls in the window. Applied before fetching: a monthly sitemap that cannot hold
        such an item (its month starts after ``until``, or its ``<lastmod>`` in the index is before
        ``since``) is not requested, nor is an item whose ``<lastmod>`` is outside, nor the news
        sitemap when the window ends before its last 7 days. An item the news sitemap gives only a
        publication date for is taken from it when that date proves its last change is in the
        window; otherwise its monthly sitemap decides.

    Stats: ``mayadeen/sitemap/files``, ``mayadeen/sitemap/out_of_window`` (sitemaps and items not
    requested), ``mayadeen/sitemap/not_item`` (URLs that are not item pages), ``mayadeen/sitemap/invalid``.
    """

    name = "sitemap"
    arguments = window_arguments("last change (sitemap <lastmod>)")
    ROBOTS_URL = f"{PUBLIC_URL}/robots.txt"
    INDEX_URL = f"{PUBLIC_URL}/sitemaps/all.xml"
    NEWS_URL = f"{PUBLIC_URL}/sitemaps/news.xml"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        values = self.parse_arguments(kwargs)
        self.window = DayWindow(values.get("since"), values.get("until"))

    @classmethod
    def parse_arguments(cls, given) -> dict:
        values = super().parse_arguments(given)
        since, until = values.get("since"), values.get("until")
        if since and until and since > until:
            raise UsageProblem(f"-a since={since} is after -a until={until}: the window needs since <= until")
        return values

    async def start(self):
        if not self.window.is_open:
            self.logger.info("Window: items last changed %s (Beirut days)", self.window)
        yield self.request(self.ROBOTS_URL, self.parse_robots, errback=self.robots_failed)

    # --- discovery ------------------------------------------------------------------------------

    def parse_robots(self, response):
        found = robots_sitemaps(response.body, response.url, self.tracking)
        if not found:
            self.logger.warning("robots.txt lists no sitemap; falling back to %s", self.INDEX_URL)
        yield from self.sitemap_requests(found)

    def robots_failed(self, failure):
        self.logger.warning("robots.txt failed (%s); falling back to %s", failure.value, self.INDEX_URL)
        yield from self.sitemap_requests([])

    def sitemap_requests(self, urls: list[str]):
        """The sitemaps robots.txt names, else the index; and the news sitemap when it may matter."""
        urls = list(urls) or [self.INDEX_URL]
        if self.NEWS_URL not in urls:
            urls.append(self.NEWS_URL)
        for url in urls:
            if url == self.NEWS_URL and not self.window.overlaps(today() - timedelta(days=NEWS_SITEMAP_DAYS), None):
                self.crawler.stats.inc_value("mayadeen/sitemap/out_of_window")
                continue
            yield self.request(url, self.parse_sitemap, errback=self.sitemap_failed)

    def sitemap_failed(self, failure):
        self.logger.error("Sitemap %s failed: %s", failure.request.url, failure.value)

    def parse_sitemap(self, response):
        body = sitemap_body(response.body, self.settings.getint("DOWNLOAD_MAXSIZE"))
        sitemap = read_sitemap(body, response.url, self.tracking)
        self.crawler.stats.inc_value("mayadeen/sitemap/files")
        if sitemap.kind == "sitemapindex":
            for entry in sitemap.entries:
                if self.sitemap_in_window(entry):
                    yield self.request(entry.url, self.parse_sitemap, errback=self.sitemap_failed)
                else:
                    self.crawler.stats.inc_value("mayadeen/sitemap/out_of_window")
        elif sitemap.kind == "urlset":
            yield from self.item_requests(sitemap.entries)
        else:
            self.crawler.stats.inc_value("mayadeen/sitemap/invalid")
            self.logger.warning("Not a sitemap (%s): %s", sitemap.kind, response.url)

    def item_requests(self, entries):
        for entry in entries:
            if not item_kind(entry.url):
                self.crawler.stats.inc_value("mayadeen/sitemap/not_item")
                continue
            if not self.item_in_window(entry):
                self.crawler.stats.inc_value("mayadeen/sitemap/out_of_window")
                continue
            req = self.item_request(entry.url, entry.modified or entry.published)
            if req is not None:
                yield req

    # --- the window -----------------------------------------------------------------------------

    def sitemap_in_window(self, entry: Entry) -> bool:
        """A monthly sitemap holds items published in its month and last changed by its ``<lastmod>``."""
        if self.window.is_open:
            return True
        month = sitemap_month(entry.url)
        first = date(month[0], month[1], 1) if month else None
        last = site_day(entry.modified) if entry.modified else None  # none: changes may come any time
        return self.window.overlaps(first, last)

    def item_in_window(self, entry: Entry) -> bool:
        if self.window.is_open:
            return True
        if entry.modified:
            day = site_day(entry.modified)
            return day is None or self.window.contains(day)
        if entry.published:  # the last change is on or after publication, and not after today
            first = site_day(entry.published)
            return first is not None and self.window.covers(first, today())
        return True  # no date: its sitemap was in the window
