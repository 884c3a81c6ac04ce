"""Bad input: extraction on mutated item pages never crashes and never emits a malformed record.

Hypothesis takes a fixture item page and applies a few mutations: drop, duplicate or reorder
elements; drop, copy or blow up attributes; break the JSON-LD and tawsiyat JSON (cut, garbage, deep
nesting); wrap parts of the page in deep nesting; put control characters, ``<script>``/``<style>``
elements and huge attribute values in; splice non-UTF-8 bytes into the raw page. Then
``ArticlePage(response)`` must:

* never raise, and never hit its own catch-all (an ERROR logged by the extraction is a crash too);
* give records whose values are well-formed: after the enrich pipeline (``scraped_at``,
  ``content_hash``) a record either passes the schema or only lacks data the mutated page no longer
  carries — and then the validate pipeline drops it with a reason; it never stores it;
* never put markup, or the text of a script or style, into a text field.

Seeded and derandomized, bounded in examples and time, so it fits CI: 250 examples in the whole suite, a
quarter of them in the quick set (``tests.conftest.examples``); ``FUZZ_EXAMPLES=2000`` runs more. The
figures (pages tried, records checked) print with ``-s``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itemadapter import ItemAdapter
from lxml import etree, html
from scrapy.exceptions import DropItem
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from mayadeen.pages.article import ArticlePage
from mayadeen.pipelines.enrich import EnrichPipeline
from mayadeen.pipelines.validate import ValidatePipeline
from mayadeen.record import validator
from tests.conftest import examples, expected_records
from tests.fixture_server import FixtureSite

PUBLIC = "https://english.almayadeen.net"
EXAMPLES = int(os.environ["FUZZ_EXAMPLES"]) if "FUZZ_EXAMPLES" in os.environ else examples(250)
SCRIPT_MARK, STYLE_MARK = "zzscriptmarkzz", "zzstylemarkzz"
CONTROL = "".join(map(chr, [*range(0, 9), 11, 12, *range(14, 32), 127, 0x85, 0x2028, 0xFEFF]))
NON_UTF8 = (b"\xff", b"\xfe\xff", b"\x80\x81", b"\xc3(", b"\xe2\x82", b"\xed\xa0\x80", b"\x93smart\x94")
TEXT_FIELDS = ("section_group", "section", "headline", "summary", "body", "source")
MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
SCRIPT_TEXT = (SCRIPT_MARK, STYLE_MARK, "googletag.", "dataLayer.push", "gtag(", "window._sf_async_config")

URLS = sorted(expected_records())
PAGES = {url: FixtureSite().body(url.removeprefix(PUBLIC)) for url in URLS}
FIGURES = {"pages": 0, "records": 0, "valid": 0, "dropped": 0, "not_item": 0}


# --- mutations --------------------------------------------------------------------------------------
def _pick(data, items, label):
    return items[data.draw(st.integers(0, len(items) - 1), label=label)] if items else None


def _pool(doc, data):
    where = data.draw(st.sampled_from(["article", "article", "head", "any"]), label="where")
    xpath = {"article": "//article//*", "head": "//head/*", "any": "//body//*"}[where]
    return [el for el in doc.xpath(xpath) if isinstance(el.tag, str)]


def drop_element(doc, data):
    el = _pick(data, _pool(doc, data), "element")
    if el is not None and el.getparent() is not None:
        el.drop_tree()


def duplicate_element(doc, data):
    el = _pick(data, _pool(doc, data), "element")
    if el is not None and el.getparent() is not None:
        el.addnext(copy.deepcopy(el))


def reorder_children(doc, data):
    parents = [el for el in _pool(doc, data) if len(el) > 1]
    el = _pick(data, parents, "parent")
    if el is not None:
        children = list(el)
        order = data.draw(st.permutations(range(len(children))), label="order")
        for child in children:
            el.remove(child)
        for i in order:
            el.append(children[i])


def mess_attributes(doc, data):
    el = _pick(data, [e for e in _pool(doc, data) if e.attrib], "element")
    if el is None:
        return
    name = _pick(data, sorted(el.attrib), "attribute")
    how = data.draw(st.sampled_from(["drop", "copy", "huge", "empty", "control"]), label="how")
    if how == "drop":
        del el.attrib[name]
    elif how == "copy":  # the same attribute on another element (a second data-postid, class, href...)
        other = _pick(data, _pool(doc, data), "other")
        if other is not None:
            other.set(name, el.get(name))
    elif how == "huge":
        el.set(name, (el.get(name) or "x") + "x" * data.draw(st.integers(10_000, 300_000), label="size"))
    elif how == "empty":
        el.set(name, "")
    else:
        el.set(name, _control(data) + (el.get(name) or ""))


def _json_scripts(doc, kind):
    if kind == "ld":
        return doc.xpath("//script[@type='application/ld+json']")
    return doc.xpath("//script[@type='text/tawsiyat']")


def break_json(doc, data):
    kind = data.draw(st.sampled_from(["ld", "tawsiyat"]), label="json")
    script = _pick(data, _json_scripts(doc, kind), "script")
    if script is None:
        return
    text = script.text or ""
    how = data.draw(st.sampled_from(["cut", "garbage", "deep", "wrong_types", "empty", "array"]), label="how")
    if how == "cut":
        script.text = text[: data.draw(st.integers(0, max(len(text) - 1, 0)), label="at")]
    elif how == "garbage":
        at = data.draw(st.integers(0, len(text)), label="at")
        junk = data.draw(st.sampled_from(['",', "}", "{{", "\\", "\\u0000", "NaN", "]", "control"]), label="junk")
        script.text = text[:at] + (_control(data) if junk == "control" else junk) + text[at:]
    elif how == "deep":
        depth = data.draw(st.integers(500, 50_000), label="depth")
        script.text = "[" * depth + text + "]" * depth
    elif how == "wrong_types":
        try:
            obj = json.loads(text)
        except ValueError:
            return
        script.text = json.dumps(_retype(obj, data))
    elif how == "empty":
        script.text = data.draw(st.sampled_from(["", "null", "[]", "{}", "0", '"x"', "[null]"]))
    else:
        script.text = f"[{text}, {text}]"


def _retype(obj, data):
    """The same JSON with some values of the wrong type (a list for a string, a number for a dict...)."""
    if isinstance(obj, dict):
        return {k: _retype(v, data) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_retype(v, data) for v in obj]
    if data.draw(st.integers(0, 4), label="retype") == 0:
        return data.draw(st.sampled_from([None, 0, -1, 1e308, True, [], {}, [obj], {"@value": obj}, "", " "]))
    return obj


def deep_nesting(doc, data):
    el = _pick(data, _pool(doc, data), "element")
    if el is None or el.getparent() is None:
        return
    depth = data.draw(st.integers(50, 3000), label="depth")
    parent, index = el.getparent(), el.getparent().index(el)
    outer = inner = etree.Element("div")
    for _ in range(depth - 1):
        inner = etree.SubElement(inner, "div")
    parent.remove(el)
    inner.append(el)
    parent.insert(index, outer)


# lxml refuses control characters in a tree: a placeholder goes in, the bytes replace it after
# serialisation (what a broken CMS would send).
_CONTROLS: list[str] = []


def _control(data) -> str:
    _CONTROLS.append(data.draw(st.text(alphabet=CONTROL, min_size=1, max_size=8), label="control"))
    return f"\ue000{len(_CONTROLS) - 1}\ue001"


def _put_controls(body: bytes) -> bytes:
    return re.sub("\ue000(\\d+)\ue001".encode(), lambda m: _CONTROLS[int(m.group(1))].encode(), body)


def control_characters(doc, data):
    el = _pick(data, _pool(doc, data), "element")
    if el is not None:
        el.text = _control(data) + (el.text or "") + _control(data)


def script_in_text(doc, data):
    el = _pick(data, [e for e in _pool(doc, data) if e.tag not in ("script", "style")], "element")
    if el is None:
        return
    tag = data.draw(st.sampled_from(["script", "style", "noscript", "template"]), label="tag")
    mark = STYLE_MARK if tag == "style" else SCRIPT_MARK
    injected = etree.Element(tag)
    injected.text = f"{mark} var a = '<p>{mark}</p>'; .x{{color:red}}"
    injected.tail = el.text
    el.text = None
    el.insert(0, injected)


TREE_MUTATIONS = [
    drop_element,
    duplicate_element,
    reorder_children,
    mess_attributes,
    break_json,
    deep_nesting,
    control_characters,
    script_in_text,
]


def non_utf8_bytes(body: bytes, data) -> bytes:
    for _ in range(data.draw(st.integers(1, 5), label="splices")):
        at = data.draw(st.integers(0, len(body)), label="at")
        body = body[:at] + data.draw(st.sampled_from(NON_UTF8), label="bytes") + body[at:]
    return body


def mutate(url: str, data) -> bytes:
    _CONTROLS.clear()
    doc = html.document_fromstring(PAGES[url])
    for mutation in data.draw(st.lists(st.sampled_from(TREE_MUTATIONS), min_size=1, max_size=4), label="mutations"):
        mutation(doc, data)
    body = _put_controls(html.tostring(doc, encoding="utf-8", doctype="<!DOCTYPE html>"))
    if data.draw(st.booleans(), label="non-utf8"):
        body = non_utf8_bytes(body, data)
    return body


# --- the properties ---------------------------------------------------------------------------------
class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def _texts(record: dict) -> list[tuple[str, str]]:
    out = [(k, record[k]) for k in TEXT_FIELDS if isinstance(record.get(k), str)]
    out += [(f"authors[{i}]", v) for i, v in enumerate(record.get("authors") or []) if isinstance(v, str)]
    out += [(f"tags[{i}]", v) for i, v in enumerate(record.get("tags") or []) if isinstance(v, str)]
    for i, image in enumerate(record.get("images") or []):
        if isinstance(image, dict):
            out += [(f"images[{i}].{k}", image[k]) for k in ("caption", "credit") if isinstance(image.get(k), str)]
    for i, link in enumerate(record.get("related") or []):
        if isinstance(link, dict) and isinstance(link.get("title"), str):
            out.append((f"related[{i}].title", link["title"]))
    return out


def missing_data_only(errors) -> bool:
    """Whether every schema error is a field the page did not give (None, [] or absent).

    Only whole fields count: a link without a title or an image without a URL is malformed.
    """
    for error in errors:
        if error.validator == "required" and not error.absolute_path:
            continue
        if len(error.absolute_path) == 1 and (error.instance is None or error.instance == []):
            continue
        return False
    return True


def check_extraction(url: str, body: bytes) -> None:
    handler = _Errors()
    log = logging.getLogger("mayadeen")
    log.addHandler(handler)
    try:
        page = ArticlePage(HtmlResponse(url, body=body, encoding="utf-8"))
        page.is_item()
        page.links()
        item = page.to_item()
    finally:
        log.removeHandler(handler)
    crashed = [f"{r.getMessage()}: {r.exc_text or ''}"[-1500:] for r in handler.records]
    assert not crashed, crashed[0]
    FIGURES["pages"] += 1
    if item is None:
        FIGURES["not_item"] += 1
        return
    FIGURES["records"] += 1
    record = ItemAdapter(EnrichPipeline().process_item(item)).asdict()
    for field, text in _texts(record):
        assert not MARKUP.search(text), f"markup in {field}: {text[:200]!r}"
        assert not any(mark in text for mark in SCRIPT_TEXT), f"script text in {field}: {text[:200]!r}"
    errors = list(validator().iter_errors(record))
    bad = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors]
    assert missing_data_only(errors), f"malformed record: {bad}"
    crawler = get_crawler()
    try:
        ValidatePipeline(crawler).process_item(item)
    except DropItem:
        assert errors, "dropped a valid record"
        FIGURES["dropped"] += 1
    else:
        assert not errors, f"kept a record that breaks the schema: {bad}"
        FIGURES["valid"] += 1


@settings(
    max_examples=EXAMPLES,
    deadline=5000,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(data=st.data(), url=st.sampled_from(URLS))
def test_mutated_item_pages_never_break_extraction(url, data):
    check_extraction(url, mutate(url, data))


@pytest.mark.parametrize("url", URLS)
def test_every_fixture_page_survives_each_mutation_alone(url):
    """Deterministic floor under the random search: each fixture page with its JSON made hostile."""
    doc = html.document_fromstring(PAGES[url])
    for script in doc.xpath("//script[@type='application/ld+json' or @type='text/tawsiyat']"):
        script.text = "[" * 100_000 + "]" * 100_000  # past Python's recursion limit for json
    body = html.tostring(doc, encoding="utf-8", doctype="<!DOCTYPE html>")
    check_extraction(url, body)
    check_extraction(url, body.replace(b"<p>", b"<p>\xff\xfe\x00", 3))


# --- what the search found (fixed in the extraction; kept as plain regression tests) ---------------
HEALTH = PUBLIC + "/news/health/who-warns-of-rising-heat-related-illness-as-summer-temperatures-soar"


def _extract(url: str, body: bytes) -> dict:
    return dict(ArticlePage(HtmlResponse(url, body=body, encoding="utf-8")).to_item())


def test_a_breadcrumb_missing_its_group_does_not_shift_the_section_into_the_group():
    doc = html.document_fromstring(PAGES[HEALTH])
    for script in doc.xpath("//script[@type='application/ld+json']"):
        data = json.loads(script.text)
        if data.get("@type") == "BreadcrumbList":
            data["itemListElement"][1] = None  # the "News" crumb: now "Health" comes first
            script.text = json.dumps(data)
    record = _extract(HEALTH, html.tostring(doc, encoding="utf-8"))
    assert record["section_group"] == "News"
    assert record["section"] == "Health"


def test_a_related_link_without_text_keeps_a_string_title():
    doc = html.document_fromstring(PAGES[HEALTH])
    for el in doc.xpath("//section[@id='read-next']//*[contains(@class, 'card__title')]"):
        el.drop_tree()
    record = _extract(HEALTH, html.tostring(doc, encoding="utf-8"))
    assert record["related"] and all(isinstance(link["title"], str) for link in record["related"])
    check_extraction(HEALTH, html.tostring(doc, encoding="utf-8"))


def test_section_groups_are_the_schemas():
    from mayadeen.normalize import to_section_group

    assert [to_section_group(v) for v in ("News", "in-pictures", " VIDEOS ", "Infographs", "articles")] == [
        "News",
        "In Pictures",
        "Videos",
        "Infographs",
        "Articles",
    ]
    assert [to_section_group(v) for v in ("Health", "Video Features", "", None, 3)] == [None] * 5


def test_print_figures():
    if FIGURES["pages"]:
        print(
            f"\nfuzz: {FIGURES['pages']} mutated pages extracted, {FIGURES['records']} records "
            f"({FIGURES['valid']} valid, {FIGURES['dropped']} dropped by validation for missing data), "
            f"{FIGURES['not_item']} no longer item pages; 0 crashes, 0 malformed"
        )
