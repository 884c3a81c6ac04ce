"""Link cards in a block of teasers (e.g. "Read Next"): each card's href and title."""

from __future__ import annotations

from mayadeen.extract.dom import first_with_class, nearest_ancestor_with_class
from mayadeen.normalize.text import element_text


def card_links(block, relation: str, card_class: str, title_class: str, heading_class: str) -> list[dict]:
    """``{url, title, relation}`` per distinct href in ``block``, in page order; links inside the
    block's heading (``heading_class``, e.g. an "All" link) are no cards."""
    links, seen = [], set()
    for anchor in block.iter("a"):
        href = anchor.get("href")
        if not href or href in seen or nearest_ancestor_with_class(anchor, heading_class, stop=block) is not None:
            continue
        seen.add(href)
        links.append(
            {"url": href, "title": element_text(_card_title(anchor, card_class, title_class)), "relation": relation}
        )
    return links


def _card_title(anchor, card_class: str, title_class: str):
    """The card's title element (inside the link or elsewhere in its card), else the link itself."""
    for scope in (anchor, nearest_ancestor_with_class(anchor, card_class)):
        if scope is not None:
            title = first_with_class(scope, title_class)
            if title is not None:
                return title
    return anchor
