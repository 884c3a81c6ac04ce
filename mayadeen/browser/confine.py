"""The browser confined to the origin it was sent to: a hostile page reaches nothing else.

A page of ours may reach only the exact origin (scheme, host and port) of the URL it was opened at,
which in mirror mode is the mirror, and only for documents, scripts, XHR and fetch; every other
request is aborted. Where each kind of traffic is stopped:

- every HTTP(S) request of the page and of its frames (navigations included: ``location.href``, a
  form, a meta refresh; sub-resources, EventSource, beacons, prefetches): scrapy-playwright's
  page route asks ``should_abort_request`` (``PLAYWRIGHT_ABORT_REQUEST``);
- the next hop of a redirected navigation (a 30x of the page or of a frame): no route is asked for it,
  so Chromium's proxy setting (``mayadeen.browser.chromium``: every origin but the page's goes to a
  closed port) stops it, and ``_redirect_hop`` (the page's ``request`` event) judges it as the route
  would have: counted as blocked, and a main frame redirected off the origin has left it (the hops of
  a fetch or a sub-resource do reach the route);
- popups (``window.open``): the context route aborts every request of a page that is not one of ours,
  and the popup is closed;
- WebSockets: page and context ``route_web_socket`` close every socket before it connects;
- service workers: the context option ``service_workers="block"`` (``browser_meta``); WebRTC and
  prefetching: Chromium flags (``PLAYWRIGHT_LAUNCH_OPTIONS``).

``init_page`` (scrapy-playwright's ``playwright_page_init_callback``, set by ``browser_meta``) installs
this before the first navigation. A page it did not register gets nothing through, so a failure to
confine fails the render instead of letting it run free. ``ConfinedPlaywrightHandler`` (the download
handler) accepts a render only when its main frame never tried to leave the origin and ends on it: a
page that navigates away is a failed render (``LeftOrigin``), never a result, never archived.

Cloudflare's challenge runs in a frame from ``challenges.cloudflare.com``, a third party: the
challenge retry may reach it only on the live site (``ChallengeMiddleware`` asks for it through meta
``mayadeen_third_party``, never in mirror mode, where nothing but the mirror may be reached).

Stats: ``mayadeen/browser/blocked/<reason>`` with reason ``origin`` (another origin), ``resource_type``
(images, fonts, media, stylesheets, beacons...), ``navigation`` (the main frame sent elsewhere),
``websocket``, ``popup`` (each popup once); a DEBUG line for each, an INFO summary when the crawl
closes. Requests of no page of ours (a popup's, a worker's) are aborted with a DEBUG line only.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urldefrag

from playwright.async_api import Error as PlaywrightError
from scrapy.utils.misc import load_object
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from mayadeen.browser.contract import CONFINEMENT_KEY, PAGE_INIT_KEY, THIRD_PARTY_KEY, LeftOrigin
from mayadeen.browser.pages import PagePool
from mayadeen.urls import origin as url_origin

logger = logging.getLogger(__name__)

# What a listing or a challenge needs: its document, its scripts and what they fetch.
ALLOWED_RESOURCE_TYPES = frozenset({"document", "script", "xhr", "fetch"})
EVERY_SOCKET = re.compile(r".*")


@dataclass
class Confinement:
    """What one page may reach, and what it tried."""

    asked: str  # the URL the page was opened at (the mirror's, in mirror mode)
    third_party: frozenset[str] = frozenset()
    blocked: Counter = field(default_factory=Counter)  # reason -> requests aborted
    left_for: str | None = None  # where the main frame first tried to go off the origin

    @property
    def origin(self) -> tuple[str, str, int] | None:
        return url_origin(self.asked)

    def is_asked(self, url: str) -> bool:
        """Whether ``url`` is the URL the page was opened at (fragments aside)."""
        return urldefrag(url)[0] == urldefrag(self.asked)[0]

    def decide(self, request) -> str | None:
        """Why the browser must not send this Playwright ``request``, or None to let it go."""
        target = url_origin(request.url)
        if request.is_navigation_request() and request.frame.parent_frame is None:
            if target == self.origin:
                return None
            self.left_for = self.left_for or request.url
            return "navigation"
        if request.resource_type not in ALLOWED_RESOURCE_TYPES:
            return "resource_type"
        if target == self.origin:
            return None
        if target is not None and target[0] == "https" and target[1] in self.third_party:
            return None
        return "origin"

    def block(self, reason: str, url: str) -> None:
        self.blocked[reason] += 1
        logger.debug("Browser request blocked (%s) on %s: %s", reason, self.asked, url)


# Our pages and their confinement. PLAYWRIGHT_ABORT_REQUEST is called with the Playwright request
# alone: its page leads here. Weak, so a closed page takes its entry with it.
_PAGES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_GUARDED_CONTEXTS: weakref.WeakSet = weakref.WeakSet()
_GUARDED_PAGES: weakref.WeakSet = weakref.WeakSet()  # a reused page keeps its guards: installed once


def _confinement_of(request) -> Confinement | None:
    try:
        return _PAGES.get(request.frame.page)
    except PlaywrightError:  # a service worker's request has no frame
        return None


def release(page) -> None:
    """``page`` is no longer one of a render's (idle or closing): every request of it is aborted."""
    _PAGES.pop(page, None)


