"""The JSON-LD ``BreadcrumbList``: the trail's names between Home and the item itself."""

from __future__ import annotations

from urllib.parse import urlsplit

from mayadeen.extract.jsonld import find_node
from mayadeen.normalize.counts import to_int
from mayadeen.normalize.hrefs import public_url
from mayadeen.normalize.text import clean_text


def breadcrumb_names(nodes: list[dict], page_url: str, item_url: str) -> list[str]:
    """Names of the trail without Home and without the item: ``[group, section]``, ``[group]`` or ``[]``.

    Entries are ordered by ``position``. An entry pointing at the site root or at ``item_url`` is
    left out; without URLs, the first entry is taken for Home and the last (of three or more) for
    the item.
    """
    trail = find_node(nodes, lambda types: "breadcrumblist" in types).get("itemListElement")
    if not isinstance(trail, list):
        return []
    entries = sorted((e for e in trail if isinstance(e, dict)), key=lambda e: to_int(e.get("position")) or 0)
    names = []
    for i, entry in enumerate(entries):
        target = entry.get("item")
        name = entry.get("name") or (target.get("name") if isinstance(target, dict) else None)
        href = target.get("@id") if isinstance(target, dict) else target
        where = public_url(href, page_url) if href else None
        if where is not None:
            if urlsplit(where).path in ("", "/") or where.split("?", 1)[0] == item_url:
                continue
        elif i == 0 or (i == len(entries) - 1 and len(entries) > 2):
            continue
        name = clean_text(name)
        if name:
            names.append(name)
    return names
