"""The item requests Scrapy's ``SitemapSpider`` makes of a sitemap are judged by freshness off the reactor.

Scrapy reads a monthly sitemap in a callback of its own and asks the spider's ``sitemap_filter`` which
entries to request, without waiting for anything; the store's answer for them can wait (a lock, a
server that went away), so it is not asked there. ``sitemap_filter`` lets the items in the window
through and notes each entry (``awaiting_freshness``); this spider middleware holds back the requests
Scrapy makes of them, has the spider look them all up in the store in one go, off the reactor
(``fresh_requests``), and passes on those to fetch. Everything else passes at once.
"""

from __future__ import annotations

from scrapy import Request


class SitemapFreshnessMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_spider_output(self, response, result):
        spider = self.crawler.spider
        awaiting = getattr(spider, "awaiting_freshness", None)
        held = []
        async for element in result:
            if awaiting and isinstance(element, Request) and element.url in awaiting:
                held.append(element)
            else:
                yield element
        if held:
            for request in await spider.fresh_requests(held):
                yield request
