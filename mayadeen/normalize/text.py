"""Text as a reader sees it: cleaning, visible text of an element, labels, body blocks."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from lxml import etree

_MAX_TEXT = 1_000_000  # longer values are junk, not text
# Control characters, and the bidirectional embeddings, overrides and isolates that make a text show in
# an order other than its own (a headline that reads differently in a terminal, the card or the report);
# the marks (U+200E, U+200F) stay: they only tell a neutral character its direction.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Half of a UTF-16 pair, from a JSON escape ("\ud83d" without its other half): no encoding can write it.
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
# What an HTML parser would take for the start of a tag, a comment or a declaration.
_TAG_START = re.compile(r"<[a-zA-Z/!?]")
# Markup that reached a text value (escaped in the page, or from JSON) is parsed as HTML, like a
# browser would: elements whose content is code, not text, go with it; every other tag, comment and
# attribute goes, its text stays.
_MARKUP_PARSER = etree.HTMLParser(
    encoding="utf-8", recover=True, no_network=True, remove_comments=True, remove_pis=True, default_doctype=False
)
_CODE_TAGS = frozenset({"script", "style", "noscript", "template", "xmp", "iframe", "noembed", "noframes"})
# Title and textarea keep markup in their text (so does plaintext): it is parsed again, a few times at
# most; a value still holding tags after that is junk, not text.
_MAX_MARKUP_PASSES = 4


def collapse_whitespace(value) -> str | None:
    """Runs of whitespace (incl. ``&nbsp;`` and other Unicode spaces) become one space; ends trimmed."""
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def clean_text(value) -> str | None:
    """Text as a reader sees it: entities decoded, no tags, no control characters, whitespace collapsed.

    Values from JSON and meta tags may still carry entities or stray markup; DOM text is already
    decoded, and decoding twice is harmless for real text. Markup is read by lxml's HTML parser (a
    browser's rules): every tag and attribute is dropped, however it is spelled (``<img/src=x>``, a
    ``<`` inside a quoted attribute, attributes of any length), ``< b`` and ``a<3`` stay text.
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
    # Already collapsed when printable with its words one space apart (every whitespace character but
    # the space is unprintable): two C scans tell, without splitting a text that is already clean
    # (values cleaned a second time, URLs). Inline: this runs for every value of every page.
    if not (value.isprintable() and "  " not in value and value[:1] != " " and value[-1:] != " "):
        value = " ".join(value.split())
        if not value.isprintable():  # fast C check; true for nearly all text once whitespace is collapsed
            value = " ".join(_LONE_SURROGATE.sub("\ufffd", _CONTROL.sub("", value)).split())
    if "<" in value:  # after the control characters: "<\x00img" is a tag once the NUL is gone
        value = " ".join(_strip_markup(value).split())
    return value or None


def _strip_markup(value: str) -> str:
    """The text of ``value`` read as HTML: no tag, comment or attribute left ("" when it keeps some)."""
    for _ in range(_MAX_MARKUP_PASSES):
        if not _TAG_START.search(value):
            return value
        # Entities were decoded already: the parser must not decode them a second time. Bytes in the
        # parser's encoding, so that no declaration or <meta charset> in the value can change it.
        markup = value.replace("&", "&amp;").encode("utf-8", "ignore")  # "ignore": lone surrogates
        root = etree.fromstring(markup, _MARKUP_PARSER)
        if root is None:
            return ""
        value = " ".join(_texts(root))
    return "" if _TAG_START.search(value) else value


def _texts(root) -> list[str]:
    """The text nodes of ``root`` in order, without those of ``_CODE_TAGS`` (each tag separates words)."""
    for element in list(root.iter(*_CODE_TAGS)):
        element.clear(keep_tail=True)
    return list(root.itertext())


# Elements whose content a reader never sees as text.
INVISIBLE_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "math",
        "head",
        "title",
        "meta",
        "link",
        "iframe",
        "object",
        "embed",
        "canvas",
        "video",
        "audio",
        "img",
        "picture",
        "source",
        "button",
        "select",
        "textarea",
        "input",
    }
)
# Elements that separate words visually even without whitespace in the markup.
BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "aside",
        "header",
        "footer",
        "main",
        "nav",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "figure",
        "figcaption",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "caption",
        "pre",
        "hr",
        "address",
        "center",
        "details",
        "summary",
        "form",
        "fieldset",
        "br",
    }
)


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
            tag = el.tag  # one read: each builds a new string
            if not isinstance(tag, str):
                tag = ""
            if event == "start":
                if tag in INVISIBLE_TAGS or el.get("hidden") is not None:
                    walker.skip_subtree()
                    continue
                if tag in BLOCK_TAGS:
                    parts.append(" ")
                text = el.text
                if text:
                    parts.append(text)
            else:
                if tag in BLOCK_TAGS:
                    parts.append(" ")
                if el is not element:
                    tail = el.tail
                    if tail:
                        parts.append(tail)
    except Exception:  # a broken tree gives no text rather than an error
        return None
    return clean_text("".join(parts))


def strip_label(value, *labels: str) -> str | None:
    """``"Source: News websites"`` -> ``"News websites"``: drops a leading label (``Source:``, ``By``).

    The label must be followed by a colon or a space, so ``"Byron"`` keeps its ``By``; a label alone
    (``"By"`` before an empty name) is no value.
    """
    text = clean_text(value)
    if not text:
        return None
    for label in labels:
        m = _label_pattern(label).match(text)
        if m:
            return text[m.end() :].strip() or None
    return text


@lru_cache(maxsize=64)
def _label_pattern(label: str) -> re.Pattern:
    """A leading ``label`` followed by a colon, a space or nothing (a label without its value), any case."""
    return re.compile(rf"{re.escape(label)}(?:\s*:\s*|\s+|$)", re.I)


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


def count_clean_words(value) -> int | None:
    """``count_words`` of a text as ``clean_text`` gives it (words one space apart), without splitting it."""
    return value.count(" ") + 1 if isinstance(value, str) and value else None


def drop_duplicates(values) -> list:
    """The values in order, each kept once (list fields: names, tags)."""
    return list(dict.fromkeys(values))
