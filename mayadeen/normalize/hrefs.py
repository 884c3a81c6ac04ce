"""Hrefs -> absolute canonical URLs: any link, the record's own URL, image sources."""

from __future__ import annotations

import re
from functools import lru_cache

from mayadeen.normalize.text import clean_text
from mayadeen.urls import DEFAULT_TRACKING_PARAMS, PUBLIC_URL, canonical_url, is_on_site


@lru_cache(maxsize=16384)
def _canonical_or_none(href: str, base: str, tracking: tuple[str, ...]) -> str | None:
    try:
        return canonical_url(href, base, tracking)
    except (ValueError, TypeError):  # e.g. "http://[::1" is rejected by urlsplit
        return None


def public_url(value, base: str = PUBLIC_URL, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> str | None:
    """An href made absolute against ``base`` and canonical (``mayadeen.urls.canonical_url``), without
    the ``tracking`` query parameters (and ``utm_*``).

    Memoised: the same links (menus, read-next cards, related boxes) recur on every page. The
    cache key keeps only the part of ``base`` that can change the result.
    """
    text = clean_text(value)
    if not text or len(text) > 4096:
        return None
    base = base or PUBLIC_URL
    if text.startswith(("https://", "http://")):
        base = PUBLIC_URL
    elif text.startswith("/") and not text.startswith("//"):
        base = "/".join(base.split("/", 3)[:3]) + "/"  # a root-relative href only needs the origin
    return _canonical_or_none(text, base, tuple(tracking))


def item_url(value, base: str = PUBLIC_URL, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> str | None:
    """The record URL: canonical, on the public site, and without any query (items have none)."""
    url = public_url(value, base, tracking)
    if not url or not is_on_site(url):
        return None
    return url.split("?", 1)[0]


_SRCSET_DESCRIPTOR = re.compile(r"\s\d+(?:\.\d+)?[wx](?:\s*,|\s*$)")


def image_url(value, base: str = PUBLIC_URL, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> str | None:
    """An image source made absolute; a ``srcset`` gives its first URL; lazy-loading placeholders
    (data: URIs, the site's placeholder files) are refused so the real ``data-src`` can win."""
    text = clean_text(value)
    if not text:
        return None
    if _SRCSET_DESCRIPTOR.search(text):
        text = text.split()[0]
    if "/placeholder" in text.lower().split("?", 1)[0]:
        return None
    return public_url(text, base, tracking)
