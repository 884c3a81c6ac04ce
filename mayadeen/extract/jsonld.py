"""JSON-LD: every node of the page's ``application/ld+json`` scripts, and the article among them.

Scripts may hold one object, a top-level array or a ``@graph``; broken JSON is repaired where a CMS
typically breaks it, else that script is skipped.
"""

from __future__ import annotations

from collections.abc import Callable

from mayadeen.normalize.hrefs import public_url
from mayadeen.normalize.lenient_json import parse_json_lenient

# Item types besides ``*Article`` (NewsArticle, OpinionNewsArticle, ...).
ARTICLE_TYPES = frozenset({"blogposting", "liveblogposting"})
_MAX_DEPTH = 4


def read_jsonld(script_elements) -> list[dict]:
    """Every typed node of the JSON-LD scripts, in page order: objects, array members, ``@graph`` members."""
    nodes: list[dict] = []

    def collect(data, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        if isinstance(data, list):
            for member in data:
                collect(member, depth + 1)
        elif isinstance(data, dict):
            if "@type" in data:
                nodes.append(data)
            if isinstance(data.get("@graph"), (list, dict)):
                collect(data["@graph"], depth + 1)

    for element in script_elements:
        if "ld+json" in (element.get("type") or "").lower() and element.text:
            collect(parse_json_lenient(element.text), 0)
    return nodes


def node_types(node: dict) -> set[str]:
    """``@type`` names, lowercased, without a schema.org prefix."""
    raw = node.get("@type")
    names = raw if isinstance(raw, list) else [raw]
    return {t.rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for t in names if isinstance(t, str)}


def find_node(nodes: list[dict], wanted: Callable[[set[str]], bool]) -> dict:
    """The first node whose types satisfy ``wanted``; ``{}`` when none does."""
    return next((node for node in nodes if wanted(node_types(node))), {})


def find_article(nodes: list[dict], own_urls: Callable[[], set[str]] = set) -> dict:
    """The item's node: the first ``*Article`` or blog posting whose ``url`` or ``mainEntityOfPage``,
    made canonical, is one of ``own_urls()`` (the page's); else the first. A page may describe another
    story too (a teaser, a widget), ahead of its own; with one article node no URL is compared."""
    articles = [node for node in nodes if any(t.endswith("article") or t in ARTICLE_TYPES for t in node_types(node))]
    if len(articles) > 1 and (mine := own_urls()):
        for node in articles:
            entity = node.get("mainEntityOfPage")
            named = (node.get("url"), entity.get("@id") if isinstance(entity, dict) else entity)
            if any(public_url(url) in mine for url in named):
                return node
    return articles[0] if articles else {}


def find_video(nodes: list[dict], article: dict) -> dict:
    """The first ``VideoObject`` node, else the article's nested ``video`` object."""
    nested = first(article.get("video"))
    found = find_node(nodes, lambda types: "videoobject" in types)
    return found or (nested if isinstance(nested, dict) else {})


def first(value):
    """The first member of a JSON list, the value itself otherwise."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def image_candidates(value) -> list:
    """An ``image`` value (URL, ``ImageObject`` or a list of them) as ``{url, caption, credit}``
    candidates (bare URLs kept as strings)."""
    candidates = []
    for image in value if isinstance(value, list) else [value]:
        if isinstance(image, dict):
            candidates.append(
                {
                    "url": image.get("url") or image.get("contentUrl"),
                    "caption": image.get("caption"),
                    "credit": image.get("creditText") or image.get("credit"),
                }
            )
        elif image:
            candidates.append(image)
    return candidates
