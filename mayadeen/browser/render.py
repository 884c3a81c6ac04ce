"""Send the client-side listings through the browser, and only them; skip them, said once, without one.

``/videos``, ``/videos/<section>`` and ``/in-pictures`` hold an empty grid that a script fills from the
listing API: their requests get scrapy-playwright's meta (``playwright=True``) and a page method that
waits for the grid. Every other request stays plain HTTP. A request with meta ``mayadeen_render=True``
is rendered too (a listing found to be client-side by its content).

Without a browser (none found, or ``-a js=0``) those requests are dropped before download, since
their HTML links to nothing: one log line says why (a warning with the install hint when no browser
was found), ``mayadeen/js/skipped_listings`` counts them and the close of the crawl lists them.
A browser that fails to launch turns rendering off the same way. A missing browser fails the run
only when it was required or every listing of the run needed it (``mayadeen.extensions.run_outcome``).

Empty is a fact: a listing whose script asked the API and listed nothing, with no error line, is
recorded as empty (INFO, ``mayadeen/js/empty_listings``), not retried. A render that failed (a timeout,
a navigation error, the page's error message, a grid its script never touched) is retried with the
usual backoff (``mayadeen.middlewares.retry.Backoff``), then given up with a warning. A page that tried
to leave its origin (``mayadeen.browser.confine.LeftOrigin``) is a failed render, not retried.

Stats: ``mayadeen/js/rendered`` (requests sent to the browser), ``mayadeen/js/skipped_listings``,
``mayadeen/js/no_browser`` (listings skipped for want of a browser), ``mayadeen/js/errors`` (renders
that failed), ``mayadeen/js/gave_up``, ``mayadeen/js/empty_listings``, ``mayadeen/js/left_origin``.
Meta: ``mayadeen_render`` (True: render this request too), ``mayadeen_rendered`` (set on the requests
this middleware sends to the browser; the spider reads the rendered DOM then; with ``mayadeen_reuse_page``:
rendered in a page kept from an earlier render, ``mayadeen.browser.pages``), ``mayadeen_empty_listing``
(set on an empty listing's request: the coverage check does not take it for a broken listing), ``playwright`` (False:
never render this request).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy_playwright.page import PageMethod

from mayadeen.browser.chromium import INSTALL_HINT, browser_meta, find_chromium, why_no_browser
from mayadeen.browser.contract import REUSE_KEY, LeftOrigin
from mayadeen.browser.page_actions import EMPTY, LISTED, wait_for_listing
from mayadeen.middlewares.retry import Backoff, GaveUp
from mayadeen.urls import is_client_side_listing

logger = logging.getLogger(__name__)

EMPTY_LISTING = "mayadeen_empty_listing"  # meta: the listing's script listed nothing (not broken)


class RenderMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler
        self.backoff = Backoff.from_settings(crawler.settings)
        self.settings = crawler.settings
        self.stats = crawler.stats
        self.timeout_ms = crawler.settings.getfloat("MAYADEEN_RENDER_TIMEOUT", 15) * 1000
        self.chromium = find_chromium(crawler.settings.get("MAYADEEN_CHROMIUM_PATH"))
        self.off: str | None = why_no_browser(crawler.settings)  # why nothing is rendered
        self.hint = INSTALL_HINT if not self.chromium.available else ""
        self.said = False
        self.skipped: list[str] = []

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    def spider_opened(self, spider):
        if not getattr(spider, "js", True):
            self.off, self.hint = why_no_browser(self.settings, js=False), ""
        elif not self.off:
            logger.info("Client-side listings are rendered with %s (%s)", self.chromium.path, self.chromium.origin)

    def process_request(self, request):
        if "playwright" in request.meta:
            return None
        if not (request.meta.get("mayadeen_render") or is_client_side_listing(request.url)):
            return None
        if self.off:
            self._skip(request.url)
            raise IgnoreRequest(f"not rendered ({self.off}): {request.url}")
        request.meta.update(
            browser_meta(
                self.settings,
                [PageMethod(wait_for_listing, self.timeout_ms)],
                page_init=("mayadeen.browser.page_actions.watch_listing",),
                mayadeen_rendered=True,
                **{REUSE_KEY: True},
            )
        )
        self.stats.inc_value("mayadeen/js/rendered")
        return None

    def process_response(self, request, response):
        if not request.meta.get("mayadeen_rendered") or response.status != 200:
            return response  # an HTTP error is the retry middleware's
        methods = response.meta.get("playwright_page_methods") or ()
        verdict = next((m.result for m in methods if getattr(m, "method", None) is wait_for_listing), LISTED)
        if verdict == LISTED:
            return response
        if verdict == EMPTY:
            self.stats.inc_value("mayadeen/js/empty_listings")
            request.meta[EMPTY_LISTING] = True
            logger.info("Client-side listing %s is empty: its script listed no items", response.url)
            return response
        self.stats.inc_value("mayadeen/js/errors")
        return self._failed(request, verdict)

    def process_exception(self, request, exception):
        if not request.meta.get("mayadeen_rendered") or isinstance(exception, IgnoreRequest):
            return None
        self.stats.inc_value("mayadeen/js/errors")
        error = (str(exception) or type(exception).__name__).splitlines()[0]
        if isinstance(exception, LeftOrigin):  # the page's doing: the same again on every attempt
            self.stats.inc_value("mayadeen/js/left_origin")
            logger.warning("Rendering %s failed: %s; not retried", request.url, error)
            raise IgnoreRequest(f"render left its origin: {request.url}")
        if "launch" in error.lower() and not self.off:
            # The executable is there but does not start (missing libraries, wrong binary...).
            self.off, self.hint = f"the browser {self.chromium.path} failed to launch: {error}", INSTALL_HINT
        if self.off:
            self._skip(request.url)
            raise IgnoreRequest(f"not rendered ({self.off}): {request.url}")
        return self._failed(request, error)

    def _failed(self, request, error: str):
        """The retry of a failed render, or GaveUp when its retries are used up."""
        retry = self.backoff.retry(request, "render_failed", self.crawler)
        if retry is not None:
            logger.info("Rendering %s failed (%s); trying again", request.url, error)
            return retry
        self.stats.inc_value("mayadeen/js/gave_up")
        logger.warning(
            "Rendering %s failed %d times; giving up: %s", request.url, request.meta.get("retry_times", 0) + 1, error
        )
        raise GaveUp(f"render failed: {request.url}")

    def _skip(self, url: str) -> None:
        self.stats.inc_value("mayadeen/js/skipped_listings")
        if self.hint:
            self.stats.inc_value("mayadeen/js/no_browser")
        self.skipped.append(url)
        if not self.said:
            self.said = True
            if self.hint:
                logger.warning(
                    "Client-side listings (/videos, /videos/<section>, /in-pictures) are skipped, "
                    "%s. To crawl them, %s.",
                    self.off,
                    self.hint,
                )
            else:
                logger.info("Client-side listings (/videos, /videos/<section>, /in-pictures) are skipped: %s", self.off)

    def spider_closed(self, spider):
        if self.skipped:  # a warning unless the browser was turned off on purpose
            logger.log(
                logging.WARNING if self.hint else logging.INFO,
                "Skipped %d client-side listing(s) (%s): %s",
                len(self.skipped),
                self.off,
                ", ".join(urlsplit(u).path for u in self.skipped),
            )
