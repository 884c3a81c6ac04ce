"""Every item request gets the spider's ``item_failed`` errback, however it was made.

Scrapy's ``SitemapSpider`` builds the item requests of a sitemap itself, with a callback and no
errback; without one, an item page given up after its retries would only be logged, not remembered
and retried by later runs (``mayadeen.extensions.failing_items``). This spider middleware gives such
requests the errback before they are scheduled.
"""

from __future__ import annotations

from scrapy import Request


class ItemErrbackMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _with_errback(self, element):
        spider = self.crawler.spider
        item_failed = getattr(spider, "item_failed", None)
        if (
            isinstance(element, Request)
            and element.errback is None
            and item_failed is not None
            and element.callback == getattr(spider, "parse_item", None)
        ):
            return element.replace(errback=item_failed)
        return element

    async def process_spider_output_async(self, response, result):
        async for element in result:
            yield self._with_errback(element)

    def process_spider_output(self, response, result):
        for element in result:
            yield self._with_errback(element)