def should_abort_request(request) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: True for every request the page must not send (see the module)."""
    confinement = _confinement_of(request)
    if confinement is None:
        logger.debug("Browser request blocked (not one of our pages): %s", request.url)
        return True
    reason = confinement.decide(request)
    if reason is not None:
        confinement.block(reason, request.url)
    return reason is not None


async def _abort_stray(route, request) -> None:
    """Context route: only pages without our page route get here (popups); nothing of theirs goes out."""
    logger.debug("Browser request blocked (popup): %s", request.url)
    await route.abort()


async def _close_socket(socket, confinement: Confinement | None = None) -> None:
    if confinement is not None:
        confinement.block("websocket", socket.url)
    else:
        logger.debug("Browser request blocked (websocket): %s", socket.url)
    await socket.close(code=1008, reason="blocked")  # never connected to the server


def _redirect_hop(page, request) -> None:
    """The page's ``request`` event: a redirected navigation's next hop, which no route sees, judged as
    one would."""
    confinement = _PAGES.get(page)
    if confinement is None or request.redirected_from is None or not request.is_navigation_request():
        return
    reason = confinement.decide(request)
    if reason is not None:
        confinement.block(reason, request.url)


async def _close_popup(opener, popup) -> None:
    confinement = _PAGES.get(opener)
    if confinement is not None:
        confinement.block("popup", popup.url)
    await popup.close()


async def init_page(page, request) -> None:
    """``playwright_page_init_callback``: confine ``page`` to the origin of ``request``, then run the
    init callbacks named in meta ``mayadeen_page_init``. The guards of a page (its sockets, its popups)
    are installed once and act for whichever render it holds (``mayadeen.browser.pages``)."""
    confinement = Confinement(request.url, frozenset(request.meta.get(THIRD_PARTY_KEY) or ()))
    context = page.context
    if context not in _GUARDED_CONTEXTS:
        await context.route("**/*", _abort_stray)
        await context.route_web_socket(EVERY_SOCKET, _close_socket)
        _GUARDED_CONTEXTS.add(context)
    if page not in _GUARDED_PAGES:
        await page.route_web_socket(EVERY_SOCKET, lambda socket: _close_socket(socket, _PAGES.get(page)))
        page.on("popup", lambda popup: _close_popup(page, popup))
        page.on("request", lambda request: _redirect_hop(page, request))
        _GUARDED_PAGES.add(page)
    request.meta[CONFINEMENT_KEY] = confinement
    _PAGES[page] = confinement
    for path in request.meta.get(PAGE_INIT_KEY) or ():
        await load_object(path)(page, request)


class ConfinedPlaywrightHandler(ScrapyPlaywrightDownloadHandler):
    """scrapy-playwright's download handler, accepting only renders that stayed on their origin.

    Counts what the browser blocked (``mayadeen/browser/blocked/<reason>``) and says it at the close.
    """

    def __init__(self, crawler) -> None:
        super().__init__(crawler)
        self.blocked: Counter = Counter()
        self.pages = PagePool(self.config.max_pages_per_context, self.stats, forget=release)

    async def download_request(self, request):
        if not request.meta.get("playwright"):
            return await super().download_request(request)
        request.meta.pop(CONFINEMENT_KEY, None)  # a retry's copy of an earlier attempt's
        await self.pages.acquire(request)
        confined = False
        try:
            response = await self._confined_download(request)
            confined = True
            return response
        finally:  # a page that failed or tried to leave is closed, never lent again
            await self.pages.release(request, keep=confined)

    async def _confined_download(self, request):
        """The render of ``request``, or LeftOrigin."""
        try:
            response = await super().download_request(request)
        except Exception:
            confinement = self._tally(request)
            if confinement is not None and confinement.left_for:
                raise LeftOrigin(f"the page of {request.url} tried to navigate to {confinement.left_for}") from None
            raise
        confinement = self._tally(request)
        if confinement is None:
            raise LeftOrigin(f"the page of {request.url} could not be confined to its origin")
        if confinement.left_for:
            raise LeftOrigin(f"the page of {request.url} tried to navigate to {confinement.left_for}")
        if url_origin(response.url) != confinement.origin:
            raise LeftOrigin(f"the page of {request.url} ended on another origin: {response.url}")
        if not confinement.is_asked(response.url):
            # The address a page shows is its script's to set (history.replaceState): a render is kept
            # only under the URL it was asked for, never under one the page chose.
            raise LeftOrigin(f"the page of {request.url} ended on another address: {response.url}")
        return response

    def _tally(self, request) -> Confinement | None:
        """The render's confinement, its blocked requests added to the stats."""
        confinement = request.meta.get(CONFINEMENT_KEY)
        for reason, count in confinement.blocked.items() if confinement is not None else ():
            self.blocked[reason] += count
            self.stats.inc_value(f"mayadeen/browser/blocked/{reason}", count)
        return confinement

    async def close(self) -> None:
        if self.blocked:
            logger.info(
                "The browser blocked %d request(s) its pages tried: %s",
                sum(self.blocked.values()),
                ", ".join(f"{reason}={n}" for reason, n in sorted(self.blocked.items())),
            )
        await super().close()
