"""Get past Cloudflare challenge pages: retry a challenged request once through the browser.

A response is a challenge only as Cloudflare sends one: a 403 or 503 from Cloudflare (``cf-mitigated:
challenge``, ``server: cloudflare`` or a ``cf-ray``) whose document carries the challenge page's markers.
A 200 page is never a challenge, whatever it contains, and never opened in the browser for it. A
challenge never reaches the spider. The request goes once more, through the browser (confined to the
request's origin, plus Cloudflare's challenge frame on the live site only: ``mayadeen.browser.confine``),
where the challenge script runs, sets its clearance cookie and reloads; what the browser then received
from the server at the URL asked for (status, headers, raw bytes; not its DOM) becomes the response,
so the page is parsed exactly like a plain download. A page the browser ended on anywhere else is no
solution. The browser's cookies are handed to Scrapy's cookie jar, so later plain requests carry the
clearance too. A request still challenged after that, or challenged with no browser, is dropped.

Stats: ``mayadeen/challenge/detected``, ``.../solved``, ``.../failed``.
Meta: ``dont_challenge`` (True: leave this request's challenges alone), ``mayadeen_challenge`` (set on
the browser retry).
"""

from __future__ import annotations

import logging
import re

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Headers
from scrapy.responsetypes import responsetypes
from scrapy_playwright.page import PageMethod

from mayadeen.browser.chromium import browser_meta, why_no_browser
from mayadeen.browser.contract import CHALLENGE_HOSTS, CONFINEMENT_KEY, PAGE_INIT_KEY
from mayadeen.browser.page_actions import DOCUMENTS_KEY, clear_challenge
from mayadeen.middlewares.retry import Withheld
from mayadeen.urls import is_on_site

logger = logging.getLogger(__name__)

# What Cloudflare's challenge pages carry, looked for only in its 403/503 answers.
CHALLENGE_MARKERS = (
    b"window._cf_chl_opt",
    b"_cf_chl_opt",
    b"cf-browser-verification",
    b"cf_chl_prog",
    b"/cdn-cgi/challenge-platform/",
    b"challenge-platform",
    b"cf-challenge",
)
CHALLENGE_STATUSES = (403, 503)
JUST_A_MOMENT = re.compile(rb"<title>\s*Just a moment\.\.\.\s*</title>", re.I)
DROP_HEADERS = {b"content-encoding", b"content-length", b"transfer-encoding"}


def _header(headers, name: str) -> str:
    value = headers.get(name) if headers is not None else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return (value or "").strip().lower()


def challenge_reason(status: int, headers, body: bytes) -> str | None:
    """Why this answer is a Cloudflare challenge (a short text for the log), or None if it is not."""
    if status not in CHALLENGE_STATUSES:
        return None
    head = body[:200_000]
    if not (JUST_A_MOMENT.search(head) or any(m in head for m in CHALLENGE_MARKERS)):
        return None
    if _header(headers, "cf-mitigated") == "challenge":
        return f"{status}, cf-mitigated: challenge"
    if _header(headers, "server") == "cloudflare" or _header(headers, "cf-ray"):
        return f"{status} from Cloudflare with a challenge page"
    return None


