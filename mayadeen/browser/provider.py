"""Playwright's driver started by the first render, not by every crawl (``PLAYWRIGHT_BROWSER_PROVIDER``).

scrapy-playwright starts its provider when the engine starts, and the crawl waits for it: the
Playwright driver (a Node.js process, one per handler: http and https) costs a second or more before
the first request goes out, in every crawl, though most never render a page (feed, sitemap and
breaking runs, a sections run whose listings are all known). Here ``start`` does nothing and the
driver starts when a browser is first asked for; a crawl that renders nothing starts no driver.
"""

from __future__ import annotations

import asyncio

from scrapy_playwright.provider import PlaywrightBrowserProvider


class OnDemandPlaywright(PlaywrightBrowserProvider):
    def __init__(self, config) -> None:
        super().__init__(config)
        self.started = False
        self.starting = asyncio.Lock()

    async def start(self) -> None:
        """Called as the engine starts: nothing yet (see ``_started``)."""

    async def _started(self) -> None:
        async with self.starting:
            if not self.started:
                await super().start()
                self.started = True

    async def launch_browser(self):
        await self._started()
        return await super().launch_browser()

    async def launch_persistent_context(self, context_kwargs: dict):
        await self._started()
        return await super().launch_persistent_context(context_kwargs)
