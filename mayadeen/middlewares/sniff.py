"""Trust the body over a wrong Content-Type or charset header.

Scrapy picks the response class and the text encoding from the headers first. A misconfigured server
or CDN that calls an article ``application/octet-stream`` (no ``.text`` at all), ``application/xml``
(parsed as XML: the page falls apart at the first ``&nbsp;``) or UTF-8 ``charset=iso-8859-1``
(every ’ becomes â€™) would make the extraction wrong without any error. So:

* the class follows what the body is (``mayadeen.completeness.body_kind``): HTML gets an
  ``HtmlResponse``, XML an ``XmlResponse``, JSON and text at least a ``TextResponse``;
* when the header names a charset other than UTF-8 but the body is valid UTF-8 (which text in
  another charset practically never is), the body is read as UTF-8.

Sits at 585: after decompression (590), before the meta-refresh middleware (580) and the spider.
Stats: ``mayadeen/sniff/content_type_fixed``, ``mayadeen/sniff/charset_fixed``.
"""

from __future__ import annotations

import codecs
import logging

from scrapy.http import HtmlResponse, JsonResponse, TextResponse, XmlResponse
from scrapy.utils.python import binary_is_text
from w3lib.encoding import http_content_type_encoding

from mayadeen.completeness import body_kind

logger = logging.getLogger(__name__)

_CLASSES = {"html": HtmlResponse, "xml": XmlResponse, "json": JsonResponse}


def _is_utf8(name: str | None) -> bool:
    try:
        return codecs.lookup(name).name == "utf-8" if name else False
    except LookupError:
        return False


class ContentSniffMiddleware:
    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_response(self, request, response):
        body = response.body
        if not body:
            return response
        kind = body_kind(body)
        changes = {}
        wanted = _CLASSES.get(kind, TextResponse)
        if kind in ("html", "xml"):
            if not isinstance(response, wanted):
                changes["cls"] = wanted
        elif not isinstance(response, TextResponse) and binary_is_text(body[:5000]):
            changes["cls"] = wanted
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        declared = http_content_type_encoding(content_type)
        if declared and not _is_utf8(declared) and (isinstance(response, TextResponse) or changes):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                changes["encoding"] = "utf-8"
        if not changes:
            return response
        if "cls" in changes:
            self.stats.inc_value("mayadeen/sniff/content_type_fixed")
        if "encoding" in changes:
            self.stats.inc_value("mayadeen/sniff/charset_fixed")
        logger.debug(
            "%s: read as %s (headers said %r)",
            response.url,
            ", ".join(f"{k}={getattr(v, '__name__', v)}" for k, v in changes.items()),
            content_type,
        )
        return response.replace(**changes)
