"""What a URL of the site is, and its one canonical form.

Every URL the crawler stores or requests goes through ``canonical_url`` first, so that absolute and
root-relative hrefs, tracking parameters, fragments and trailing slashes of the same page are one URL
(and Scrapy's duplicate filter sees one request).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import SplitResult, quote, urljoin, urlsplit, urlunsplit

from w3lib.url import url_query_cleaner

PUBLIC_URL = "https://english.almayadeen.net"
PUBLIC_HOST = urlsplit(PUBLIC_URL).hostname
SITE_HOSTS = frozenset({PUBLIC_HOST, "www." + PUBLIC_HOST})
DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_TRACKING_PARAMS = ("fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "ref", "s_src")

_SLUG = r"[a-z0-9][a-z0-9-]*"

# kind of item page -> path pattern. Sections are matched by shape, not by a list, so a section the
# site adds later is crawled too.
ITEM_PATTERNS = {
    "article": re.compile(rf"^/(?:news|articles)/{_SLUG}/{_SLUG}$"),
    "video": re.compile(rf"^/videos/{_SLUG}/{_SLUG}$"),
    "infograph": re.compile(rf"^/infographs/{_SLUG}$"),
    "gallery": re.compile(rf"^/in-pictures/{_SLUG}$"),
}
LISTING_PATTERN = re.compile(rf"^/(?:(?:news|articles|videos)(?:/{_SLUG})?|infographs|in-pictures)$")
# Listings whose cards are filled in by a script from /api/listing (need a browser or the API).
CLIENT_SIDE_LISTING = re.compile(rf"^/(?:videos(?:/{_SLUG})?|in-pictures)$")


def _is_tracking(name: str, tracking: tuple[str, ...]) -> bool:
    return name.lower().startswith("utm_") or name.lower() in tracking


def tracking_params(settings) -> tuple[str, ...]:
    """``MAYADEEN_TRACKING_PARAMS`` of ``settings`` (a list or comma-separated names), lower-cased."""
    names = settings.getlist("MAYADEEN_TRACKING_PARAMS", list(DEFAULT_TRACKING_PARAMS))
    return tuple(name.strip().lower() for name in names if name.strip())


def canonical_url(href: str, base: str = PUBLIC_URL, tracking=DEFAULT_TRACKING_PARAMS) -> str | None:
    """``href`` resolved against ``base``, with tracking parameters, fragment and trailing slash removed.

    URLs on the site (``is_on_site``) are forced to ``https`` and the bare public host. The path of a page of the site
    (an item or a listing) is lowercased: the site writes every page URL in lowercase and its server
    ignores case, so ``/News/Politics/Slug`` is ``/news/politics/slug``; other paths (images, scripts,
    the listing API) keep their case. Returns None for what is not an http(s) URL (``mailto:``,
    ``javascript:``, ``data:``…).
    """
    return _canonical_url(href, base, tuple(tracking))


# A crawl canonicalises the same URLs again and again: the menus and related links of every page, each
# item's own URL at every step from its listing to its record.
@lru_cache(maxsize=8192)
def _canonical_url(href: str, base: str, tracking: tuple[str, ...]) -> str | None:
    href = (href or "").strip()
    if not href:
        return None
    if " " in href or not href.isprintable():  # every whitespace character but the space is unprintable
        href = _encode_whitespace(href)
    absolute = urljoin(base, href)
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if _is_site_origin(parts):
        scheme, netloc = "https", PUBLIC_HOST
    else:
        scheme, netloc = parts.scheme, parts.netloc.lower()
    path = re.sub(r"/{2,}", "/", parts.path) or "/"
    if "%" in path:  # %2D is "-": an unreserved character means the same escaped or not (RFC 3986, 6.2.2.2)
        path = _ESCAPE.sub(_unescape_unreserved, path)
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    if netloc == PUBLIC_HOST and _is_page_path(path.lower()):
        path = path.lower()
    query = parts.query
    if query:
        names = {kv.split("=", 1)[0] for kv in query.split("&") if kv}
        drop = [n for n in names if _is_tracking(n, tuple(tracking))]
        if drop:
            query = urlsplit(url_query_cleaner("?" + query, drop, remove=True)).query
    return urlunsplit((scheme, netloc, path, query, ""))


_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _unescape_unreserved(match: re.Match) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else match.group(0).upper()


def _encode_whitespace(href: str) -> str:
    """``href`` as a browser requests it: tabs and newlines dropped, other whitespace percent-encoded
    (``a (1).jpg`` -> ``a%20(1).jpg``), so that a URL never holds a space (the record schema's rule)."""
    return "".join("" if char in "\t\n\r" else quote(char, safe="") if char.isspace() else char for char in href)


def _is_page_path(path: str) -> bool:
    return LISTING_PATTERN.match(path) is not None or any(p.match(path) for p in ITEM_PATTERNS.values())


def is_on_site(url: str) -> bool:
    """Whether ``url`` is on the public site: its origin (scheme, host and port) is the site's.

    The site is ``https://english.almayadeen.net`` and, as its pages link both ways, its ``http://``
    twin and the ``www.`` host; always on the scheme's default port, never with credentials. The
    same host on another port is another server (``http://english.almayadeen.net:19999/`` is not the
    site). A mirror (``mayadeen.mirror``) answers under the public origin, so this holds there too.
    """
    try:
        return _is_site_origin(urlsplit(url))
    except (ValueError, TypeError):  # "http://[::1" is rejected by urlsplit
        return False


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, its default port made explicit; None for anything else.

    Two URLs are of one origin when these are equal: the browser keeps a page to its own that way.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, TypeError):
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _is_site_origin(parts: SplitResult) -> bool:
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or (parts.hostname or "") not in SITE_HOSTS or "@" in parts.netloc:
        return False
    try:
        port = parts.port
    except ValueError:  # a port out of range or not a number
        return False
    return port in (None, DEFAULT_PORTS[scheme])


def item_kind(url: str) -> str | None:
    """``article``/``video``/``infograph``/``gallery`` for an item page URL on the site, else None."""
    if not is_on_site(url):
        return None
    path = urlsplit(url).path
    for kind, pattern in ITEM_PATTERNS.items():
        if pattern.match(path):
            return kind
    return None


def listing_key(url: str) -> str | None:
    """``news/politics``-style key of a listing URL on the site (``news`` for a group), else None."""
    if not is_on_site(url):
        return None
    path = urlsplit(url).path
    return path.strip("/") if LISTING_PATTERN.match(path) else None


def is_client_side_listing(url: str) -> bool:
    return is_on_site(url) and bool(CLIENT_SIDE_LISTING.match(urlsplit(url).path))
