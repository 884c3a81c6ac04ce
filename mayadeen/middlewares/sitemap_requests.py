"""Discovery requests the spider does not want are not sent; monthly sitemaps are asked for conditionally.

For a spider with a ``sitemap_ledger`` (``mayadeen.spiders.sitemap``): a request its
``wants_sitemap(request)`` refuses is dropped (``IgnoreRequest``) before it leaves — the news sitemap
named by robots.txt, which the spider reads itself, or one outside the ``since``/``until`` window. A
monthly sitemap read before goes out with ``If-None-Match``/``If-Modified-Since`` from that read; a
``304 Not Modified`` answer is noted as read and goes no further, a ``200`` has its ``ETag`` and
``Last-Modified`` noted for the next run (``mayadeen.store.sitemap_reads``).

Stats: ``mayadeen/sitemap/not_wanted``, ``mayadeen/sitemap/conditional``, ``mayadeen/sitemap/not_modified``.
"""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest

from mayadeen.pages.discovery import sitemap_month

CONDITIONAL = "mayadeen_conditional"


class SitemapRequestsMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _ledger(self):
        return getattr(self.crawler.spider, "sitemap_ledger", None)

    def process_request(self, request):
        ledger = self._ledger()
        if ledger is None:
            return None
        if not self.crawler.spider.wants_sitemap(request):
            self.stats.inc_value("mayadeen/sitemap/not_wanted")
            raise IgnoreRequest(f"not wanted by the spider: {request.url}")
        if sitemap_month(request.url) and not request.meta.get(CONDITIONAL):
            headers = ledger.validators(request.url)
            for name, value in headers.items():
                request.headers.setdefault(name, value)
            if headers:
                request.meta[CONDITIONAL] = True
                self.stats.inc_value("mayadeen/sitemap/conditional")
        return None

    def process_response(self, request, response):
        ledger = self._ledger()
        if ledger is None or not sitemap_month(request.url):
            return response
        if response.status == 304 and request.meta.get(CONDITIONAL):
            ledger.not_modified(request.url)
            self.stats.inc_value("mayadeen/sitemap/not_modified")
            raise IgnoreRequest(f"not modified since the last read: {request.url}")
        if response.status == 200:
            header = response.headers.get
            ledger.read(request.url, _text(header(b"ETag")), _text(header(b"Last-Modified")))
        return response


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value else None
