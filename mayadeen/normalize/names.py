"""Author and tag names: lists and separated strings -> clean names in order, each once."""

from __future__ import annotations

import re

from mayadeen.normalize.text import clean_text, drop_duplicates, strip_label


def split_keywords(value) -> list[str]:
    """Keywords/tags from ``"a, b,c"`` or a JSON list -> clean names in order, duplicates dropped."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        return []
    return drop_duplicates(name for name in map(clean_text, value) if name)


_NAME_SEPARATORS = re.compile(r"\s*(?:,|;|&|\band\b)\s*", re.I)


def split_names(value) -> list[str]:
    """Author names from a list or a ``"A, B and C"`` string; ``{"name": …}`` objects (JSON-LD)
    accepted."""
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, str):
        value = _NAME_SEPARATORS.split(value)
    if not isinstance(value, (list, tuple)):
        return []
    return drop_duplicates(name for name in map(author_name, value) if name)


def tag_name(value) -> str | None:
    """One tag name as the site names it: ``#Iraq`` (a tag shown as a hashtag) is ``Iraq``."""
    text = clean_text(value)
    if text and text[0] == "#":
        text = text.lstrip("#").lstrip() or None
    return text


def author_name(value) -> str | None:
    """One byline name from a string or a ``{"name": …}`` object (JSON-LD), without a leading "By"."""
    if isinstance(value, dict):
        value = value.get("name")
    return strip_label(value, "By")
