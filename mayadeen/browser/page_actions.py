"""What we do inside a browser page, as scrapy-playwright page methods and page init callbacks.

- ``watch_listing`` + ``wait_for_listing``: a client-side listing's script has filled its grid from the
  listing API, found nothing to list, or failed; the verdict says which.
- ``record_documents`` + ``clear_challenge``: a challenge page has run its script and the browser has
  loaded the real page; the result is that page as the server sent it (status, headers, raw bytes) and
  the cookies the browser holds, so the page is parsed exactly like a plain download.

Page methods never raise on a timeout: they return what the page has, and the caller judges it.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


def _playwright_errors() -> tuple[type[Exception], type[Exception]]:
    """Playwright's Error and TimeoutError, imported when a page runs: the middlewares that name these
    methods are loaded by every crawl, Playwright only by a crawl with a browser."""
    from playwright.async_api import Error, TimeoutError

    return Error, TimeoutError


# The listing script (see the site README) marks the grid `is-loading` while it fetches and appends
# cards (or an error line) when done. Any child, or the end of loading, means the grid is final.
LISTING_READY = """() => {
  const grid = document.getElementById('listing-grid');
  return !grid || grid.children.length > 0 || !grid.classList.contains('is-loading');
}"""
# Cloudflare's interstitial: `window._cf_chl_opt` and the "Just a moment..." title. The real page has
# neither once the challenge script has set its cookie and reloaded.
# The verdict on a grid once ready: listed, empty (the script ran, asked the API and listed nothing,
# with no error line), or why the render failed.
LISTED, EMPTY = "listed", "empty"
LISTING_STATE = """() => {
  const grid = document.getElementById('listing-grid');
  if (!grid) return 'the page has no listing grid';
  if (grid.querySelector('.listing-error')) return 'the page shows its error message';
  if (grid.classList.contains('is-loading')) return 'the grid is still loading';
  if (grid.children.length > 0) return 'listed';
  return window.__mayadeenListingRan ? 'empty' : 'the listing script did not run';
}"""
# Before the page's scripts: notes when the listing script starts loading (marks the grid `is-loading`),
# so an empty grid the script finished is told from one it never touched (a script error, a cut page).
WATCH_LISTING = """new MutationObserver((records, observer) => {
  if (records.some(r => r.target.id === 'listing-grid' && r.target.classList.contains('is-loading'))) {
    window.__mayadeenListingRan = true;
    observer.disconnect();
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['class']});"""
CHALLENGE_GONE = """() => !window._cf_chl_opt && !/^\\s*just a moment/i.test(document.title || '')"""
DOCUMENTS_KEY = "mayadeen_documents"
_WATCHED: weakref.WeakSet = weakref.WeakSet()  # pages running WATCH_LISTING


async def watch_listing(page, request) -> None:
    """Page init callback (``mayadeen_page_init``) of a listing render: see ``WATCH_LISTING``. Once a
    page: a page kept for the next render (``mayadeen.browser.pages``) runs it in every document."""
    if page not in _WATCHED:
        await page.add_init_script(WATCH_LISTING)
        _WATCHED.add(page)


async def wait_for_listing(page, timeout_ms: float) -> str:
    """Wait until the listing grid is final (at most ``timeout_ms``); ``LISTED``, ``EMPTY`` or why the
    render failed."""
    PlaywrightError, PlaywrightTimeoutError = _playwright_errors()
    try:
        await page.wait_for_function(LISTING_READY, timeout=timeout_ms, polling=50)
        return await page.evaluate(LISTING_STATE)
    except PlaywrightTimeoutError:
        return f"the grid is still loading after {timeout_ms:.0f} ms"
    except PlaywrightError as exc:  # e.g. the page navigated while being read
        return f"the page could not be read: {str(exc).splitlines()[0]}"


async def record_documents(page, request) -> None:
    """``playwright_page_init_callback``: keep every main-frame document response of the page.

    Attached before the first navigation, so the reload a challenge script triggers is seen too.
    """
    documents = request.meta.setdefault(DOCUMENTS_KEY, [])
    PlaywrightError, _ = _playwright_errors()

    def on_response(response) -> None:
        try:
            if response.request.resource_type == "document" and response.frame == page.main_frame:
                documents.append(response)
        except PlaywrightError:
            pass

    page.on("response", on_response)


@dataclass
class Document:
    """A page as the server sent it to the browser."""

    url: str
    status: int
    headers: dict[str, list[str]]
    body: bytes
    cookies: list[dict] = field(default_factory=list)


async def clear_challenge(page, timeout_ms: float, documents: list) -> Document | None:
    """Let a challenge page run until it has loaded the real page; that page, or None.

    Returns the last main-frame document the browser received (still the challenge if it never
    cleared within ``timeout_ms``), with the browser's cookies for that URL.
    """
    PlaywrightError, PlaywrightTimeoutError = _playwright_errors()
    try:
        await page.wait_for_function(CHALLENGE_GONE, timeout=timeout_ms, polling=100)
        await page.wait_for_load_state("domcontentloaded")
    except PlaywrightTimeoutError:
        logger.debug("Challenge on %s did not clear within %.0f ms", page.url, timeout_ms)
    except PlaywrightError as exc:  # e.g. the page navigated while being evaluated, then closed
        logger.debug("Waiting for the challenge on %s failed: %s", page.url, exc)
    final = next((r for r in reversed(documents) if not 300 <= r.status < 400), None)
    if final is None:
        return None
    try:
        body = await final.body()
        raw_headers = await final.headers_array()
        cookies = await page.context.cookies([final.url])
    except PlaywrightError as exc:
        logger.debug("Could not read the page the browser received for %s: %s", final.url, exc)
        return None
    headers: dict[str, list[str]] = {}
    for h in raw_headers:
        headers.setdefault(h["name"], []).append(h["value"])
    return Document(final.url, final.status, headers, body, cookies)
