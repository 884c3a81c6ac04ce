"""What every mayadeen spider shares: the arguments, the request factory and the item callback."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from typing import Any

import scrapy
from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError

from mayadeen.distributed.keys import parse_crawl_id
from mayadeen.extensions.failing_items import ASKED_AGAIN, FailingItems, item_given_up, item_withheld, no_item_there
from mayadeen.extensions.resume import ResumeAfterKill
from mayadeen.identity import Origin, accepted_url, requested_url
from mayadeen.middlewares.retry import GaveUp, Withheld
from mayadeen.pages.article import ArticlePage
from mayadeen.spiders.freshness import open_freshness
from mayadeen.store.freshness import Freshness
from mayadeen.urls import DEFAULT_TRACKING_PARAMS, PUBLIC_HOST, canonical_url, item_kind, tracking_params
from mayadeen.validation import Argument, SpiderArguments, parse_flag, parse_origin

#: The statuses that say an item page is not there (any more).
GONE = frozenset({404, 410})


class MayadeenSpider(SpiderArguments, scrapy.Spider):
    """Base spider. Arguments (``-a``):

    ``base_url``
        fetch from this mirror instead of the live site (records keep the public URLs).
    ``full``
        ``1`` fetches every item again; by default a crawl is incremental: an item already in the
        store is fetched again only when discovery shows a newer date for it (``mayadeen.store.freshness``).
    ``js``
        ``0`` never uses the browser: client-side listings are skipped and challenge pages are not
        retried (``mayadeen.browser.render``, ``mayadeen.browser.challenge``). Default ``1``.
    """

    allowed_domains = [PUBLIC_HOST]
    #: Follow an item's Read Next / Related News / Read more links.
    follow_related = False
    #: The query parameters no URL keeps, in requests, records and what pages list (``MAYADEEN_TRACKING_PARAMS``).
    tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS
    #: The site parser of item pages.
    page_class = ArticlePage
    #: The ``-a`` arguments this spider takes (``mayadeen.validation`` refuses any other).
    arguments = {
        "base_url": Argument(parse_origin, "fetch from this mirror (an http(s) origin) instead of the site"),
        "full": Argument(parse_flag, "1: fetch every item again"),
        "js": Argument(parse_flag, "0: no browser (client-side listings are skipped)"),
        "crawl_id": Argument(
            parse_crawl_id, "with MAYADEEN_REDIS_URL: the crawl this worker joins (default: the spider's name)"
        ),
        "restart": Argument(parse_flag, "with MAYADEEN_REDIS_URL: 1 crawls an ended crawl_id again"),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        values = self.argument_values
        self.base_url = values.get("base_url")
        self.js = values.get("js", True)
        self.full = values.get("full", False)
        self.crawl_id = values.get("crawl_id")
        self.restart = values.get("restart", False)
        # Whether an item needs fetching: set once the spider is open (its store lookups are async). A
        # plain attribute, not a property that raises: Scrapy's feed exports read every attribute of the
        # spider (``%(name)s`` URI parameters) when the spider opens, before it is set.
        self.freshness: Freshness | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.crawl_arguments = dict(kwargs)  # what crawl_runs.arguments records
        spider.tracking = tracking_params(crawler.settings)
        crawler.signals.connect(spider._open_freshness, signal=signals.spider_opened)
        return spider

    async def _open_freshness(self, spider) -> None:
        self.freshness = await open_freshness(self.crawler, full=self.full)

    @property
    def takes_what_it_fetches(self) -> bool:
        """Whether the store takes what this run fetches even when it was modified before the version
        stored, or lacks what that one has (``-a full=1``: the operator asks for what the site says now;
        a wrong stored date, an edit that removed tags without a new date, are set right). Other runs,
        and re-extraction, keep the stored version (``mayadeen.store.model``: ``STALE``, ``DEGRADED``)."""
        return bool(self.full)

    def failing_due(self) -> Iterator[scrapy.Request]:
        """Requests for the failing items due for another attempt (``mayadeen.extensions.failing_items``;
        with ``full``, all of them) that are in this crawl's scope: asked for whether or not discovery
        lists them again, which an unchanged monthly sitemap, not read again, would not. Every run
        starts with them (``mayadeen.middlewares.failing_retries``)."""
        failing = self.crawler.get_extension(FailingItems)  # None: the extension is off
        wanted, not_items = [], []
        for listed in failing.due(every=self.full) if failing is not None else ():
            url = self.canonical(listed)
            if url is None or item_kind(url) is None:
                not_items.append(listed)
            elif self.wants_item(url):
                meta = {ASKED_AGAIN: listed}
                wanted.append(scrapy.Request(url, self.parse_item, errback=self.item_failed, meta=meta))
        if not_items:  # no run asks for them (left by an older version)
            failing.discard(not_items, "not an item page's URL")
        if wanted:
            self.crawler.stats.set_value("mayadeen/failing/due", len(wanted))
            why = "-a full=1" if self.full else "due for another attempt"
            self.logger.info("Asking again for %d failing item(s) (%s)", len(wanted), why)
        return iter(wanted)

    def canonical(self, url: str) -> str | None:
        """``url`` in canonical form, without the ``MAYADEEN_TRACKING_PARAMS`` query parameters."""
        return canonical_url(url, tracking=self.tracking)

    def request(self, url: str, callback, **kwargs) -> scrapy.Request | None:
        """A request for the canonical form of ``url`` (None for what is not a URL of the site)."""
        url = self.canonical(url)
        if url is None:
            return None
        return scrapy.Request(url, callback=callback, **kwargs)

    async def item_requests(self, listed: Iterable[tuple[str, Any]], *, day_only: bool | None = None) -> list:
        """Requests for the items listed as ``(url, seen)`` (``seen``: the date discovery shows, or
        None) that are URLs of the site and need fetching: not stored, or ``seen`` is newer. The store
        is asked about them all in one go, off the reactor."""
        canonical = [(url, seen) for raw, seen in listed if (url := self.canonical(raw)) is not None]
        await self.freshness.prefetch(url for url, _ in canonical)
        return [  # the URLs are canonical already: not through self.request, which would do it again
            scrapy.Request(url, callback=self.parse_item, errback=self.item_failed)
            for url, seen in canonical
            if self.freshness.needs_fetch(url, seen, day_only=day_only)
        ]

    def item_failed(self, failure):
        """An item page that could not be had: given up after its retries (``item_given_up``: a
        warning, remembered and retried by later runs), not there (404, 410: ``no_item_there``),
        withheld by the site (a 403, a 5xx Scrapy does not retry, a challenge page: ``item_withheld``,
        asked for again later), or filtered (said elsewhere; a failing item's next attempt moves on)."""
        url, request = failure.request.url, failure.request
        signals_ = self.crawler.signals
        if failure.check(HttpError):
            status = failure.value.response.status
            if status in GONE:
                self.crawler.stats.inc_value("mayadeen/items/not_found")
                self.logger.info("No item at %s (HTTP %d)", url, status)
                signals_.send_catch_log(no_item_there, request=request, reason=f"HTTP {status}")
                return
            if status not in {int(code) for code in self.settings.getlist("RETRY_HTTP_CODES")}:
                signals_.send_catch_log(item_withheld, request=request, reason=f"HTTP {status}")
                return
            reason = f"HTTP {status}"
        elif failure.check(GaveUp):
            reason = str(failure.value).split(":", 1)[0]
        elif failure.check(Withheld):
            signals_.send_catch_log(item_withheld, request=request, reason=str(failure.value).split(" for ", 1)[0])
            return
        elif failure.check(IgnoreRequest):  # robots.txt, off the site, too many redirects
            signals_.send_catch_log(item_withheld, request=request, reason=f"dropped: {failure.value}", known=True)
            return
        else:
            reason = failure.getErrorMessage() or failure.type.__name__
        signals_.send_catch_log(item_given_up, url=url, reason=reason, request=request)

    def wants_item(self, url: str) -> bool:
        """Whether an item URL found in a link, or remembered as failing, is in this crawl's scope."""
        return item_kind(url) is not None

    async def parse_item(self, response):
        page, item = self.extract(response)
        if page is None:
            self.crawler.stats.inc_value("mayadeen/pages/not_item")
            self.logger.debug("Not an item page: %s", response.url)
            self.crawler.signals.send_catch_log(no_item_there, request=response.request, reason="not an item page")
            return
        if item is not None:
            yield self.identified(item, response)
        if self.follow_related:
            for request in await self.item_requests((url, None) for url in page.links() if self.wants_item(url)):
                yield request

    def extract(self, response) -> tuple[ArticlePage | None, Any]:
        """The page object and its record (None and None for a page that is no item page). In a JOBDIR
        job the journal names the page while it is extracted (``ResumeAfterKill.extracting``): a page
        that kills the crawler here is given up after a few killed runs."""
        resume = self.crawler.get_extension(ResumeAfterKill) if self.settings.get("JOBDIR") else None
        with resume.extracting(response.request.url) if resume is not None else nullcontext():
            page = self.page_class(response, self.tracking)
            if not page.is_item():
                return None, None
            return page, page.to_item()

    def identified(self, item, response):
        """The item at its address (``mayadeen.identity``), carrying how it was found for the store."""
        fetched = self.canonical(response.url) or response.url
        url = accepted_url(item.get("url"), fetched)
        if url != item.get("url"):
            if canonical_url(item.get("url") or "") != url:
                self.crawler.stats.inc_value("mayadeen/identity/canonical_rejected")
                self.logger.debug("%s names %s as its address; kept %s", response.url, item.get("url"), url)
            item["url"] = url
            item["kind"] = item_kind(url) or item.get("kind")
        requested = requested_url(response)
        item.note_origin(Origin(frozenset({requested, fetched}), self.freshness.listed_date(requested)))
        return item
