"""``<head>`` metadata (meta tags: OpenGraph, Twitter, article:*, plain names; the canonical link), read in
the one walk over the page that also gathers the other elements a page parser looks up by tag."""

from __future__ import annotations

from typing import NamedTuple


class MetaTags(dict):
    """``name``/``property``/``itemprop`` (lowercased) -> contents in page order."""

    def first(self, key: str) -> str | None:
        values = self.get(key)
        return values[0] if values else None


class PageTags(NamedTuple):
    meta: MetaTags  # tags without a content or a key are skipped
    canonical: str | None  # the href of the first ``<link rel="canonical">``
    by_tag: dict[str, list]  # the other elements asked for, by tag, in page order


def read_page_tags(root, tags: tuple[str, ...]) -> PageTags:
    """The meta tags, the canonical href and the elements with these ``tags`` names, from one walk in C
    (``<meta>`` and ``<link>`` are read as they come, not gathered and walked again)."""
    meta, canonical, found = MetaTags(), None, False
    by_tag: dict[str, list] = {tag: [] for tag in tags}
    if root is None:
        return PageTags(meta, canonical, by_tag)
    for element in root.iter("meta", "link", *tags):
        tag = element.tag
        if tag == "meta":
            content = element.get("content")
            if content is not None:
                key = element.get("property") or element.get("name") or element.get("itemprop")
                if key:
                    key = key.strip().lower()
                    if key in meta:  # not setdefault: it builds a list for every tag
                        meta[key].append(content)
                    else:
                        meta[key] = [content]
        elif tag == "link":
            if not found and "canonical" in (element.get("rel") or "").lower().split():
                canonical, found = element.get("href"), True
        else:
            by_tag[tag].append(element)
    return PageTags(meta, canonical, by_tag)
