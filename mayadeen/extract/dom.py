"""The parsed page and the index extraction walks by class (``meta.read_page_tags`` walks it by tag)."""

from __future__ import annotations

import codecs
import threading

from lxml import etree

from mayadeen.normalize.text import element_text

# The parse parsel does (NULs dropped, UTF-8, recovering, deep trees allowed), but into plain lxml
# elements: lxml.html's elements call back into Python for every element touched. Without comments and
# processing instructions (no reader sees them; their text is kept) and without the table of ids (no
# lookup uses it): fewer nodes to build and free. One parser per thread (lxml parsers must not be shared
# between threads).
_THREAD = threading.local()
_UTF8 = ("utf-8", "utf8")
_INVALID_ENCODING = etree.ErrorTypes.ERR_INVALID_ENCODING


def parse_response(response) -> etree._Element | None:
    """The root element of a response's HTML, or None when it has none.

    A UTF-8 body without NULs is parsed as it is; when libxml2 finds bytes that are not UTF-8 in it
    (checked by the parse itself, not by decoding the body once more), or the body is in another
    encoding, it is parsed from the response's decoded text (declared or sniffed encoding, bad
    bytes replaced).
    """
    body, encoding = getattr(response, "body", None), getattr(response, "encoding", None)
    clean_utf8 = encoding in _UTF8 and isinstance(body, bytes) and not body.startswith(codecs.BOM_UTF8)
    if clean_utf8 and b"\x00" not in body:
        root, parser = _parse(body)
        if parser is None or not any(e.type == _INVALID_ENCODING for e in parser.error_log):
            return root
    return parse_html(getattr(response, "text", None))


def parse_html(text) -> etree._Element | None:
    """The root element of an HTML document given as text, or None when there is no document."""
    if not isinstance(text, str):
        return None
    return _parse(text.replace("\x00", "").encode("utf-8"))[0]


def _parse(data: bytes) -> tuple[etree._Element | None, etree.HTMLParser | None]:
    """The root element (or None) and the parser, whose ``error_log`` tells about this parse."""
    if not data or data.isspace():
        return None, None
    parser = getattr(_THREAD, "parser", None)
    if parser is None:
        parser = _THREAD.parser = etree.HTMLParser(
            recover=True, encoding="utf-8", huge_tree=True, collect_ids=False, remove_comments=True, remove_pis=True
        )
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None, parser
    return (root if root is not None and isinstance(root.tag, str) else None), parser


def class_tokens(element) -> list[str]:
    """The element's class names."""
    value = element.get("class")
    return value.split() if value else []


def has_class(element, name: str) -> bool:
    """Whether the element carries class ``name`` (most elements are ruled out without a split)."""
    return _carries(element.get("class"), name)


class ClassIndex(dict):
    """Elements by class name, in page order, with the lookups a site parser makes."""

    def first(self, name: str):
        found = self.get(name)
        return found[0] if found else None

    def text(self, name: str) -> str | None:
        """Visible text of the first element with class ``name``."""
        return element_text(self.first(name))

    def inside_first(self, outer: str, inner: str | None) -> list:
        """Elements with class ``inner`` (any element if None) in the first element with class ``outer``."""
        found = self.first(outer)
        return descendants_with_class(found, inner) if found is not None else []


def elements_by_class(scope) -> ClassIndex:
    """Descendants of ``scope`` by class name, in page order, from one walk."""
    index = ClassIndex()
    if scope is None:
        return index
    elements = scope.iter(etree.Element)
    next(elements)  # the scope itself
    for element in elements:
        names = element.get("class")
        if names:
            for name in names.split():
                if name in index:  # not setdefault: it builds a list for every class name
                    index[name].append(element)
                else:
                    index[name] = [element]
    return index


def descendants_with_class(element, name: str | None) -> list:
    """``element`` and its descendants that carry class ``name`` (every element when ``name`` is None)."""
    elements = element.iter(etree.Element)  # elements only, filtered in C (no comments, PIs, entities)
    return list(elements) if name is None else [el for el in elements if _carries(el.get("class"), name)]


def first_with_class(element, name: str):
    """``element`` or its first descendant that carries class ``name``; else None."""
    for el in element.iter(etree.Element):
        value = el.get("class")
        if value and name in value and name in value.split():  # _carries inline: it runs for every element
            return el
    return None


def _carries(value: str | None, name: str) -> bool:
    """Whether a class attribute's ``value`` holds class ``name`` (most are ruled out without a split)."""
    return bool(value) and name in value and name in value.split()


def nearest_ancestor_with_class(element, name: str, stop=None):
    """The closest ancestor carrying class ``name``, looking no higher than ``stop``; else None."""
    for ancestor in element.iterancestors():
        if ancestor is stop:
            return None
        value = ancestor.get("class")
        if value and name in value and name in value.split():  # _carries inline
            return ancestor
    return None


def time_values(element) -> list[str]:
    """What a byline date element says, best first: its ``<time datetime>`` values, the ``<time>``
    texts, the whole element's text; ``[]`` for no element."""
    if element is None:
        return []
    times = list(element.iter("time"))
    return [*(t.get("datetime") for t in times), *(element_text(t) for t in times), element_text(element)]
