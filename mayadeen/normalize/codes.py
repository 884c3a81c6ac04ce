"""Identifiers and codes: post ids, item kinds, language tags, section groups."""

from __future__ import annotations

import re

from mayadeen.normalize.text import clean_text

_POST_ID = re.compile(r"[A-Za-z_-]*(\d{1,19})")
_LANGUAGE_TAG = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")
_NOT_LETTER = re.compile(r"[^a-z]")
_URL_KEY = re.compile(r"[a-z0-9-]+")


def to_post_id(value) -> str | None:
    """CMS post id as a string of digits: ``1689403``, ``"1689403"`` or ``"article-1689403"``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    text = clean_text(value)
    if not text:
        return None
    m = _POST_ID.fullmatch(text)
    return m.group(1) if m and m.group(1).strip("0") else None  # 0 is no post's id (an unset field)


KINDS = ("article", "video", "infograph", "gallery")
_KIND_ALIASES = {
    "video.other": "video",
    "video.movie": "video",
    "infographic": "infograph",
    "newsarticle": "article",
    "photogallery": "gallery",
    "in-pictures": "gallery",
}


def to_kind(value) -> str | None:
    """``article``/``video``/``infograph``/``gallery`` from a CMS type or an ``og:type``."""
    text = clean_text(value)
    if not text:
        return None
    text = text.lower()
    text = _KIND_ALIASES.get(text, text)
    return text if text in KINDS else None


def to_language(value) -> str | None:
    """Primary language subtag: ``"en"``, ``"en-US"`` and ``"en_US"`` all give ``"en"``."""
    text = clean_text(value)
    if not text:
        return None
    m = _LANGUAGE_TAG.fullmatch(text)
    return m.group(1).lower() if m else None


#: The site's section groups, as records name them (the schema's enum).
SECTION_GROUPS = ("News", "Articles", "Videos", "Infographs", "In Pictures")
_GROUP_BY_KEY = {_NOT_LETTER.sub("", g.lower()): g for g in SECTION_GROUPS}


def to_section_group(value) -> str | None:
    """One of SECTION_GROUPS, matched regardless of case and spacing (``in-pictures`` too); else None."""
    text = clean_text(value)
    return _GROUP_BY_KEY.get(_NOT_LETTER.sub("", text.lower())) if text else None


def to_section_name(value) -> str | None:
    """A section's display name (``Politics``, ``Arts & Culture``); a URL key written in its place
    (``politics``, ``arts-culture``: a layer that took the key for the name) is none, so the next layer,
    or the menu's label, names the section."""
    text = clean_text(value)
    return None if not text or _URL_KEY.fullmatch(text) else text


def title_from_key(value) -> str | None:
    """Last-resort display name from a URL key: ``in-pictures`` -> ``In Pictures``."""
    text = clean_text(value)
    if not text or not _URL_KEY.fullmatch(text):
        return None
    return " ".join(w.capitalize() for w in text.split("-") if w) or None
