"""Every run starts with the failing items due for another attempt, on every worker.

The spider says which (``failing_due``: the items of the store's ``failing_items`` whose next attempt
is due, in its scope); this spider middleware puts them before its start requests. It sits outside
the distributed crawl's seeding (``mayadeen.distributed.seeding``), which lets only one worker make
the start requests: each worker may have a store of its own, and only it knows its failing items (with
a shared store the crawl's duplicate filter keeps one request of each). A worker that finds its crawl
over asks for nothing.
"""

from __future__ import annotations


class FailingRetriesMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_start(self, start):
        spider = self.crawler.spider
        if hasattr(spider, "failing_due") and not getattr(self.crawler.engine.scheduler, "over", False):
            for request in spider.failing_due():
                yield request
        async for element in start:
            yield element
