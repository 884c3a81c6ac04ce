"""The last word on what may be fetched: http(s) URLs of the site (or its mirror), nothing else.

Spiders only follow links of the site, and Scrapy's offsite middleware drops other hosts — but not
for ``dont_filter`` requests (retries, robots.txt) nor for where a redirect of one of them leads,
and Scrapy has download handlers for ``file:``, ``data:``, ``ftp:`` and ``s3:`` too. A page, a
sitemap or a redirect can name any of those, or a private address (``http://169.254.169.254/``,
``http://10.0.0.1/``, ``http://localhost:…``). This middleware sits just before the mirror
middleware (940 < 950) and lets through only ``http``/``https`` requests on the site
(``mayadeen.urls.is_on_site``: its scheme, host and port) or on the mirror's origin (``base_url``);
anything else is ignored and counted.

Stats: ``mayadeen/url_guard/blocked/<scheme|host|private_address>``.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest

from mayadeen.urls import is_on_site

logger = logging.getLogger(__name__)


def _is_private(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


class UrlGuardMiddleware:
    def __init__(self, crawler):
        self.stats = crawler.stats
        self.mirror: tuple[str, str] | None = None  # (scheme, netloc) of the mirror
        self._set_mirror(crawler.settings.get("MAYADEEN_BASE_URL"))

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def _set_mirror(self, base_url: str | None) -> None:
        if base_url:
            parts = urlsplit(base_url)
            self.mirror = (parts.scheme.lower(), parts.netloc.lower()) if parts.netloc else None

    def spider_opened(self, spider):
        self._set_mirror(getattr(spider, "base_url", None))

    def verdict(self, url: str) -> str | None:
        """None when ``url`` may be fetched, else the reason it may not."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            netloc = parts.netloc.lower()
        except ValueError:
            return "host"
        if parts.scheme not in ("http", "https"):
            return "scheme"
        if is_on_site(url):
            return None
        if self.mirror and (parts.scheme, netloc) == self.mirror:
            return None
        return "private_address" if _is_private(host) else "host"

    def process_request(self, request):
        reason = self.verdict(request.url)
        if reason is None:
            return None
        self.stats.inc_value(f"mayadeen/url_guard/blocked/{reason}")
        logger.warning("Not fetching %s (%s is not allowed)", request.url[:200], reason.replace("_", " "))
        raise IgnoreRequest(f"url guard: {reason}: {request.url[:200]}")
