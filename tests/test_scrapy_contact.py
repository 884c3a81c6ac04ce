"""What ``mayadeen.scrapy_contact`` relies on in Scrapy, pinned on a real engine: a Scrapy upgrade that
changes it fails here, not in a crawl.

* ``wake_engine``: with the engine's heartbeat out of the way and nothing else going on, the engine
  asks the scheduler for requests again after a wake-up, and after nothing else;
* ``in_downloader``: a request is among the downloader's from the moment the engine hands it over
  (its first downloader middleware sees it there) until its download has ended (not in its callback);
* ``longest_delay``: the downloader draws a slot's delays within ``delay × (1 ± jitter)`` (so never
  above what ``longest_delay`` says, and up to it), and a slot it does not have yet has no delay.
"""

from __future__ import annotations

import threading

import pytest
from scrapy import Request, Spider, signals
from scrapy.core.engine import ExecutionEngine
from scrapy.core.scheduler import Scheduler
from scrapy.crawler import CrawlerRunner
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.defer import deferred_from_coro

from mayadeen.scrapy_contact import in_downloader, longest_delay, wake_engine
from tests.fixture_server import FixtureServer
from tests.inprocess import reactor

DELAY, JITTER = 0.2, 0.5
SLOT = "127.0.0.1"


class CountingScheduler(Scheduler):
    """Scrapy's scheduler, counting the engine's requests for the next request."""

    asked = 0
    changed = threading.Condition()

    def next_request(self):
        with CountingScheduler.changed:
            CountingScheduler.asked += 1
            CountingScheduler.changed.notify_all()
        return super().next_request()


class FirstMiddleware:
    """Downloader middleware, first of all: notes whether the request is among the downloader's."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        OnePageThenIdle.seen["in_downloader_at_first_middleware"] = request in in_downloader(self.crawler)


class OnePageThenIdle(Spider):
    name = "one_page_then_idle"
    seen: dict = {}

    def __init__(self, url, **kwargs):
        super().__init__(**kwargs)
        self.url = url

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.idle, signal=signals.spider_idle)
        return spider

    async def start(self):
        yield Request(self.url, meta={"handle_httpstatus_all": True})

    def parse(self, response):
        slot = self.crawler.engine.downloader.slots[SLOT]
        self.seen.update(
            in_downloader_in_callback=response.request in in_downloader(self.crawler),
            longest=longest_delay(self.crawler, SLOT),
            unknown=longest_delay(self.crawler, "a-slot-never-used"),
            draws=[slot.download_delay() for _ in range(5000)],
        )

    def idle(self):
        self.seen["idle"] = True
        raise DontCloseSpider  # kept open: the wake-up is tested on an engine with nothing to do


@pytest.fixture(scope="module")
def idle_crawl():
    """A crawl that fetched one page and now idles, the engine's heartbeat (5 s) put off for an hour."""
    heartbeat = ExecutionEngine._SLOT_HEARTBEAT_INTERVAL
    ExecutionEngine._SLOT_HEARTBEAT_INTERVAL = 3600.0
    settings = {
        "SCHEDULER": f"{__name__}.CountingScheduler",
        "DOWNLOAD_SLOTS": {SLOT: {"delay": DELAY, "jitter": JITTER}},
        "ROBOTSTXT_OBEY": False,
        "DOWNLOADER_MIDDLEWARES": {f"{__name__}.FirstMiddleware": 1},
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }
    ended = threading.Event()
    holder = {}
    try:
        with FixtureServer() as srv:

            def begin():
                runner = CrawlerRunner(settings)
                holder["crawler"] = crawler = runner.create_crawler(OnePageThenIdle)
                runner.crawl(crawler, url=srv.url + "/").addBoth(lambda _: ended.set())

            reactor().callFromThread(begin)
            with CountingScheduler.changed:
                assert CountingScheduler.changed.wait_for(lambda: OnePageThenIdle.seen.get("idle"), timeout=60)
            yield holder["crawler"]
            reactor().callFromThread(lambda: deferred_from_coro(holder["crawler"].stop_async()))
            assert ended.wait(60)
    finally:
        ExecutionEngine._SLOT_HEARTBEAT_INTERVAL = heartbeat


def test_a_wake_up_makes_an_idle_engine_ask_the_scheduler(idle_crawl):
    for _ in range(3):
        with CountingScheduler.changed:
            before = CountingScheduler.asked
        reactor().callFromThread(wake_engine, idle_crawl)
        with CountingScheduler.changed:
            assert CountingScheduler.changed.wait_for(lambda: CountingScheduler.asked > before, timeout=20)


def test_the_longest_delay_is_the_longest_the_downloader_draws(idle_crawl):
    seen = OnePageThenIdle.seen
    assert seen["longest"] == pytest.approx(DELAY * (1 + JITTER))
    assert max(seen["draws"]) <= seen["longest"]
    assert max(seen["draws"]) > DELAY * (1 + 0.9 * JITTER)  # up to it, not a smaller spread
    assert seen["unknown"] == 0.0


def test_a_request_is_the_downloaders_from_its_first_middleware_until_its_download_ended(idle_crawl):
    assert OnePageThenIdle.seen["in_downloader_at_first_middleware"] is True
    assert OnePageThenIdle.seen["in_downloader_in_callback"] is False
