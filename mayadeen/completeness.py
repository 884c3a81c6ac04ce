"""Is a response body whole? Pure checks on bytes, for the integrity middleware and its tests.

A server that dies mid-page, a proxy that cuts a gzip stream, or a CMS that answers ``200`` with
nothing all deliver something that parses: lxml repairs half an HTML page without complaint, and a
record built from it just lacks its tags or its Read Next links. So a page is checked for its end
before anyone extracts from it:

* an empty (or whitespace-only) body is never whole;
* HTML must close its ``</html>`` (anywhere: comments or scripts may follow it), unless the transport
  vouched for its end (a ``Content-Length`` or chunked framing: HTML may omit ``</html>``, and a cut
  framed body fails the download itself); JSON must parse; XML must close its root element;
* a gzip or deflate body must be a complete compressed stream, and what it decodes to is checked
  as above.

Other bodies (robots.txt, plain text) only need to be non-empty.
"""

from __future__ import annotations

import json
import re
import zlib

#: How far from the end the closing tag of a document is looked for (trailing comments, blank lines).
TAIL = 4096
_HEAD = 2048
_XML_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_XML_SKIP = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)", re.S | re.I)
_HTML_END = re.compile(rb"</html", re.I)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def body_kind(body: bytes) -> str:
    """``html``, ``xml``, ``json`` or ``text``, from how the body begins (not from its headers)."""
    head = body[:_HEAD]
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    head = head.lstrip()
    lower = head.lower()
    if lower.startswith((b"<!doctype html", b"<html")) or (lower.startswith(b"<") and b"<html" in lower):
        return "html"
    if lower.startswith(b"<"):
        return "xml"
    if lower[:1] in (b"{", b"["):
        return "json"
    return "text"


def incomplete_reason(body: bytes, framed: bool = False) -> str | None:
    """Why ``body`` is not a whole document (``empty``, ``unclosed_html``, ``broken_json``,
    ``unclosed_xml``), or None when it looks whole. ``framed``: the transport delivered a declared
    length (Content-Length or chunked), so an HTML page without ``</html>`` is whole."""
    if not body.strip():
        return "empty"
    kind = body_kind(body)
    if kind == "html":
        return None if framed or _HTML_END.search(body) else "unclosed_html"
    if kind == "json":
        try:
            json.loads(body)
        except ValueError:
            return "broken_json"
        return None
    if kind == "xml":
        start = 0
        while match := _XML_SKIP.match(body, start):
            if match.end() == start:
                break
            start = match.end()
        root = _XML_ROOT.match(body, start) or _XML_ROOT.search(body, start, start + _HEAD)
        if root and b"</" + root.group(1) not in body[-TAIL:]:
            return "unclosed_xml"
    return None


def decode_content(body: bytes, encodings: list[str], max_size: int = 0) -> tuple[bytes | None, str | None]:
    """``(decoded body, None)``, or ``(None, reason)`` when a gzip/deflate layer is cut or broken.

    Encodings other than gzip and deflate are left alone: ``(None, None)`` means "not checked".
    Decoding stops (unchecked) past ``max_size`` bytes: the compression middleware refuses those.
    """
    for encoding in reversed(encodings):  # the last one listed was applied last
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            continue
        if encoding in ("gzip", "x-gzip"):
            body, reason = _inflate(body, zlib.MAX_WBITS | 16, max_size)
        elif encoding == "deflate":
            decoded, reason = _inflate(body, zlib.MAX_WBITS, max_size)
            if reason == "broken_encoding":  # servers send raw deflate under this name too
                decoded, reason = _inflate(body, -zlib.MAX_WBITS, max_size)
            body = decoded
        else:
            return None, None
        if body is None:
            return None, reason
    return body, None


def _inflate(data: bytes, wbits: int, max_size: int) -> tuple[bytes | None, str | None]:
    inflater = zlib.decompressobj(wbits)
    out, size = [], 0
    try:
        while data:
            chunk = inflater.decompress(data, 1 << 20)
            size += len(chunk)
            if max_size and size > max_size:
                return None, None
            out.append(chunk)
            data = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error:
        return None, "broken_encoding"
    if not inflater.eof:
        return None, "truncated_encoding"
    return b"".join(out), None
