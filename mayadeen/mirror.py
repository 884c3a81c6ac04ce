"""Fetch the public site from a mirror (a local copy, a fixture server) while keeping public URLs.

With ``MAYADEEN_BASE_URL`` (or the spider argument ``base_url``) set, a request for
``https://english.almayadeen.net/x`` is downloaded from ``<base_url>/x`` and its response comes back as
``https://english.almayadeen.net/x``. The swap happens in the download handler, the last step before
the wire, so the scheduler, the duplicate filter, robots.txt, offsite checks, redirects, cookies, the
HTTP cache, JOBDIR and the records only ever see public URLs.

``MirrorAddon`` (``ADDONS``, after the browser add-on has chosen the handlers) wraps the ``http`` and
``https`` download handlers in ``MirrorDownloadHandler``; the handlers it wraps are kept in
``MAYADEEN_MIRROR_HANDLERS``. In mirror mode nothing else is fetched: a request for any other host
is refused (and counted), and so is an answer that does not come from the mirror (a browser page
that ended elsewhere), so nothing off the mirror is ever taken, or archived, as a public URL. A failed download names
the mirror URL that failed, not the public one.
A mirror in ``no_proxy`` (e.g. 127.0.0.1) is fetched without the environment's proxy.

Stats: ``mayadeen/mirror/requests``, ``mayadeen/mirror/blocked``.
"""

from __future__ import annotations

import inspect
import logging
from urllib.parse import urlsplit, urlunsplit
from urllib.request import proxy_bypass

from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.exceptions import IgnoreRequest
from scrapy.settings import SETTINGS_PRIORITIES
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import build_from_crawler, load_object
from twisted.internet.defer import Deferred

from mayadeen.urls import PUBLIC_URL
from mayadeen.validation import parse_origin

logger = logging.getLogger(__name__)

HANDLER = "mayadeen.mirror.MirrorDownloadHandler"
SCHEMES = ("http", "https")


def swap_origin(url: str, src: str, dst: str) -> str | None:
    """``url`` moved from origin ``src`` to origin ``dst`` (None when it is not on ``src``)."""
    parts, source, target = urlsplit(url), urlsplit(src), urlsplit(dst)
    if (parts.scheme, parts.netloc) != (source.scheme, source.netloc):
        return None
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))


class MirrorAddon:
    """Wraps the http(s) download handlers when a mirror is set (``-a base_url`` or the setting)."""

    def __init__(self, crawler=None):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def update_settings(self, settings) -> None:
        spider = getattr(self.crawler, "spider", None)
        base = parse_origin("base_url", getattr(spider, "base_url", None) or settings.get("MAYADEEN_BASE_URL"))
        if not base:
            return
        priority = max(settings.getpriority("DOWNLOAD_HANDLERS") or 0, SETTINGS_PRIORITIES["addon"])
        settings.set("MAYADEEN_BASE_URL", base, priority=max(settings.getpriority("MAYADEEN_BASE_URL") or 0, priority))
        handlers = settings.getwithbase("DOWNLOAD_HANDLERS")
        settings.set("MAYADEEN_MIRROR_HANDLERS", {s: handlers[s] for s in SCHEMES}, priority=priority)
        settings.set(
            "DOWNLOAD_HANDLERS",
            {**settings.getdict("DOWNLOAD_HANDLERS"), **dict.fromkeys(SCHEMES, HANDLER)},
            priority=priority,
        )
        logger.info("Fetching %s from the mirror %s", settings.get("MAYADEEN_PUBLIC_URL") or PUBLIC_URL, base)


class MirrorDownloadHandler(BaseDownloadHandler):
    """Downloads public URLs from ``MAYADEEN_BASE_URL`` with the handler the mirror's scheme had."""

    lazy = False  # the wrapped handler may start things at engine_started (scrapy-playwright does)

    def __init__(self, crawler):
        super().__init__(crawler)
        settings = crawler.settings
        self.public = settings.get("MAYADEEN_PUBLIC_URL") or PUBLIC_URL
        self.base = settings.get("MAYADEEN_BASE_URL")
        self.stats = crawler.stats
        path = settings.getdict("MAYADEEN_MIRROR_HANDLERS")[urlsplit(self.base).scheme]
        self.inner = build_from_crawler(load_object(path), crawler)
        self.direct = bool(proxy_bypass(urlsplit(self.base).hostname))

    async def download_request(self, request):
        mirrored = swap_origin(request.url, self.public, self.base)
        if mirrored is None:
            self.stats.inc_value("mayadeen/mirror/blocked")
            raise IgnoreRequest(f"mirror mode: not fetching {request.url} (not on the public site)")
        self.stats.inc_value("mayadeen/mirror/requests")
        local = request.replace(url=mirrored)
        if self.direct:
            local.meta["proxy"] = None
            local.headers.pop(b"Proxy-Authorization", None)
        try:
            response = await self._download(local)
        except Exception as exc:
            raise _naming(exc, mirrored) from None
        finally:
            request.meta.update({k: v for k, v in local.meta.items() if k != "proxy"})
        location = response.headers.get(b"Location")
        if location:
            public = swap_origin(location.decode("latin-1"), self.base, self.public)
            if public:  # a mirror that redirects to itself means the public page
                response.headers[b"Location"] = public.encode("latin-1")
        public = swap_origin(response.url, self.base, self.public)
        if public is None:  # a browser page that ended off the mirror is no answer for a public URL
            self.stats.inc_value("mayadeen/mirror/blocked")
            raise IgnoreRequest(f"mirror mode: {request.url} was answered from {response.url}, not the mirror")
        return response.replace(url=public, request=request)

    async def _download(self, request):
        if inspect.iscoroutinefunction(self.inner.download_request):
            return await self.inner.download_request(request)
        return await maybe_deferred_to_future(self.inner.download_request(request, self.crawler.spider))

    async def close(self) -> None:
        result = self.inner.close()
        if isinstance(result, Deferred):
            await maybe_deferred_to_future(result)
        elif inspect.isawaitable(result):
            await result


def _naming(exc: BaseException, url: str) -> BaseException:
    """``exc`` with the URL actually fetched in its message (its type unchanged, for the retries)."""
    first = exc.args[0] if exc.args else ""
    if isinstance(first, str):
        exc.args = (f"{first} (fetching {url})".lstrip(), *exc.args[1:])
    return exc
