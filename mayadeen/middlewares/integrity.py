"""Retry pages that arrived incomplete; never hand half a page to a parser.

A ``200`` whose body is empty, an HTML page without its ``</html>`` whose end the transport did not
declare (no Content-Length, not chunked), JSON that does not parse, XML
without its closing root tag, or a gzip/deflate stream that was cut off (see ``mayadeen.completeness``)
is retried with the same backoff as a 5xx. When the retries are used up the page is dropped —
``IgnoreRequest``, a WARNING naming the page and the reason — rather than parsed: a record built
from half a page would be stored with fields silently missing.

Sits at 595, between the redirect (600) and compression (590) middlewares, so it sees the body as
it came off the wire (a compressed stream can be checked for its end only before it is inflated,
and Scrapy's decompression returns what it can of a cut stream without complaint).
Only ``200`` answers are checked. ``meta["dont_check_integrity"]``
skips the check for one request.

Stats: ``mayadeen/integrity/incomplete/<reason>`` per incomplete answer,
``mayadeen/gave_up/incomplete_response`` per page dropped.
"""

from __future__ import annotations

import logging

from scrapy.exceptions import NotConfigured

from mayadeen.completeness import decode_content, incomplete_reason
from mayadeen.middlewares.retry import Backoff, GaveUp

logger = logging.getLogger(__name__)


class ResponseIntegrityMiddleware:
    def __init__(self, crawler):
        settings = crawler.settings
        if not settings.getbool("MAYADEEN_INTEGRITY_ENABLED", True):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.backoff = Backoff.from_settings(settings)
        self.retry_enabled = settings.getbool("RETRY_ENABLED")
        self.max_size = settings.getint("DOWNLOAD_MAXSIZE")

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request, response):
        if response.status != 200 or request.method == "HEAD" or request.meta.get("dont_check_integrity"):
            return response
        framed = (
            b"Content-Length" in response.headers
            or b"chunked" in response.headers.get(b"Transfer-Encoding", b"").lower()
        )
        reason = self.check(response.body, response.headers.getlist(b"Content-Encoding"), framed)
        if reason is None:
            return response
        self.stats.inc_value(f"mayadeen/integrity/incomplete/{reason}")
        retry = None
        if self.retry_enabled and not request.meta.get("dont_retry"):
            retry = self.backoff.retry(request, f"incomplete_{reason}", self.crawler)
        if retry is not None:
            return retry
        self.stats.inc_value("mayadeen/gave_up/incomplete_response")
        logger.warning(
            "Dropped %s: the response stayed incomplete (%s) after %d attempts",
            request.url,
            reason,
            request.meta.get("retry_times", 0) + 1,
        )
        raise GaveUp(f"incomplete response ({reason}): {request.url}")

    def check(self, body: bytes, content_encoding: list[bytes], framed: bool = False) -> str | None:
        encodings = [e.decode("latin-1") for value in content_encoding for e in value.split(b",")]
        if encodings:
            decoded, reason = decode_content(body, encodings, self.max_size)
            if reason:
                return reason
            if decoded is None:  # an encoding we do not check, or over the size limit
                return None if body else "empty"
            body = decoded
        return incomplete_reason(body, framed)
