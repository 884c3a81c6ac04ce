"""``<head>`` metadata: meta tags (OpenGraph, Twitter, article:*, plain names) and the canonical link."""

from __future__ import annotations


class MetaTags(dict):
    """``name``/``property``/``itemprop`` (lowercased) -> contents in page order."""

    def first(self, key: str) -> str | None:
        values = self.get(key)
        return values[0] if values else None


def read_meta(meta_elements) -> MetaTags:
    """The page's meta tags from its ``<meta>`` elements; tags without a content or a key are skipped."""
    meta = MetaTags()
    for element in meta_elements:
        content = element.get("content")
        if content is not None:
            key = element.get("property") or element.get("name") or element.get("itemprop")
            if key:
                key = key.strip().lower()
                if key in meta:  # not setdefault: it builds a list for every tag
                    meta[key].append(content)
                else:
                    meta[key] = [content]
    return meta


def canonical_href(link_elements) -> str | None:
    """The href of the first ``<link rel="canonical">``."""
    for element in link_elements:
        if "canonical" in (element.get("rel") or "").lower().split():
            return element.get("href")
    return None
