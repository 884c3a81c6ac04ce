"""Related-link candidates -> ``{url, title, relation}`` records."""

from __future__ import annotations

from mayadeen.normalize.hrefs import public_url
from mayadeen.normalize.text import clean_text
from mayadeen.urls import DEFAULT_TRACKING_PARAMS, PUBLIC_URL

RELATIONS = ("read_more", "related_news", "read_next")


def normalize_link(value, base: str = PUBLIC_URL, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> dict | None:
    """``{url, title, relation}``: href made absolute (not redirect-resolved), title as shown."""
    if not isinstance(value, dict) or value.get("relation") not in RELATIONS:
        return None
    url = public_url(value.get("url"), base, tracking)
    if not url:
        return None
    return {"url": url, "title": clean_text(value.get("title")) or "", "relation": value["relation"]}


def normalize_links(value, base: str = PUBLIC_URL, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> list[dict]:
    if not isinstance(value, (list, tuple)):
        return []
    return [link for link in (normalize_link(v, base, tracking) for v in value) if link]
