"""Browser pages kept open between renders: a render in a page that is already there, not a new one.

A new page costs Chromium a new renderer process and its set-up, most of a render's CPU time
(``bench/render_cost.py --renders``); a listing render is otherwise a navigation, a script and one API
call. ``PagePool`` lends a render (meta ``mayadeen_reuse_page``, set by ``RenderMiddleware``) an idle
page of the context when there is one, through scrapy-playwright's ``playwright_page`` meta;
scrapy-playwright opens one when there is none. At most ``PLAYWRIGHT_MAX_PAGES_PER_CONTEXT`` pages
exist, busy or idle: every browser request waits for one of that many slots first, and a request that
takes a page of its own (a challenge) makes room by closing an idle one, so scrapy-playwright's own
limit never waits for a page nobody closes.

Why a page that rendered a hostile document can render the next one:

- nothing of the document survives: the page goes to ``about:blank`` before it is idle (its scripts,
  timers, workers and sockets end with it) and its ``window.name`` is cleared; a page that does not end
  on ``about:blank`` (a ``beforeunload`` that holds it, a timeout, a crash) is closed, never lent;
- an idle page is no page of ours (``forget``: ``mayadeen.browser.confine.release``): any request it made
  would be aborted. The next render installs its own confinement (the page and context routes judge
  every request against the render in progress, ``init_page``), and its result is accepted only under
  the exact URL it asked for, so going ``history.back()`` to an earlier render is a failed render;
- what a page could leave behind is its origin's storage and cookies, and those belong to the context,
  which every render shares anyway (one context, for the challenge's cookies); the tab's own
  ``sessionStorage`` and history are of that same origin, so reuse opens no channel that was not there;
- a render that failed, or that tried to leave its origin, closes its page.

Stats: ``mayadeen/browser/pages_reused`` (renders given an idle page), ``mayadeen/browser/pages_closed``
(pages closed instead of being kept: failed renders, failed resets, room for a page of its own).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from playwright.async_api import Error as PlaywrightError

from mayadeen.browser.contract import REUSE_KEY

logger = logging.getLogger(__name__)

BLANK = "about:blank"
RESET_TIMEOUT_MS = 5_000


class PagePool:
    """The idle pages of one download handler's browser, and the slots of its pages."""

    def __init__(self, max_pages: int, stats, forget: Callable):
        self.forget = forget  # the page is no longer one of a render's: none of its requests goes out
        self.slots = asyncio.Semaphore(max_pages)
        self.max_pages = max_pages
        self.idle: list = []
        self.busy = 0
        self.stats = stats

    async def acquire(self, request) -> None:
        """Wait for a slot; lend ``request`` an idle page, or make room for the page it will open."""
        await self.slots.acquire()
        self.busy += 1
        self.idle = [page for page in self.idle if not page.is_closed()]
        if request.meta.get(REUSE_KEY):
            request.meta["playwright_include_page"] = True  # scrapy-playwright leaves it open for us
            if self.idle:
                request.meta["playwright_page"] = self.idle.pop()
                self.stats.inc_value("mayadeen/browser/pages_reused")
            return
        if self.idle and self.busy + len(self.idle) > self.max_pages:
            await self._close(self.idle.pop(0))

    async def release(self, request, keep: bool) -> None:
        """The render is over: its page goes back idle (``keep`` and a clean reset) or is closed."""
        try:
            page = request.meta.pop("playwright_page", None) if request.meta.get(REUSE_KEY) else None
            if page is not None and not page.is_closed():
                if keep and await self._reset(page):
                    self.idle.append(page)
                else:
                    await self._close(page)
        finally:
            self.busy -= 1
            self.slots.release()

    async def _reset(self, page) -> bool:
        """Whether ``page`` now shows an empty document with nothing left of the one it rendered."""
        self.forget(page)
        try:
            await page.goto(BLANK, timeout=RESET_TIMEOUT_MS)
            await page.evaluate("window.name = ''")
        except PlaywrightError as exc:
            logger.debug("A browser page could not be reset (%s); closed", str(exc).splitlines()[0])
            return False
        return page.url == BLANK

    async def _close(self, page) -> None:
        self.stats.inc_value("mayadeen/browser/pages_closed")
        self.forget(page)
        try:
            await page.close()
        except PlaywrightError:
            pass  # already gone with its browser
