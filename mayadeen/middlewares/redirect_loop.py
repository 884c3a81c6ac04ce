"""Break redirect loops by retrying the page later instead of losing it.

A page that redirects to itself (or to a URL that redirects back) is usually a passing fault of a
CMS or cache. Scrapy follows the redirect, and its duplicate filter then silently drops the request
for a URL it has already seen: the page is lost without a word. This middleware, just before the
redirect middleware, spots a redirect to a URL already in the request's redirect chain and retries
the first URL of the chain with the usual backoff instead. When the retries are used up the page is
dropped with a WARNING naming it (loops that never repeat a URL are ended by ``REDIRECT_MAX_TIMES``).

Stats: ``mayadeen/redirect_loop/detected``, ``mayadeen/gave_up/redirect_loop``.
"""

from __future__ import annotations

import logging

from mayadeen.middlewares.retry import Backoff, GaveUp
from mayadeen.urls import canonical_url

logger = logging.getLogger(__name__)

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_REDIRECT_META = ("redirect_urls", "redirect_reasons", "redirect_times", "redirect_ttl")


class RedirectLoopMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.backoff = Backoff.from_settings(crawler.settings)
        self.retry_enabled = crawler.settings.getbool("RETRY_ENABLED")

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request, response):
        if response.status not in _REDIRECT_STATUSES or request.meta.get("dont_redirect"):
            return response
        location = response.headers.get(b"Location")
        if not location:
            return response
        target = canonical_url(location.decode("latin-1"), response.url)
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if target is None or target not in {canonical_url(u) for u in chain}:
            return response
        first = chain[0]
        self.stats.inc_value("mayadeen/redirect_loop/detected")
        logger.info("Redirect loop: %s -> %s (chain from %s)", request.url, target, first)
        original = request.replace(url=first)
        for key in _REDIRECT_META:
            original.meta.pop(key, None)
        retry = None
        if self.retry_enabled and not request.meta.get("dont_retry"):
            retry = self.backoff.retry(original, "redirect_loop", self.crawler)
        if retry is not None:
            return retry
        self.stats.inc_value("mayadeen/gave_up/redirect_loop")
        logger.warning("Dropped %s: it kept redirecting in a loop", first)
        raise GaveUp(f"redirect loop: {first}")
