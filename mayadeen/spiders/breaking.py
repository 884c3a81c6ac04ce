"""``scrapy crawl breaking``: the BREAKING ticker of the home page, each flash once.

One request (plus robots.txt). Every flash goes to the ``breaking_news`` table of the store; the items
are the stored flashes no run has written yet (``mayadeen.breaking.stream``), so the JSON Lines stream
(``MAYADEEN_BREAKING_JSONL_PATH``, or ``-o``/``-O``) of a job run every minute receives each flash once:
the new ones, those a killed run stored and did not write, and those another crawl's harvest stored.
"""

from __future__ import annotations

import asyncio
import signal
import time

import scrapy
from protego import Protego
from scrapy.exceptions import IgnoreRequest

from mayadeen.breaking.recorder import TickerRecorder
from mayadeen.breaking.stream import FlashStream
from mayadeen.urls import PUBLIC_HOST, PUBLIC_URL
from mayadeen.validation import (
    Argument,
    SpiderArguments,
    UsageProblem,
    number_range,
    parse_flag,
    parse_number,
    parse_origin,
)

DEFAULT_ROBOTS_REFRESH = 3600.0


def parse_watch(label: str, value) -> float | None:
    """``-a watch=SECONDS``: a positive number of seconds, or None (one pass) when not given."""
    if value in (None, ""):
        return None
    seconds = parse_number(label, value, above=True)
    if seconds == float("inf"):
        raise UsageProblem(f"{label}={value}: takes {number_range(0, above=True)}, not infinity")
    return seconds