class ChallengeMiddleware:
    def __init__(self, crawler):
        self.settings = crawler.settings
        self.stats = crawler.stats
        self.timeout_ms = crawler.settings.getfloat("MAYADEEN_CHALLENGE_TIMEOUT", 20) * 1000
        self.no_browser = why_no_browser(crawler.settings)
        # Cloudflare's challenge frame is a third party: reachable on the live site only, never from a mirror.
        self.third_party = frozenset() if crawler.settings.get("MAYADEEN_BASE_URL") else CHALLENGE_HOSTS
        self.pending_cookies: list[dict] = []

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self, spider):
        self.no_browser = why_no_browser(self.settings, getattr(spider, "js", True))

    # -- cookies the browser obtained -> Scrapy's cookie jar -------------------------------------
    def process_request(self, request):
        # CookiesMiddleware (700) stores a request's cookies in its jar, for every later request.
        if self.pending_cookies and is_on_site(request.url) and not request.meta.get("dont_merge_cookies"):
            cookies = request.cookies
            if isinstance(cookies, dict):
                cookies = [{"name": k, "value": v} for k, v in cookies.items()]
            request.cookies = list(cookies) + self.pending_cookies
            self.pending_cookies = []
        return None

    def _keep_cookies(self, cookies: list[dict]) -> None:
        names = {c["name"] for c in cookies}
        self.pending_cookies = [c for c in self.pending_cookies if c["name"] not in names] + [
            {"name": c["name"], "value": c["value"], "path": c.get("path") or "/", "secure": bool(c.get("secure"))}
            for c in cookies
        ]

    # -- responses -------------------------------------------------------------------------------
    def process_response(self, request, response):
        if request.meta.get("mayadeen_challenge") == "browser":
            return self._browser_answer(request, response)
        if request.meta.get("dont_challenge"):
            return response
        reason = challenge_reason(response.status, response.headers, response.body)
        if reason is None:
            return response
        self.stats.inc_value("mayadeen/challenge/detected")
        if self.no_browser:
            return self._fail(request, f"{reason}; not retried, {self.no_browser}")
        logger.info("Challenge for %s (%s): retrying once in the browser", request.url, reason)
        return self._browser_retry(request)

    def _browser_retry(self, request):
        documents: list = []
        methods = [PageMethod(clear_challenge, self.timeout_ms, documents)]
        if request.meta.get("playwright"):  # a rendered page: render it again once cleared
            methods += list(request.meta.get("playwright_page_methods") or [])
        meta = {k: v for k, v in request.meta.items() if not k.startswith("playwright")}
        page_init = (*request.meta.get(PAGE_INIT_KEY, ()), "mayadeen.browser.page_actions.record_documents")
        meta.update(
            browser_meta(
                self.settings,
                methods,
                page_init=page_init,
                third_party=self.third_party,
                mayadeen_challenge="browser",
                mayadeen_challenge_rendered=bool(request.meta.get("playwright")),
            )
        )
        meta[DOCUMENTS_KEY] = documents
        return request.replace(meta=meta, dont_filter=True)

    def _browser_answer(self, request, response):
        request.meta.pop(DOCUMENTS_KEY, None)
        methods = response.meta.get("playwright_page_methods") or []
        document = methods[0].result if methods else None
        if document is None:
            return self._fail(request, "the browser got no page")
        confinement = request.meta.get(CONFINEMENT_KEY)
        if confinement is None or not confinement.is_asked(document.url):
            return self._fail(request, f"the browser ended on {document.url}, not on the page asked for")
        reason = challenge_reason(document.status, Headers(document.headers), document.body)
        if reason is not None:
            return self._fail(request, f"still a challenge after the browser ({reason})")
        self.stats.inc_value("mayadeen/challenge/solved")
        self._keep_cookies(document.cookies)
        logger.info("Challenge for %s solved in the browser (%d cookies kept)", request.url, len(document.cookies))
        if request.meta.get("mayadeen_challenge_rendered"):
            return response.replace(status=document.status)  # the rendered DOM is what was asked for
        headers = Headers({k: v for k, v in document.headers.items() if k.lower().encode() not in DROP_HEADERS})
        # The URL asked for (is_asked above), never the address the page's script may have set.
        cls = responsetypes.from_args(headers=headers, url=request.url, body=document.body)
        return cls(
            url=request.url,
            status=document.status,
            headers=headers,
            body=document.body,
            request=request,
            flags=["challenge-solved"],
        )

    def _fail(self, request, why: str):
        self.stats.inc_value("mayadeen/challenge/failed")
        logger.warning("Challenge for %s: %s; dropped", request.url, why)
        raise Withheld(f"challenge page for {request.url}")

    def process_exception(self, request, exception):
        if request.meta.get("mayadeen_challenge") == "browser" and not isinstance(exception, IgnoreRequest):
            request.meta.pop(DOCUMENTS_KEY, None)
            first_line = (str(exception) or type(exception).__name__).splitlines()[0]
            self._fail(request, f"the browser failed: {first_line}")
        return None
