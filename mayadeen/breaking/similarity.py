"""How alike two texts are, for the two rules of the breaking-news table.

* **Identity key** (``text_key``): a flash is the same flash when its key and its time are the same —
  so a change of case, punctuation, quotes, accents or spacing alone does not make a new flash.
* **Edit** (``is_edit``, ``edit_likeness``): an item whose time is that of a stored flash and whose key is at least
  ``EDIT_SIMILARITY`` alike (character-level, ``difflib`` ratio) is that flash with its text corrected
  (a typo, a number, a word added), not a new flash.
* **Headline match** (``headline_similarity``): the Dice coefficient of the content words (lowercase,
  stop words dropped, a plural ``s`` cut) of a flash and an article headline, 0..1.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

#: Least character-level likeness (0..1) of two texts at the same time for one to be an edit of
#: the other. Two different flashes that share a long prefix ("The Ministry of Health in Gaza: …")
#: stay well below it; a corrected word or number stays above.
EDIT_SIMILARITY = 0.85

_APOSTROPHES = re.compile(r"['\u2019\u2018`\u00b4]")
_NOT_WORD = re.compile(r"[^0-9a-z]+")

STOP_WORDS = frozenset(
    """
a an the and or but nor of in on at to for from by with without into onto over under about after
before since until as than then that this these those there here is are was were be been being am
has have had do does did will would shall should can could may might must it its he she they them
their his her him we our us you your i me my not no so if while who whom whose which what when
where why how all any some more most other such only own same very also just up out off again
""".split()
)


def text_key(text: str) -> str:
    """Lowercase ASCII words and numbers joined by single spaces: ``"Israel's" war`` -> ``israels war``."""
    folded = unicodedata.normalize("NFKD", text or "")
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return " ".join(_NOT_WORD.sub(" ", _APOSTROPHES.sub("", folded)).split())


#: Characters of a key compared for likeness: a flash is a line (the site's run to about 300); the
#: comparison costs the product of the two lengths, so a page of 80 kB "flashes" must not set it.
LIKENESS_CHARS = 500


def edit_likeness(key: str, other_key: str) -> float:
    """Character-level likeness of two identity keys, 0..1 (``difflib`` ratio over their first
    ``LIKENESS_CHARS``; 0 when one is empty)."""
    if not key or not other_key:
        return 0.0
    return SequenceMatcher(None, key[:LIKENESS_CHARS], other_key[:LIKENESS_CHARS], autojunk=False).ratio()


def is_edit(key: str, other_key: str) -> bool:
    """Whether two identity keys are close enough to be one flash before and after an edit."""
    return edit_likeness(key, other_key) >= EDIT_SIMILARITY


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content_words(text: str) -> frozenset[str]:
    """The words that carry the meaning: no stop words, plurals folded (``sanctions`` -> ``sanction``)."""
    return frozenset(_stem(w) for w in text_key(text).split() if w not in STOP_WORDS)


def headline_similarity(flash_text: str, headline: str) -> float:
    """Dice coefficient of the content words of a flash and a headline (0: nothing shared, 1: same)."""
    a, b = content_words(flash_text), content_words(headline)
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))
