"""``scrapy crawl sitemap``: every item the site's sitemaps list, optionally within a window of days."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from scrapy import signals
from scrapy.spiders import SitemapSpider as ScrapySitemapSpider
from scrapy.utils.defer import maybe_deferred_to_future
from w3lib.url import safe_url_string

from mayadeen.days import DAY_ZONE, DayWindow, site_day, today
from mayadeen.normalize.dates import to_utc_iso
from mayadeen.pages.discovery import Entry, read_sitemap, sitemap_body, sitemap_month
from mayadeen.pipelines.store import StorePipeline, open_store
from mayadeen.spiders.base import MayadeenSpider
from mayadeen.store.sitemap_reads import SitemapLedger
from mayadeen.urls import PUBLIC_URL, item_kind
from mayadeen.validation import Argument, UsageProblem, parse_day

__all__ = ["SitemapSpider", "window_arguments"]

#: How far back the Google News sitemap reaches (the site's: 7 days).
NEWS_SITEMAP_DAYS = 7


def window_arguments(changed: str) -> dict:
    """The spider arguments plus ``since``/``until``, whose help says which date they filter."""
    return {
        **MayadeenSpider.arguments,
        "since": Argument(parse_day, f"YYYY-MM-DD: only items whose {changed} is on or after this day ({DAY_ZONE})"),
        "until": Argument(parse_day, f"YYYY-MM-DD: only items whose {changed} is on or before this day ({DAY_ZONE})"),
    }


class SitemapSpider(MayadeenSpider, ScrapySitemapSpider):
    """robots.txt ``Sitemap:`` lines and ``/sitemaps/all.xml`` → the sitemap index → monthly sitemaps,
    plus the news sitemap → every item they list that is new or changed.

    Scrapy's ``SitemapSpider`` reads robots.txt, gzip and the index; ``sitemap_filter`` decides which
    monthly sitemaps and items are requested. The news sitemap is read here (``parse_news_sitemap``):
    it gives publication dates, which Scrapy's reader leaves out.

    Arguments (``-a``), besides ``base_url`` and ``full``:

    ``since``, ``until``
        ``YYYY-MM-DD``, each optional, inclusive, Beirut days (``mayadeen.days``): only items whose sitemap
        ``<lastmod>`` falls in the window. Applied before fetching: a monthly sitemap that cannot hold
        such an item (its month starts after ``until``, or its ``<lastmod>`` in the index is before
        ``since``) is not requested, nor is an item whose ``<lastmod>`` is outside, nor the news
        sitemap when the window ends before its last 7 days. An item the news sitemap gives only a
        publication date for is taken from it when that date proves its last change is in the
        window; otherwise its monthly sitemap decides.

    A monthly sitemap whose ``<lastmod>`` in the index is not newer than at the last complete read is
    not requested, and the others are requested conditionally (``mayadeen.store.sitemap_reads``;
    never with ``full``).

    One sitemap gives at most ``MAYADEEN_MAX_SITEMAP_URLS`` URLs (50,000, the protocol's limit): the
    rest of a longer one is not read (``mayadeen/capped/sitemap``, a WARNING).

    Stats: ``mayadeen/sitemap/files``, ``mayadeen/sitemap/out_of_window`` (sitemaps and items not
    requested), ``mayadeen/sitemap/unchanged`` (monthly sitemaps not requested),
    ``mayadeen/sitemap/not_modified`` (answered 304), ``mayadeen/sitemap/not_item`` (URLs that are not
    item pages).
    """

    name = "sitemap"
    arguments = window_arguments("last change (sitemap <lastmod>)")
    ROBOTS_URL = f"{PUBLIC_URL}/robots.txt"
    INDEX_URL = f"{PUBLIC_URL}/sitemaps/all.xml"
    NEWS_URL = f"{PUBLIC_URL}/sitemaps/news.xml"
    #: The index too, for a robots.txt that names no sitemap (the duplicate filter drops a second request).
    sitemap_urls = (ROBOTS_URL, INDEX_URL)
    sitemap_rules = [("", "parse_item")]  # sitemap_filter lets only wanted item URLs through

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        values = self.argument_values
        self.window = DayWindow(values.get("since"), values.get("until"))
        self.sitemap_ledger = SitemapLedger(conditional=False)
        #: request URL -> the entries ``sitemap_filter`` let through for it, each waiting for the freshness
        #: verdict on the request Scrapy makes of it (``mayadeen.middlewares.sitemap_freshness``).
        self.awaiting_freshness: dict[str, list[Entry]] = {}

    @classmethod
    def parse_arguments(cls, given) -> dict:
        values = super().parse_arguments(given)
        since, until = values.get("since"), values.get("until")
        if since and until and since > until:
            raise UsageProblem(f"-a since={since} is after -a until={until}: the window needs since <= until")
        return values

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._open_ledger, signal=signals.spider_opened)
        return spider

    async def _open_ledger(self, spider) -> None:
        reads = await open_store(self.crawler)
        kept = await reads.run(lambda store: store.sitemap_reads()) if reads else {}
        self.sitemap_ledger = SitemapLedger(kept, conditional=not self.full)

    async def start(self):
        if not self.window.is_open:
            self.logger.info("Window: items last changed %s (Beirut days)", self.window)
        # First: robots.txt names it too, and the duplicate filter then drops that request (for
        # Scrapy's reader, which leaves out the publication dates).
        yield self.request(self.NEWS_URL, self.parse_news_sitemap)
        async for request in super().start():
            yield request

    def wants_sitemap(self, request) -> bool:
        """Whether a discovery request is worth sending (asked by ``SitemapRequestsMiddleware``)."""
        if self.canonical(request.url) != self.NEWS_URL:
            return True
        return request.callback == self.parse_news_sitemap and self.window.overlaps(
            today() - timedelta(days=NEWS_SITEMAP_DAYS), None
        )

    def wants_item(self, url: str) -> bool:
        """Within a window only what the sitemaps list: an item's date is known from its listing."""
        return self.window.is_open and super().wants_item(url)

    async def closed(self, reason: str) -> None:
        """Keeps this run's sitemap reads when they are complete: finished, no errors, no window (see
        ``mayadeen.store.sitemap_reads``). An item given up is asked for again by the runs after it is
        due, listed or not (``failing_due``): it leaves the months read."""
        pipeline = self.crawler.get_item_pipeline(StorePipeline)  # none: the store is only read
        reads = self.sitemap_ledger.pending()
        complete = not self.crawler.stats.get_value("log_count/ERROR", 0)
        if reads and pipeline is not None and reason == "finished" and complete and self.window.is_open:
            await maybe_deferred_to_future(pipeline.write(lambda store: store.keep_sitemap_reads(reads)))

    # --- discovery ------------------------------------------------------------------------------

    def sitemap_filter(self, entries: Iterable[dict]) -> Iterator[dict]:
        """Scrapy's hook for every sitemap it reads: the monthly sitemaps and items worth requesting."""
        self.crawler.stats.inc_value("mayadeen/sitemap/files")
        kind = getattr(entries, "type", None)
        entries = self.bounded(entries)
        if kind == "sitemapindex":
            yield from self.monthly_sitemaps(entries)
            return
        listed = [Entry(url, raw.get("lastmod") or None) for raw in entries if (url := self.canonical(raw["loc"]))]
        for entry in self.items_in_window(listed):  # freshness decides on Scrapy's requests for them
            self.awaiting_freshness.setdefault(safe_url_string(entry.url), []).append(entry)  # as the request's
            yield {"loc": entry.url}

    def bounded(self, entries: Iterable[dict]) -> Iterator[dict]:
        """The first ``MAYADEEN_MAX_SITEMAP_URLS`` entries of one sitemap: the rest is not read."""
        limit = self.settings.getint("MAYADEEN_MAX_SITEMAP_URLS")
        first = None
        for count, raw in enumerate(entries):
            if limit and count == limit:
                self.sitemap_capped(f"the one listing {first} first")
                return
            first = first or raw.get("loc")
            yield raw

    def sitemap_capped(self, which: str) -> None:
        self.crawler.stats.inc_value("mayadeen/capped/sitemap")
        self.logger.warning(
            "A sitemap (%s) lists more than %d URLs (MAYADEEN_MAX_SITEMAP_URLS): the rest of it is ignored",
            which,
            self.settings.getint("MAYADEEN_MAX_SITEMAP_URLS"),
        )

    def monthly_sitemaps(self, entries: Iterable[dict]) -> Iterator[dict]:
        for raw in entries:
            url = self.canonical(raw["loc"])
            if url is None:
                continue
            entry = Entry(url, raw.get("lastmod") or None)
            self.sitemap_ledger.listed(url, to_utc_iso(entry.modified) if entry.modified else None)
            if not self.sitemap_in_window(entry):
                self.crawler.stats.inc_value("mayadeen/sitemap/out_of_window")
            elif self.sitemap_ledger.unchanged(url):
                self.crawler.stats.inc_value("mayadeen/sitemap/unchanged")
            else:
                yield {"loc": url}

    async def parse_news_sitemap(self, response):
        body = sitemap_body(response.body, self.settings.getint("DOWNLOAD_MAXSIZE"))
        sitemap = read_sitemap(body, response.url, self.tracking, self.settings.getint("MAYADEEN_MAX_SITEMAP_URLS"))
        self.crawler.stats.inc_value("mayadeen/sitemap/files")
        if sitemap.kind != "urlset":
            self.logger.warning("Not a sitemap (%s): %s", sitemap.kind, response.url)
        if sitemap.capped:
            self.sitemap_capped(response.url)
        for entry in await self.wanted_items(sitemap.entries):
            yield self.request(entry.url, self.parse_item)

    async def wanted_items(self, entries: Iterable[Entry]) -> list[Entry]:
        """The listed items in the window that freshness says to fetch (looked up in one go)."""
        return await self.fresh(list(self.items_in_window(entries)))

    def items_in_window(self, entries: Iterable[Entry]) -> Iterator[Entry]:
        """The listed item pages in the window."""
        for entry in entries:
            if not item_kind(entry.url):
                self.crawler.stats.inc_value("mayadeen/sitemap/not_item")
            elif not self.item_in_window(entry):
                self.crawler.stats.inc_value("mayadeen/sitemap/out_of_window")
            else:
                yield entry

    async def fresh(self, entries: list[Entry]) -> list[Entry]:
        """The entries freshness says to fetch, the store asked about them all in one go, off the reactor."""
        await self.freshness.prefetch(e.url for e in entries)
        return [e for e in entries if self.needs_fetch(e)]

    def needs_fetch(self, entry: Entry) -> bool:
        return self.freshness.needs_fetch(entry.url, entry.modified or entry.published)

    async def fresh_requests(self, requests: list) -> list:
        """Of the requests Scrapy made of the entries ``sitemap_filter`` let through, those freshness
        says to fetch (each judged by the date of one listing of its URL; one whose listing another
        request of the same URL took was judged with it, and goes on to the duplicate filter)."""
        judged, passed = [], []
        for request in requests:
            listed = self.awaiting_freshness.get(request.url)
            if not listed:
                passed.append(request)
                continue
            judged.append((request, listed.pop(0)))
            if not listed:
                del self.awaiting_freshness[request.url]
        await self.freshness.prefetch(entry.url for _, entry in judged)
        return passed + [request for request, entry in judged if self.needs_fetch(entry)]

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
