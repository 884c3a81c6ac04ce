"""Same records before and after a change to extraction: ``ArticlePage`` of another checkout against this tree's.

``python bench/extract_compare.py OLD_CHECKOUT [--inject N] [--drop N] [--fuzz N]`` (defaults 40, 30, 300;
OLD_CHECKOUT e.g. main's: ``git archive main | tar -x -C DIR``). Each checkout extracts the same variants
of the stored item pages in a process of its own: every page as stored; each layer damage of
``tests/test_article_page.py`` and each derived page of ``tests/test_unseen_pages.py`` with each of its
damages; every stored response of the fixture site; bad encodings and bytes; N entity and markup
injections per page (``&amp;amp;lt;``, escaped tags, labels, numbers) into text, attributes and JSON
strings; the first N elements with a class or id of each page dropped, then stripped of it, one at a
time; N mutations of ``tests/test_fuzz_extraction.py``. Per variant: ``is_item()``, ``links()``,
``to_item()`` (keys in order) from one page object, ``to_item()`` then ``links()`` from another, and how
many errors extraction logged. Prints the variants compared and every difference; exits 1 if there is
one. The variants come from this tree's tests for both checkouts.
"""

from __future__ import annotations

import json
import logging
import random
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXTS = (
    "a &amp;amp;lt; b",
    "&lt;b&gt;bold&lt;/b&gt; x",
    "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
    "x&nbsp;&nbsp;y\u00a0 z",
    "&#x3c;img src=x onerror=1&#x3e;q",
    " caf&eacute; &#8212; &bogus; & &; ",
    "<b>tag</b> <i>in</i> text",
    "\u2028line\u0085sep\t\ttab",
    "By: Someone and Other",
    "Source: Agencies",
    "4 Min Read",
    "1.2K Shares",
    "18 Aug 2023 21:45",
    "PT1M48S",
    "/news/politics/x?utm_source=y",
)
SPOTS = (
    ("text", re.compile(r">([^<>]{2,})<")),
    ("attr", re.compile(r'(?:content|href|src|data-src|datetime|data-duration|data-count|alt|class|id)="([^"]*)"')),
    ("json", re.compile(r'":\s*"([^"\\]{1,200})"')),
)


def variants(inject: int, drop: int, fuzz: int):
    """(label, url, body, encoding) of every variant, in a fixed order."""
    from lxml import html

    import tests.test_article_page as pages
    import tests.test_unseen_pages as unseen

    visible_only = pages.both(
        pages.no_jsonld, pages.no_meta, pages.no_tawsiyat, pages.no_canonical, pages.time_without_datetime
    )
    urls = [expected["url"] for expected in pages.EXPECTED.values()]
    for url in urls:
        text = pages.stored_html(url)
        yield "stored", url, pages.stored_bytes(url), "utf-8"
        for damage in [*pages.MUTATIONS, visible_only]:
            yield f"damage:{damage.__name__}", url, damage(text).encode(), "utf-8"
        yield "cp1252", url, text.encode("cp1252", "replace"), "cp1252"
        yield "bom", url, b"\xef\xbb\xbf" + text.encode(), "utf-8"
        yield "nul", url, text.replace("<p>", "<p>\x00", 3).encode(), "utf-8"
        yield "not-utf8", url, text.encode().replace(b"<p>", b"<p>\xe9\xff", 3), "utf-8"
    for derive in unseen.DERIVED:
        url, text, _ = derive()
        for damage in [lambda page: page, *unseen.DAMAGE, visible_only]:
            yield f"derived:{derive.__name__}:{damage.__name__}", url, damage(text).encode(), "utf-8"
    for entry in json.loads((pages.FIXTURES / "manifest.json").read_text("utf-8")):
        yield "fixture", pages.PUBLIC + entry["path"], (pages.FIXTURES / entry["file"]).read_bytes(), "utf-8"
    rnd = random.Random(22)
    for url in urls:
        text = pages.stored_html(url)
        spots = [(kind, m.start(1), m.end(1)) for kind, pattern in SPOTS for m in pattern.finditer(text)]
        for i in range(inject):
            kind, start, end = rnd.choice(spots)
            new = rnd.choice(TEXTS)
            new = new.replace('"', "&quot;") if kind == "attr" else new
            new = json.dumps(new)[1:-1] if kind == "json" else new
            new = rnd.choice((new, new + text[start:end], text[start:end] + new))
            yield f"inject:{kind}:{i}", url, (text[:start] + new + text[end:]).encode(), "utf-8"
    for url in urls:
        body = pages.stored_bytes(url)
        for i in range(drop):
            for how in ("drop", "strip"):
                doc = html.document_fromstring(body)
                found = doc.xpath("//head/* | //body//*[@class or @id]")
                if i >= len(found):
                    break
                if how == "drop":
                    found[i].drop_tree()
                else:  # head elements may have neither: the page is then the stored one
                    found[i].attrib.pop("class" if "class" in found[i].attrib else "id", None)
                yield f"{how}:{i}", url, html.tostring(doc, encoding="utf-8", doctype="<!DOCTYPE html>"), "utf-8"
    if fuzz:
        yield from _fuzzed(fuzz)


