"""Discovery files: sitemap indexes and urlsets (monthly and Google News), RSS.

Only reading lives here: which URLs a file lists (canonical, without the ``tracking`` query
parameters each reader is given) and the dates it gives for them, as written. What to fetch is the
spiders' decision (``mayadeen.spiders.sitemap``), whether a stored item is stale is
``mayadeen.store.freshness``'s.

XML is parsed without entity expansion, DTD loading or network access: sitemaps by Scrapy's ``Sitemap``
(lxml ``iterparse`` with ``resolve_entities=False``), RSS and the news dates by ``_xml_root`` (the same
lxml options); values are read as element text, which an entity reference cuts short.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice

from lxml import etree
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap

from mayadeen.urls import DEFAULT_TRACKING_PARAMS, canonical_url

#: ``/sitemaps/all/sitemap-2025-8.xml``: a monthly sitemap, month not zero-padded.
MONTHLY_SITEMAP = re.compile(r"sitemap-(\d{4})-(\d{1,2})\.xml(?:\.gz)?$")
_NEWS_NS = b"google.com/schemas/sitemap-news"
GZIP_MAGIC = b"\x1f\x8b\x08"


@dataclass(frozen=True)
class Entry:
    """One URL a discovery file lists, with the dates it gives (strings as written, or None).

    ``modified`` is a sitemap ``<lastmod>``; ``published`` a news sitemap's ``news:publication_date`` or
    an RSS ``pubDate``. An item's modification time is never earlier than its publication time.
    """

    url: str
    modified: str | None = None
    published: str | None = None


@dataclass(frozen=True)
class SitemapFile:
    """``kind`` is ``sitemapindex``, ``urlset``, or what else the root element was (then no entries)."""

    kind: str
    entries: tuple[Entry, ...]
    capped: bool = False
    """Whether the file lists more URLs than the reader was allowed to take (the rest were not read)."""


def sitemap_month(url: str) -> tuple[int, int] | None:
    """``(2025, 8)`` for a monthly sitemap URL, else None."""
    m = MONTHLY_SITEMAP.search(url)
    if not m:
        return None
    year, month = int(m.group(1)), int(m.group(2))
    return (year, month) if 1 <= month <= 12 else None


def sitemap_body(body: bytes, max_size: int = 0) -> bytes:
    """The XML of a sitemap response, gunzipped when it is a ``.xml.gz`` (at most ``max_size`` bytes)."""
    if body[:3] == GZIP_MAGIC:
        return gunzip(body, max_size=max_size)
    return body


def read_sitemap(
    body: bytes, base_url: str, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS, limit: int = 0
) -> SitemapFile:
    """The entries of a sitemap index or urlset. Relative locs are resolved against ``base_url``.

    ``limit``: at most this many entries are read (0: all); ``capped`` says when there were more.
    """
    try:
        sitemap = Sitemap(body)
    except (etree.XMLSyntaxError, StopIteration, ValueError):
        return SitemapFile("invalid", ())
    if sitemap.type not in ("sitemapindex", "urlset"):
        return SitemapFile(sitemap.type or "invalid", ())
    news = sitemap.type == "urlset" and _NEWS_NS in body[:4096]
    published = _news_dates(body, base_url, tracking, limit) if news else {}
    raws = list(islice(sitemap, limit + 1 if limit else None))
    capped = bool(limit) and len(raws) > limit
    entries = []
    for raw in raws[:limit] if capped else raws:
        url = canonical_url(raw.get("loc", ""), base_url, tracking)
        if url:
            entries.append(Entry(url, raw.get("lastmod") or None, published.get(url)))
    return SitemapFile(sitemap.type, tuple(entries), capped)


def _xml_root(body: bytes):
    """The root element, parsed without entity expansion, DTD loading or network access (None if not XML)."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        return etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _text(parent, tag: str) -> str:
    """The text of ``parent``'s first child named ``tag`` (any namespace); an entity reference ends it."""
    el = parent.find(f"{{*}}{tag}")
    return (el.text or "").strip() if el is not None else ""


def _news_dates(body: bytes, base_url: str, tracking: tuple[str, ...], limit: int = 0) -> dict[str, str]:
    """url -> ``news:publication_date`` of a Google News sitemap (at most 1,000 URLs by its rules), for
    its first ``limit`` URLs (0: all)."""
    root = _xml_root(body)
    out = {}
    for url_el in islice(root.iter("{*}url"), limit or None) if root is not None else ():
        news = url_el.find("{*}news")
        url = canonical_url(_text(url_el, "loc"), base_url, tracking)
        date = _text(news, "publication_date") if news is not None else ""
        if url and date:
            out[url] = date
    return out


def read_rss(body: bytes, base_url: str, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> list[Entry]:
    """The items of an RSS 2.0 feed in feed order: ``link`` (else a permalink ``guid``) and ``pubDate``."""
    root = _xml_root(body)
    out: list[Entry] = []
    for item in root.iter("{*}item") if root is not None else ():
        href = _text(item, "link")
        guid = item.find("{*}guid")
        if not href and guid is not None and guid.get("isPermaLink", "true") != "false":
            href = (guid.text or "").strip()
        url = canonical_url(href, base_url, tracking)
        if url:
            out.append(Entry(url, published=_text(item, "pubDate") or None))
    return out
