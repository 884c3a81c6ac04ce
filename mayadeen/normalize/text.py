"""Text as a reader sees it: cleaning, visible text of an element, labels, body blocks."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from lxml import etree

_MAX_TEXT = 1_000_000  # longer values are junk, not text; refusing them keeps regexes cheap
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Markup that reached a text value (escaped in the page, or from JSON): script/style blocks go with
# their content, comments and tags without. Bounded repeats keep the scan linear on junk.
_MARKUP = re.compile(r"<(script|style|noscript|template)\b[^>]{0,1000}>.{0,20000}?</\1\s*>"
                     r"|<!--.{0,20000}?-->"
                     r"|</?[a-zA-Z][a-zA-Z0-9:-]{0,50}(?:\s[^<>]{0,2000})?/?>", re.S | re.I)


def collapse_whitespace(value) -> str | None:
    """Runs of whitespace (incl. ``&nbsp;`` and other Unicode spaces) become one space; ends trimmed."""
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def clean_text(value) -> str | None:
    """Text as a reader sees it: entities decoded, no tags, no control characters, whitespace collapsed.

    Values from JSON and meta tags may still carry entities or stray markup; DOM text is already
    decoded, and decoding twice is harmless for real text.
    """
    if type(value) is not str:  # noqa: E721 - the common case first; str subclasses below
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str):
            return None
    if len(value) > _MAX_TEXT:
        return None
    if "&" in value:
        value = html.unescape(value)
    if "<" in value:
        value = _MARKUP.sub(" ", value)
    value = " ".join(value.split())
    if not value.isprintable():  # fast C check; true for nearly all text once whitespace is collapsed
        value = " ".join(_CONTROL.sub("", value).split())
    return value or None


# Elements whose content a reader never sees as text.
INVISIBLE_TAGS = frozenset({
    "script", "style", "noscript", "template", "svg", "math", "head", "title", "meta", "link",
    "iframe", "object", "embed", "canvas", "video", "audio", "img", "picture", "source", "button",
    "select", "textarea", "input",
})
# Elements that separate words visually even without whitespace in the markup.
BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "aside", "header", "footer", "main", "nav", "h1", "h2", "h3",
    "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "blockquote", "figure", "figcaption",
    "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "pre", "hr", "address",
    "center", "details", "summary", "form", "fieldset", "br",
})


def element_text(element) -> str | None:
    """Visible text of an lxml element: no script/style/noscript/svg text, blocks and ``<br>`` spaced.

    Walks the subtree iteratively (``iterwalk``), so deeply nested junk cannot exhaust the stack.
    """
    if element is None or not isinstance(getattr(element, "tag", None), str):
        return None
    if not len(element):  # a leaf: its own text is all there is
        hidden = element.tag in INVISIBLE_TAGS or element.get("hidden") is not None
        return None if hidden else clean_text(element.text)
    parts: list[str] = []
    try:
        walker = etree.iterwalk(element, events=("start", "end", "comment", "pi"))
        for event, el in walker:
            if event in ("comment", "pi"):
                if el.tail:
                    parts.append(el.tail)
                continue
            tag = el.tag if isinstance(el.tag, str) else ""
            if event == "start":
                if tag in INVISIBLE_TAGS or el.get("hidden") is not None:
                    walker.skip_subtree()
                    continue
                if tag in BLOCK_TAGS:
                    parts.append(" ")
                if el.text:
                    parts.append(el.text)
            else:
                if tag in BLOCK_TAGS:
                    parts.append(" ")
                if el is not element and el.tail:
                    parts.append(el.tail)
    except Exception:  # a broken tree gives no text rather than an error
        return None
    return clean_text("".join(parts))


def strip_label(value, *labels: str) -> str | None:
    """``"Source: News websites"`` -> ``"News websites"``: drops a leading label (``Source:``, ``By``).

    The label must be followed by a colon or a space, so ``"Byron"`` keeps its ``By``.
    """
    text = clean_text(value)
    if not text:
        return None
    for label in labels:
        m = _label_pattern(label).match(text)
        if m:
            return text[m.end():].strip() or None
    return text


@lru_cache(maxsize=64)
def _label_pattern(label: str) -> re.Pattern:
    """A leading ``label`` followed by a colon or a space, any case."""
    return re.compile(rf"{re.escape(label)}(?:\s*:\s*|\s+)", re.I)


def join_blocks(blocks) -> str | None:
    """Body blocks in order -> one text, blocks cleaned, empty ones dropped, joined by a blank line."""
    if isinstance(blocks, str):
        blocks = [blocks]
    if not isinstance(blocks, (list, tuple)):
        return None
    cleaned = [t for t in (clean_text(b) for b in blocks) if t]
    return "\n\n".join(cleaned) or None


def count_words(value) -> int | None:
    """``len(text.split())``: the record's word count is defined on the normalised body."""
    return len(value.split()) if isinstance(value, str) else None


def drop_duplicates(values) -> list:
    """The values in order, each kept once (list fields: names, tags)."""
    return list(dict.fromkeys(values))
