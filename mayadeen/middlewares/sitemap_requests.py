"""Discovery requests the spider does not want are not sent; monthly sitemaps are asked for conditionally.

For a spider with a ``sitemap_ledger`` (``mayadeen.spiders.sitemap``): robots.txt reaches it with only
the ``Sitemap:`` lines that name an http(s) URL of the site, in canonical form (Scrapy's reader stops
at the first line it cannot make a request of, losing the lines after it). A request its
``wants_sitemap(request)`` refuses is dropped (``IgnoreRequest``) before it leaves — the news sitemap
named by robots.txt, which the spider reads itself, or one outside the ``since``/``until`` window. A
monthly sitemap read before goes out with ``If-None-Match``/``If-Modified-Since`` from that read; a
``304 Not Modified`` answer is noted as read and goes no further, a ``200`` has its ``ETag`` and
``Last-Modified`` noted for the next run (``mayadeen.store.sitemap_reads``).

Stats: ``mayadeen/sitemap/not_wanted``, ``mayadeen/sitemap/conditional``, ``mayadeen/sitemap/not_modified``,
``mayadeen/sitemap/robots_dropped`` (``Sitemap:`` lines left out).
"""

from __future__ import annotations

import re

from scrapy.exceptions import IgnoreRequest

from mayadeen.pages.discovery import sitemap_month
from mayadeen.urls import DEFAULT_TRACKING_PARAMS, canonical_url, is_on_site

SITEMAP_LINE = re.compile(rb"^\s*sitemap\s*:\s*(\S*)", re.IGNORECASE)

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
        if ledger is not None and request.url.endswith("/robots.txt") and response.status == 200:
            return response.replace(body=self._site_sitemaps_only(response.body, response.url))
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

    def _site_sitemaps_only(self, body: bytes, base: str) -> bytes:
        lines = []
        for line in body.split(b"\n"):
            match = SITEMAP_LINE.match(line)
            if match:
                url = canonical_url(
                    match.group(1).decode("utf-8", "replace"),
                    base,
                    tracking=getattr(self.crawler.spider, "tracking", DEFAULT_TRACKING_PARAMS),
                )
                if not (url and is_on_site(url)):
                    self.stats.inc_value("mayadeen/sitemap/robots_dropped")
                    continue
                line = b"Sitemap: " + url.encode()
            lines.append(line)
        return b"\n".join(lines)


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value else None
