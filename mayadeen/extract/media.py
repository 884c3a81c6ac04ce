"""Images and videos in the visible page: figures, gallery slides, players."""

from __future__ import annotations

import re

from lxml import etree

from mayadeen.normalize.media import normalize_image
from mayadeen.normalize.text import element_text

# Lazy-loading attributes first; ``src`` is often a placeholder (the normaliser refuses those).
_SOURCE_ATTRIBUTES = ("data-src", "data-lazy-src", "data-original", "src", "data-srcset", "srcset")
_SLIDE_COUNTER = re.compile(r"^\d+\s*/\s*\d+\s*")  # "1/6" before a gallery caption


def image_sources(container) -> list:
    """Candidate sources of the images in ``container``, best first; ``<noscript>`` fallbacks last."""
    visible, fallback = [], []
    for img in container.iter("img"):
        if next(img.iterancestors("noscript"), None) is not None:
            fallback.append(img.get("src"))
        else:
            visible += [img.get(a) for a in _SOURCE_ATTRIBUTES if img.get(a)]
    return visible + fallback


def figure_image(container) -> dict:
    """``{url: [sources], caption, credit}`` of a figure or gallery slide.

    Caption and credit come from elements whose class names them; else the caption is the
    ``<figcaption>`` without a slide counter.
    """
    caption = credit = figcaption = None
    for el in container.iter(etree.Element):  # elements only, filtered in C
        cls = el.get("class") or ""
        if caption is None and "caption" in cls and el.tag not in ("img", "figure"):
            caption = element_text(el)
        elif credit is None and "credit" in cls:
            credit = element_text(el)
        if figcaption is None and el.tag == "figcaption":
            figcaption = el
    if caption is None and figcaption is not None:
        text = element_text(figcaption)
        caption = _SLIDE_COUNTER.sub("", text) if text else None
    return {"url": image_sources(container), "caption": caption, "credit": credit}


def with_image_facts(figure: dict, ld_images: list, base: str, tracking: tuple[str, ...]) -> dict:
    """A figure or gallery slide without its caption or credit takes them from the JSON-LD image of the
    same URL (a caption ending in ``(…)`` holds its credit). Raw values: the loader normalises them."""
    caption, credit = figure["caption"], figure["credit"]
    if caption and (credit or caption.endswith(")")) or not ld_images:
        return figure
    url = (normalize_image(figure, base, tracking) or {}).get("url")
    for candidate in ld_images:
        if url and isinstance(candidate, dict) and url == (normalize_image(candidate, base, tracking) or {}).get("url"):
            return {**figure, "caption": caption or candidate["caption"], "credit": credit or candidate["credit"]}
    return figure


def player_poster(player) -> dict:
    """The poster of a video player as an image candidate (no caption or credit)."""
    posters = [video.get("poster") for video in player.iter("video")]
    return {"url": posters + image_sources(player), "caption": None, "credit": None}


def player_video(player) -> dict:
    """``{url, duration_seconds}`` candidate of a player: its first ``<source>``/``<video>`` src,
    else its iframe's, and its ``data-duration``."""
    sources = [s.get("src") for s in player.iter("source", "video") if s.get("src")]
    frames = [f.get("src") or f.get("data-src") for f in player.iter("iframe")]
    url = next((u for u in sources + frames if u), None)
    return {"url": url, "duration_seconds": player.get("data-duration")}
