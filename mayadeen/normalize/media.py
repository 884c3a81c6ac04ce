"""Image candidates -> ``{url, caption, credit}`` records."""

from __future__ import annotations

from mayadeen.normalize.credits import split_credit
from mayadeen.normalize.hrefs import image_url
from mayadeen.urls import DEFAULT_TRACKING_PARAMS, PUBLIC_URL


def normalize_image(value, base: str = PUBLIC_URL, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> dict | None:
    """``{url, caption, credit}`` from a candidate dict (or a bare URL); None without a usable URL.

    ``url`` may be a list of sources in preference order (lazy ``data-src``, ``src``, ``<noscript>``
    fallback): the first that is a real image URL wins.
    """
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, dict):
        return None
    sources = value.get("url")
    sources = sources if isinstance(sources, (list, tuple)) else [sources]
    url = next((u for u in (image_url(s, base, tracking) for s in sources) if u), None)
    if not url:
        return None
    caption, credit = split_credit(value.get("caption"), value.get("credit"))
    return {"url": url, "caption": caption, "credit": credit}


def normalize_images(value, base: str = PUBLIC_URL, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> list[dict]:
    """A list of image candidates -> the usable ones, normalised, in order."""
    if not isinstance(value, (list, tuple)):
        return []
    return [img for img in (normalize_image(v, base, tracking) for v in value) if img]
