"""A discovery source that could not be read is a failure of that source, said once, by name.

Discovery sources are the site's sitemaps (``/sitemaps/…``) and its RSS feed (``/rss``). Without this
middleware a source that failed left no trace but a quiet log line (an ``Ignoring response <404>``, a
redirect filtered as off-site, a traceback for an oversized answer) and a run that found nothing
said ``result=ok``. A source is unreadable when, after its retries:

* its answer is an HTTP error (4xx/5xx; a ``304 Not Modified`` is a read);
* its download failed (refused, timed out, larger than ``DOWNLOAD_MAXSIZE``, cut short);
* it was redirected off the site (Scrapy's offsite filter drops such a redirect as it is scheduled);
* its body is not the document it should be: XML whose root is ``urlset``/``sitemapindex`` for a
  sitemap, ``rss`` for the feed (parsed up to the root element only, without entities, DTD or network;
  a gzipped sitemap is left to the spider's reader).

Each is one ERROR naming the source and the reason, and the stat ``mayadeen/sources/unreadable``;
``mayadeen.extensions.run_outcome`` fails the run (``source_unreadable``) when no other source listed
an item. An empty source that parsed is not an error. A failed download or a body that is not the
document is not passed on (no traceback, no half-read source): the request is dropped
(``IgnoreRequest``) once it has been said.

Sits at 545: after the retry middleware (550) has given up, so only the final answer is judged. An
answer given up by the integrity or redirect-loop checks (``GaveUp``, raised on the way back) is said
by them, not here.
"""

from __future__ import annotations

import io
import logging
from urllib.parse import urlsplit

from lxml import etree
from scrapy import signals
from scrapy.exceptions import IgnoreRequest

from mayadeen.identity import first_url
from mayadeen.pages.discovery import GZIP_MAGIC
from mayadeen.urls import is_on_site

logger = logging.getLogger(__name__)

#: The root elements a source's document may have.
SITEMAP_ROOTS = frozenset({"urlset", "sitemapindex"})
FEED_ROOTS = frozenset({"rss"})


def source_roots(url: str) -> frozenset[str] | None:
    """The root elements the discovery source at ``url`` may have; None when it is no source."""
    if not is_on_site(url):
        return None
    path = urlsplit(url).path
    if path == "/rss":
        return FEED_ROOTS
    if path.startswith("/sitemaps/"):
        return SITEMAP_ROOTS
    return None


def root_name(body: bytes) -> str | None:
    """The local name of the document's root element, or None when it is not XML up to there."""
    try:
        for _event, element in etree.iterparse(
            io.BytesIO(body),
            events=("start",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        ):
            return etree.QName(element).localname
    except etree.XMLSyntaxError:
        return None
    return None


class SourceHealthMiddleware:
    """Downloader middleware; see the module docstring."""

    def __init__(self, crawler):
        self.stats = crawler.stats
        self.said: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        crawler.signals.connect(mw.request_scheduled, signal=signals.request_scheduled)
        return mw

    def unreadable(self, source: str, reason: str) -> None:
        if source in self.said:
            return
        self.said.add(source)
        self.stats.inc_value("mayadeen/sources/unreadable")
        logger.error("Could not read the discovery source %s: %s", source, reason)

    def _left_site(self, request) -> None:
        source = first_url(request)  # as asked for, before any redirect
        if request.url != source and source_roots(source) is not None and not is_on_site(request.url):
            self.unreadable(source, f"redirected off the site to {request.url}")

    def request_scheduled(self, request, spider) -> None:
        """A redirect off the site is dropped as it is scheduled (Scrapy's offsite filter), unsaid."""
        if request.meta.get("redirect_urls"):
            self._left_site(request)

    def process_response(self, request, response):
        source = first_url(request)
        roots = source_roots(source)
        if roots is None or response.status in (301, 302, 303, 304, 307, 308):
            return response
        if response.status >= 400:
            self.unreadable(source, f"HTTP {response.status}")
        elif not response.body.startswith(GZIP_MAGIC):
            root = root_name(response.body)
            if root not in roots:  # not handed on: what a lenient parser would make of it is not the source
                self.unreadable(
                    source,
                    f"not a {'feed' if roots is FEED_ROOTS else 'sitemap'} ({f'<{root}>' if root else 'not XML'})",
                )
                raise IgnoreRequest(f"unreadable discovery source: {source}")
        return response

    def process_exception(self, request, exception):
        source = first_url(request)
        if source_roots(source) is None:
            return
        if isinstance(exception, IgnoreRequest):
            self._left_site(request)  # refused by a URL guard
            return  # else filtered on purpose (robots.txt, not wanted, not modified): said elsewhere
        self.unreadable(source, str(exception) or type(exception).__name__)
        raise IgnoreRequest(f"unreadable discovery source: {source}")
