"""What ``mayadeen.scrapy_contact.delay_timer_pending`` relies on in Scrapy, pinned on a real engine: a
Scrapy upgrade that changes it fails here, not in a crawl (``DueScheduler`` would hand requests to a slot
that queues them, and a ``Retry-After`` would find one waiting in the downloader).

Once a slot with a delay has sent a request, its delay timer is pending; a request that reaches the
slot meanwhile waits in the slot's queue (it is not sent), and a slot the downloader does not have has
no timer. The delay is long (the crawl ends only after it) so that no timer runs before the checks.
"""

from __future__ import annotations

import threading

from scrapy import Request, Spider, signals
from scrapy.crawler import CrawlerRunner

from mayadeen.scrapy_contact import delay_timer_pending
from tests.fixture_server import FixtureServer
from tests.inprocess import reactor

DELAY = 3.0
SLOT = "127.0.0.1"


class TwoPages(Spider):
    name = "two_pages"
    seen: dict = {}

    def __init__(self, url, **kwargs):
        super().__init__(**kwargs)
        self.url = url

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.reached, signal=signals.request_reached_downloader)
        return spider

    async def start(self):
        yield Request(self.url, meta={"handle_httpstatus_all": True})

    def parse(self, response):
        self.seen.update(
            after_send=delay_timer_pending(self.crawler, SLOT), unknown=delay_timer_pending(self.crawler, "x")
        )
        yield Request(self.url + "?second", meta={"handle_httpstatus_all": True}, callback=self.second)

    def reached(self, request, spider):
        if request.url.endswith("?second"):  # looked at once the downloader has taken it in
            reactor().callLater(0, self.look, request)

    def look(self, request):
        queue = self.crawler.engine.downloader.slots[SLOT].queue
        self.seen.update(
            second_queued=any(r is request for r, _ in queue), before_second=delay_timer_pending(self.crawler, SLOT)
        )

    def second(self, response):
        self.seen["second_sent"] = True


def test_a_slot_sends_nothing_while_its_delay_timer_is_pending():
    settings = {
        "DOWNLOAD_SLOTS": {SLOT: {"delay": DELAY, "jitter": 0}},
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }
    ended = threading.Event()
    with FixtureServer() as srv:

        def begin():
            runner = CrawlerRunner(settings)
            runner.crawl(TwoPages, url=srv.url + "/").addBoth(lambda _: ended.set())

        reactor().callFromThread(begin)
        assert ended.wait(60 + DELAY)
    assert TwoPages.seen == {
        "after_send": True,
        "unknown": False,
        "second_queued": True,
        "before_second": True,
        "second_sent": True,
    }
