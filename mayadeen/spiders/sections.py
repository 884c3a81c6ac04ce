"""``scrapy crawl sections``: the site by its menu, listings and the links between items."""

from __future__ import annotations

from urllib.parse import urlsplit

from mayadeen.pages.listing import ListingPage
from mayadeen.pages.listing_api import ListingApiPage, next_api_page
from mayadeen.spiders.base import MayadeenSpider
from mayadeen.store.freshness import Verdict
from mayadeen.urls import PUBLIC_URL, is_client_side_listing, listing_key
from mayadeen.validation import Argument, UsageProblem

#: The listings of the site's menu (home page, main and mega menus): what ``-a sections=`` may name.
MENU_LISTINGS = (
    "news",
    "news/politics",
    "news/economy",
    "news/sports",
    "news/arts-culture",
    "news/health",
    "news/miscellaneous",
    "news/technology",
    "news/environment",
    "articles",
    "articles/opinion",
    "articles/analysis",
    "articles/blog",
    "articles/features",
    "videos",
    "videos/newsfeed",
    "videos/video-features",
    "videos/explainers",
    "videos/tv",
    "videos/digital-series",
    "infographs",
    "in-pictures",
)


def parse_sections(label: str, value) -> list[str]:
    """Comma-separated listing keys of the menu (``news/politics,articles``), in order, without repeats."""
    keys = list(dict.fromkeys(s.strip().strip("/").lower() for s in str(value or "").split(",") if s.strip()))
    for key in keys:
        if key not in MENU_LISTINGS:
            raise UsageProblem(
                f"{label}={value}: {key} is not a listing of the site's menu; it takes"
                f" comma-separated keys of {', '.join(MENU_LISTINGS)}"
            )
    return keys


class SectionsSpider(MayadeenSpider):
    """Home page → menu listings → every "Load More" page → item cards → each item's related links.

    Arguments (``-a``), besides ``base_url``:

    ``sections``
        comma-separated listing keys (``news/politics,articles/opinion``, or a group like ``news``):
        crawl only those listings, and only follow links to items inside them.
    ``full``
        ``1``: fetch every item again. By default a stored item is fetched again only when its card
        shows a later (Beirut) day than the store holds, and a listing is not paged further once a
        whole page holds only stored, unchanged items (stat ``mayadeen/listing/stopped_unchanged``).
    """

    name = "sections"
    follow_related = True
    arguments = {
        **MayadeenSpider.arguments,
        "sections": Argument(
            parse_sections,
            "comma-separated listing keys of the menu, e.g. news/politics,articles/opinion, or a group such as news",
        ),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sections = self.parse_arguments(kwargs).get("sections") or []

    async def start(self):
        if self.sections:
            for key in self.sections:
                yield self.request(f"{PUBLIC_URL}/{key}", self.parse_listing)
        else:
            yield self.request(f"{PUBLIC_URL}/", self.parse_home)

    def in_scope(self, url: str) -> bool:
        if not self.sections:
            return True
        path = urlsplit(url).path.strip("/")
        return any(path == key or path.startswith(key + "/") for key in self.sections)

    def wants_item(self, url: str) -> bool:
        return super().wants_item(url) and self.in_scope(url)

    async def parse_home(self, response):
        page = ListingPage(response, self.tracking)
        for url in page.menu_listings:
            yield self.request(url, self.parse_listing)
        for request in await self.follow_cards(page):
            yield request

    async def parse_listing(self, response):
        page = ListingPage(response, self.tracking)
        if response.meta.get("mayadeen_rendered"):  # the DOM after the page's scripts ran
            async for request in self.parse_rendered_listing(response, page):
                yield request
            return
        if page.api_endpoint or is_client_side_listing(response.url):
            # A grid a script fills: nothing to read here. Rendered, unless the browser is off
            # (then RenderMiddleware drops it and says why).
            if not response.meta.get("mayadeen_render"):
                yield response.request.replace(meta={"mayadeen_render": True}, dont_filter=True)
            return
        self.crawler.stats.inc_value("mayadeen/listing/pages")
        for request in await self.follow_cards(page):
            yield request
        if page.next_page and listing_key(page.next_page):
            if await self.listing_is_unchanged(page):  # incremental: older pages hold only older items
                self.crawler.stats.inc_value("mayadeen/listing/stopped_unchanged")
                self.logger.debug("Every item on %s is stored and unchanged; not paging further", response.url)
            else:
                yield self.request(page.next_page, self.parse_listing)

    async def parse_rendered_listing(self, response, page: ListingPage):
        """A client-side listing as the browser shows it: its cards, then the listing API's further pages.

        A listing without cards is empty (said and counted by ``RenderMiddleware``, which also retries
        renders that failed): it links to nothing.

        Further pages come from the JSON API the page's own script reads, not from clicking "Load More"
        in the browser: each page is then an ordinary request (retried, deduplicated, throttled and
        resumable on its own), costs no browser time, and page N does not depend on one browser page
        staying open through N-1 clicks, each to be synchronised with a fetch and a DOM update, on a
        DOM that grows with every page. The coupling stays small: the endpoint and the page reached
        are read from the rendered grid, paging follows the API's own has_more/next_page, and an
        item's URL is the href the script writes into its card.
        """
        self.crawler.stats.inc_value("mayadeen/listing/pages")
        for request in await self.follow_cards(page):
            yield request
        url = next_api_page(page)
        if url and not await self._paging_stops(page):
            yield self.request(url, self.parse_listing_api, cb_kwargs={"endpoint": page.api_endpoint})

    async def parse_listing_api(self, response, endpoint: str):
        """One further page of a client-side listing, from the listing API."""
        page = ListingApiPage(response, endpoint, self.tracking)
        if not page.valid:
            self.crawler.stats.inc_value("mayadeen/js/api_errors")
            self.logger.warning("Not a listing API page: %s", response.url)
            return
        self.crawler.stats.inc_value("mayadeen/js/api_pages")
        for request in await self.follow_cards(page):
            yield request
        if page.next_page and not await self._paging_stops(page):
            yield self.request(page.next_page, self.parse_listing_api, cb_kwargs={"endpoint": endpoint})

    async def _paging_stops(self, page) -> bool:
        if await self.listing_is_unchanged(page):  # incremental, as for server-rendered listings
            self.crawler.stats.inc_value("mayadeen/listing/stopped_unchanged")
            return True
        return False

    async def follow_cards(self, page: ListingPage) -> list:
        # Card dates are Beirut days.
        return await self.item_requests(((c.url, c.day) for c in page.cards if self.wants_item(c.url)), day_only=True)

    async def listing_is_unchanged(self, page: ListingPage) -> bool:
        """Whether every card of the listing grid is an item stored and unchanged (never in full mode)."""
        cards = [c for c in page.listing_cards if self.wants_item(c.url)]
        await self.freshness.prefetch(c.url for c in cards)
        return bool(cards) and all(
            self.freshness.verdict(c.url, c.day, day_only=True, count=False) is Verdict.UNCHANGED for c in cards
        )
