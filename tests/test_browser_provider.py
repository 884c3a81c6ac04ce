"""Playwright's driver starts with the first browser a crawl asks for, not with the crawl
(mayadeen.browser.provider). Real Playwright and Debian Chromium."""

from __future__ import annotations

import asyncio

from scrapy.settings import Settings
from scrapy_playwright.handler import Config

from mayadeen.browser.chromium import find_chromium
from mayadeen.browser.provider import OnDemandPlaywright
from tests.test_js_listings import needs_chromium


@needs_chromium
def test_the_driver_starts_with_the_first_browser_not_with_the_crawl():
    config = Config.from_settings(
        Settings({"PLAYWRIGHT_LAUNCH_OPTIONS": {"headless": True, "executable_path": find_chromium("auto").path}})
    )

    async def lifecycle():
        provider = OnDemandPlaywright(config)
        await provider.start()  # as the engine starts
        idle = provider.playwright
        browser = await provider.launch_browser()
        driver, connected = provider.playwright, browser.is_connected()
        await browser.close()
        await provider.close()
        return idle, driver, connected

    idle, driver, connected = asyncio.run(lifecycle())
    assert idle is None
    assert driver is not None
    assert connected