def _fuzzed(examples: int):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    import tests.test_fuzz_extraction as fuzz

    found = []

    @settings(
        max_examples=examples, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.data(), url=st.sampled_from(fuzz.URLS))
    def mutate(url, data):
        found.append(("fuzz", url, fuzz.mutate(url, data), "utf-8"))

    mutate()
    yield from found


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record):
        self.count += 1


def extract(checkout: str, options: list[str]) -> None:
    """Print one JSON line per variant: what ``checkout``'s ArticlePage makes of it."""
    sys.path.insert(0, checkout)
    from scrapy.http import HtmlResponse

    from mayadeen.pages.article import ArticlePage

    sys.path[0] = str(ROOT)  # this tree's tests build the variants; mayadeen stays the checkout's
    errors = _Errors()
    logging.getLogger("mayadeen").addHandler(errors)
    for label, url, body, encoding in variants(*options):
        errors.count = 0
        response = HtmlResponse(url=url, body=body, encoding=encoding)
        first, second = ArticlePage(response), ArticlePage(response)
        is_item, links, item = first.is_item(), first.links(), first.to_item()
        later_item, later_links = second.to_item(), second.links()
        out = [is_item, links, *(list(i.items()) if i is not None else None for i in (item, later_item)), later_links]
        print(json.dumps([label, url, *out, errors.count], ensure_ascii=False), flush=True)


PARTS = ("is_item", "links", "to_item", "to_item first", "links after to_item", "errors logged")


def _difference(old: list, new: list) -> str:
    """Which parts of a variant's results differ, and for records which fields."""
    lines = [f"difference on {old[0]} {old[1]}:"]
    for part, before, after in zip(PARTS, old[2:], new[2:], strict=True):
        if before == after:
            continue
        if part.startswith("to_item") and before and after:
            before, after = dict(before), dict(after)
            keys = [key for key in {**before, **after} if before.get(key) != after.get(key)] or ["(key order)"]
            lines += [f"  {part}.{key}: {before.get(key)!r:.300} -> {after.get(key)!r:.300}" for key in keys]
        else:
            lines.append(f"  {part}: {before!r:.300} -> {after!r:.300}")
    return "\n".join(lines)


def main() -> None:
    args = sys.argv[1:]
    if args[0] == "--extract":
        extract(args[1], [int(n) for n in args[2:]])
        return
    options = [
        str(int(args[args.index(flag) + 1]) if flag in args else default)
        for flag, default in (("--inject", 40), ("--drop", 30), ("--fuzz", 300))
    ]
    runs = [
        subprocess.Popen([sys.executable, __file__, "--extract", checkout, *options], stdout=subprocess.PIPE, text=True)
        for checkout in (str(Path(args[0]).resolve()), str(ROOT))
    ]
    compared, differences = 0, 0
    try:
        for old, new in zip(*(run.stdout for run in runs), strict=True):
            compared += 1
            if old != new:
                differences += 1
                print(_difference(json.loads(old), json.loads(new)))
    except ValueError:  # one process stopped before the other: its error is above
        pass
    if any(run.wait() for run in runs):
        sys.exit(f"an extraction process failed after {compared} variants")
    print(f"variants compared: {compared}, differences: {differences}")
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
