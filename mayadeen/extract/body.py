"""The article body: a content element split into the text blocks a reader sees, its links and figures.

One iterative pass (``iterwalk``), so deep nesting cannot exhaust the stack. Block elements (p,
h2-h4, li, blockquote, div...) and ``<br><br>`` end a block; one ``<br>`` is a space. A line that
starts like "Read more:" gives its links instead of text; a related-links box gives links; an
embedded tweet gives its ``<p>`` texts; a figure with an image gives an image; skipped tags and
classes, hidden elements, comments and captions give nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from lxml import etree

from mayadeen.extract.dom import class_tokens, first_with_class
from mayadeen.extract.media import figure_image
from mayadeen.normalize.text import BLOCK_TAGS, INVISIBLE_TAGS, element_text


@dataclass(frozen=True)
class BodyRules:
    """What, inside a site's content element, is not running text (class names are the site's)."""

    related_box_class: str
    related_title_class: str
    tweet_class: str
    skip_classes: frozenset[str] = frozenset()
    skip_tags: frozenset[str] = INVISIBLE_TAGS | {"figcaption", "form", "nav"}
    link_line: re.Pattern = re.compile(r"\s*read\s+(?:more|next|also)\s*:", re.I)


class Body(NamedTuple):
    blocks: list[str]  # raw text per block, in order (cleaned by the loader)
    links: list[dict]  # {url, title, relation}: read_more lines and related_news box links, in order
    figures: list[dict]  # image candidates of the body's figures, in order


EMPTY_BODY = Body([], [], [])


def read_body(content, rules: BodyRules) -> Body:
    """The blocks, links and figures of ``content`` (an element; None gives an empty body)."""
    if content is None:
        return EMPTY_BODY
    return _BodyWalk(rules).walk(content)


class _BodyWalk:
    def __init__(self, rules: BodyRules):
        self.rules = rules
        self.body = Body([], [], [])
        self._pieces: list[str] = []  # text of the current block
        self._line_links: list[dict] = []  # links of the current block
        self._breaks = 0  # consecutive <br> since the last text
        self._has_text = False  # the current block has non-whitespace text

    def walk(self, content) -> Body:
        rules = self.rules
        walker = etree.iterwalk(content, events=("start", "end", "comment", "pi"))
        for event, el in walker:
            if event in ("comment", "pi"):
                self._text(el.tail)
                continue
            tag = el.tag  # one read: each builds a new string
            if not isinstance(tag, str):
                tag = ""
            if event == "end":
                if tag in BLOCK_TAGS and tag != "br":
                    self._end_block()
                if el is not content:
                    self._text(el.tail)
                continue
            if tag == "br":
                self._breaks += 1
                continue
            tokens = class_tokens(el)
            if rules.related_box_class in tokens:
                self._end_block()
                self._related_box(el)
                walker.skip_subtree()
            elif rules.tweet_class in tokens:
                self._end_block()
                self.body.blocks.extend(t for t in (element_text(p) for p in el.iter("p")) if t)
                walker.skip_subtree()
            elif tag == "figure" and next(el.iter("img"), None) is not None:
                self._end_block()
                self.body.figures.append(figure_image(el))
                walker.skip_subtree()
            elif tag in rules.skip_tags or not rules.skip_classes.isdisjoint(tokens) or el.get("hidden") is not None:
                walker.skip_subtree()
            else:
                if tag in BLOCK_TAGS:
                    self._end_block()
                else:
                    self._apply_breaks()
                if tag == "a" and el.get("href"):
                    self._line_links.append({"url": el.get("href"), "title": element_text(el), "relation": "read_more"})
                self._text(el.text)
        self._end_block()
        return self.body

    def _related_box(self, box) -> None:
        for a in box.iter("a"):
            if a.get("href"):
                title = first_with_class(a, self.rules.related_title_class)
                if title is None:
                    title = a
                self.body.links.append({"url": a.get("href"), "title": element_text(title), "relation": "related_news"})

    def _apply_breaks(self) -> None:
        if self._breaks >= 2:
            self._end_block()
        elif self._breaks == 1:
            self._pieces.append(" ")
        self._breaks = 0

    def _text(self, text) -> None:
        if not text:
            return
        if not text.isspace():
            if self._breaks:
                self._apply_breaks()
            self._has_text = True
        self._pieces.append(text)

    def _end_block(self) -> None:
        self._breaks = 0
        if self._has_text:
            text = "".join(self._pieces)
            if self._line_links and self.rules.link_line.match(text):
                self.body.links.extend(self._line_links)
            else:
                self.body.blocks.append(text)
            self._has_text = False
        if self._pieces:
            self._pieces = []
        if self._line_links:
            self._line_links = []
