"""One identity per item: the CMS ``article_id`` is the key, the canonical URL is the address.

An item page names its own address (``<link rel=canonical>``, ``og:url``…); the record takes it only
when it is an item URL of the same kind as the page fetched. A canonical pointing at the home page, a
listing or another kind of item would merge distinct items into one, so the page's own (canonical)
URL is used instead. Every other URL that led to the item — the one discovery listed, the one a 301
ended at — is an alias: the store keeps them, so freshness and dedupe know the item under each.
"""

from __future__ import annotations

from dataclasses import dataclass

from mayadeen.urls import canonical_url, item_kind


@dataclass(frozen=True)
class Origin:
    """How a fetched item was found: the URLs it was requested and answered under, and the newest date
    discovery showed for it (a sitemap ``<lastmod>``, a feed's publication date; None for a link)."""

    urls: frozenset[str]
    listed: str | None = None


def accepted_url(record_url: str | None, fetched_url: str) -> str:
    """The address of the item fetched at ``fetched_url`` whose page names ``record_url``."""
    fetched = canonical_url(fetched_url) or fetched_url
    named = canonical_url(record_url) if record_url else None
    if named and item_kind(named) is not None and item_kind(named) == item_kind(fetched):
        return named
    return fetched


def first_url(request) -> str:
    """The URL a request (or a response) was first made for, before any redirect."""
    return (request.meta.get("redirect_urls") or [request.url])[0]


def requested_url(response) -> str:
    """The URL a response was first requested under, before any redirect (canonical)."""
    first = first_url(response)
    return canonical_url(first) or first