class BreakingSpider(SpiderArguments, scrapy.Spider):
    """Home page → its ticker → every flash stored once, those not yet written to a stream yielded.

    Arguments (``-a``):

    ``base_url``
        fetch from this mirror instead of the live site (records keep the public URLs).
    ``js``
        ``1`` lets a Cloudflare challenge on the home page be passed in the browser (as the other
        spiders do by default); default ``0``: no browser is started.
    ``watch``
        keep running and read the home page again every SECONDS. A cycle is skipped while the last
        one is still under way (retries, a ``Retry-After`` pause); robots.txt is read again every
        ``MAYADEEN_BREAKING_ROBOTS_REFRESH`` seconds and no home page is requested while it forbids
        it. SIGTERM or Ctrl-C stop the watch: the cycle under way ends, the spider closes as
        ``finished`` (exit 0); a second signal is the crawl's shutdown (``mayadeen.stop_signals``).

    Stats: ``mayadeen/breaking/cycles`` (home page requests), ``mayadeen/breaking/cycles_skipped``,
    ``mayadeen/breaking/robots_disallowed``, ``mayadeen/breaking/no_ticker`` (an ERROR: the home page
    has no ticker, the layout may have changed), ``mayadeen/breaking/home_failed``, and those of
    ``mayadeen.breaking.recorder`` and ``mayadeen.breaking.stream``.
    """

    name = "breaking"
    allowed_domains = [PUBLIC_HOST]
    HOME_URL = f"{PUBLIC_URL}/"
    ROBOTS_URL = f"{PUBLIC_URL}/robots.txt"
    #: The harvest of other crawls (``mayadeen.breaking.harvest``) leaves this spider's pages alone.
    reads_ticker = True
    #: The flashes' own JSON Lines file when no ``-o``/``-O`` is given (``mayadeen.feeds.default_feed``),
    #: never the articles' ``MAYADEEN_JSONL_PATH``.
    stream_setting = "MAYADEEN_BREAKING_JSONL_PATH"
    #: The run summary counts flashes, not items: ``flashes new=… known=…`` (known: seen before, edited or not).
    summary_counts = (
        "flashes",
        {
            "new": ("mayadeen/breaking/flashes/new",),
            "known": ("mayadeen/breaking/flashes/updated", "mayadeen/breaking/flashes/unchanged"),
        },
    )
    custom_settings = {
        # Flashes are stored as they are read (TickerRecorder), not by the article pipelines.
        "ITEM_PIPELINES": {},
        # Article field coverage says nothing about a ticker.
        "MAYADEEN_COVERAGE_ENABLED": False,
        # One flash at a time through the feeds and the mark that it was written (awaited off the
        # reactor in ``item_scraped`` for a JSON Lines feed, mayadeen.breaking.stream): a kill then
        # leaves at most one flash written and not marked, which the next run writes again. With
        # Scrapy's 100 items at once, up to 100 were (18 seen).
        "CONCURRENT_ITEMS": 1,
    }

    #: The ``-a`` arguments this spider takes (``mayadeen.validation`` refuses any other).
    arguments = {
        "base_url": Argument(parse_origin, "fetch from this mirror (an http(s) origin) instead of the site"),
        "js": Argument(parse_flag, "1: pass a challenge on the home page in the browser"),
        "watch": Argument(parse_watch, "read the home page again every SECONDS"),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        values = self.argument_values
        self.base_url = values.get("base_url")
        # The home page is plain HTML: no browser (and no idle Playwright driver) unless asked for.
        self.js = values.get("js", False)
        self.watch = values.get("watch")
        self._in_flight = False
        self._robots_allow = True
        self._stopping: asyncio.Event | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.crawl_arguments = dict(kwargs)
        spider.recorder = TickerRecorder(crawler)
        spider.stream = FlashStream(crawler, spider.recorder.table)
        settings = crawler.settings
        spider.robots_refresh = settings.getfloat("MAYADEEN_BREAKING_ROBOTS_REFRESH", DEFAULT_ROBOTS_REFRESH)
        spider.obey_robots = settings.getbool("ROBOTSTXT_OBEY")
        spider.robots_agent = settings.get("ROBOTSTXT_USER_AGENT") or settings.get("USER_AGENT")
        return spider

    # --- requests ---------------------------------------------------------------------------------

    async def start(self):
        yield self._home_request()
        if not self.watch:
            return
        self._stopping = asyncio.Event()
        self._catch_stop_signals(asyncio.get_running_loop())
        self.logger.info("Watching the breaking ticker: the home page every %g s (SIGTERM stops)", self.watch)
        robots_due = time.monotonic() + self.robots_refresh
        while not await self._stopped_within(self.watch):
            if self.obey_robots and time.monotonic() >= robots_due:
                robots_due = time.monotonic() + self.robots_refresh
                yield scrapy.Request(
                    self.ROBOTS_URL, callback=self.parse_robots, errback=self.robots_failed, dont_filter=True
                )
            if self._in_flight:
                self.crawler.stats.inc_value("mayadeen/breaking/cycles_skipped")
                self.logger.debug("The last home page request is still under way: this cycle is skipped")
            elif not self._robots_allow:
                self.crawler.stats.inc_value("mayadeen/breaking/robots_disallowed")
            else:
                yield self._home_request()
        self.logger.info("Stopped watching the breaking ticker")

    def _home_request(self) -> scrapy.Request:
        self._in_flight = True
        self.crawler.stats.inc_value("mayadeen/breaking/cycles")
        return scrapy.Request(self.HOME_URL, callback=self.parse_home, errback=self.home_failed, dont_filter=True)

    async def _stopped_within(self, seconds: float) -> bool:
        """Waits ``seconds``; True as soon as a stop signal came (at once if it already had)."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    def _catch_stop_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        """SIGTERM/SIGINT end the watch loop instead of interrupting the crawl.

        Installed after the crawl's own handlers (``mayadeen.stop_signals``; ``call_soon`` runs once the
        reactor is up); the first signal gives the signal back to them, so a second one is the shutdown.
        """

        def install():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous = signal.getsignal(signum)

                def handler(num, frame, previous=previous):
                    signal.signal(num, previous if previous is not None else signal.SIG_DFL)
                    loop.call_soon_threadsafe(self._stop_watching, num)

                signal.signal(signum, handler)

        loop.call_soon(install)

    def _stop_watching(self, signum: int) -> None:
        self.logger.info("Received %s: stopping the watch after the cycle under way", signal.Signals(signum).name)
        self._stopping.set()

    # --- responses --------------------------------------------------------------------------------

    async def parse_home(self, response):
        self._in_flight = False
        reading = self.recorder.read(response)
        if reading is None:
            self.crawler.stats.inc_value("mayadeen/breaking/no_ticker")
            self.logger.error(
                "No breaking ticker (ul#breaking-ticker) on %s: the layout may have changed", response.url
            )
            return
        new = await self.recorder.record(reading, response.url)
        (self.logger.info if new else self.logger.debug)(
            "Breaking ticker of %s: %d new flash(es)", response.url, len(new)
        )
        async for item in self.stream.items():
            yield item

    def home_failed(self, failure) -> None:
        self._in_flight = False
        self.crawler.stats.inc_value("mayadeen/breaking/home_failed")
        if failure.check(IgnoreRequest):  # robots.txt forbids it, or a URL guard refused it
            self.logger.warning("The home page was not fetched: %s", failure.value)
        else:
            self.logger.error("The home page could not be read: %s", failure.value)

    def parse_robots(self, response) -> None:
        allow = Protego.parse(response.text).can_fetch(self.HOME_URL, self.robots_agent)
        if allow != self._robots_allow:
            (self.logger.info if allow else self.logger.warning)(
                "robots.txt now %s the home page", "allows" if allow else "forbids"
            )
        self._robots_allow = allow

    def robots_failed(self, failure) -> None:
        self.logger.info("robots.txt could not be read again (%s); keeping what it said before", failure.value)

    async def closed(self, reason) -> None:
        await self.stream.settled()  # the feeds' last stored files marked, then the store closes
        await self.recorder.close()
