"""Fetch the public site from a mirror (a local copy, a fixture server) while keeping public URLs.

With ``MAYADEEN_BASE_URL`` (or the spider argument ``base_url``) set, a request for
``https://english.almayadeen.net/x`` is downloaded from ``<base_url>/x`` and its response comes back as
``https://english.almayadeen.net/x``. The middleware sits next to the downloader, so the duplicate filter,
robots.txt, offsite checks, redirects, cookies, the HTTP cache and the records only ever see public URLs.

In mirror mode nothing else is fetched: a request for any other host is ignored (and counted), so a
test or an offline run can never leave the mirror.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit
from urllib.request import proxy_bypass

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured

from mayadeen.urls import PUBLIC_URL

logger = logging.getLogger(__name__)


class MirrorMiddleware:
    def __init__(self, public_url: str, base_url: str, stats):
        self.public = urlsplit(public_url)
        self.stats = stats
        self.base = None
        self.set_base_url(base_url)

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler.settings.get("MAYADEEN_PUBLIC_URL", PUBLIC_URL), crawler.settings.get("MAYADEEN_BASE_URL"), crawler.stats)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def set_base_url(self, base_url: str | None) -> None:
        if not base_url:
            self.base = None
            return
        base = urlsplit(base_url.rstrip("/"))
        if base.scheme not in ("http", "https") or not base.netloc:
            raise NotConfigured(f"base_url must be an http(s) origin, got {base_url!r}")
        self.base = base

    def spider_opened(self, spider):
        # The spider argument wins over the setting: `scrapy crawl sections -a base_url=…`.
        if getattr(spider, "base_url", None):
            self.set_base_url(spider.base_url)
        if self.base:
            logger.info("Fetching %s from the mirror %s", urlunsplit(self.public[:2] + ("", "", "")),
                        urlunsplit(self.base[:2] + ("", "", "")))

    def _swap(self, url: str, src, dst) -> str | None:
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != (src.scheme, src.netloc):
            return None
        return urlunsplit((dst.scheme, dst.netloc, parts.path, parts.query, parts.fragment))

    def process_request(self, request):
        if self.base is None:
            return None
        mirrored = self._swap(request.url, self.public, self.base)
        if mirrored is None:
            if self._swap(request.url, self.base, self.base) is not None:
                return None  # already on the mirror (a retry of a mirrored request)
            self.stats.inc_value("mayadeen/mirror/blocked")
            raise IgnoreRequest(f"mirror mode: not fetching {request.url} (not on the public site)")
        request.meta["mayadeen_public_url"] = request.url
        self.stats.inc_value("mayadeen/mirror/requests")
        if request.meta.get("_scheme_proxy") and proxy_bypass(self.base.hostname):
            # HttpProxyMiddleware chose a proxy from the environment for the public host; the mirror
            # is in no_proxy (e.g. 127.0.0.1), so it is fetched directly.
            request.meta["proxy"] = None
        # Changed in place: returning a new Request would send it back through the scheduler.
        request._set_url(mirrored)
        return None

    def _restore(self, request) -> None:
        public = request.meta.pop("mayadeen_public_url", None)
        if public:
            request._set_url(public)

    def process_response(self, request, response):
        if self.base is None:
            return response
        self._restore(request)
        public = self._swap(response.url, self.base, self.public)
        location = response.headers.get(b"Location")
        if location:
            local = self._swap(location.decode("latin-1"), self.base, self.public)
            if local:  # a mirror that redirects to itself means the public page
                response.headers[b"Location"] = local.encode("latin-1")
        return response.replace(url=public) if public else response

    def process_exception(self, request, exception):
        if self.base is not None:
            self._restore(request)  # retries must be scheduled with the public URL
        return None
