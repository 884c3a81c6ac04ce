"""Photo credits: ``"(AP)"`` -> ``"AP"``, and a caption's trailing credit split off."""

from __future__ import annotations

import re

from mayadeen.normalize.text import clean_text, collapse_whitespace

_TRAILING_CREDIT = re.compile(r"\s*\(([^()]{1,80})\)\s*$")


def clean_credit(value) -> str | None:
    """``"(AP)"`` -> ``"AP"``."""
    text = clean_text(value)
    if not text:
        return None
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return collapse_whitespace(text)


def split_credit(caption, credit=None) -> tuple[str | None, str | None]:
    """Caption text and its trailing ``(AP)``-style credit, separated: ``("… Palace.", "AP")``.

    An explicit credit (gallery span, JSON-LD ``creditText``) wins; a trailing parenthesis that
    repeats it is still cut from the caption.
    """
    cap, cred = clean_text(caption), clean_credit(credit)
    if cap:
        m = _TRAILING_CREDIT.search(cap)
        if m and (cred is None or clean_credit(m.group(1)) == cred):
            cred = cred or clean_credit(m.group(1))
            cap = cap[: m.start()].strip() or None
    return cap, cred
