"""ArticlePage on the stored item pages: exact records, and the same records when a layer is damaged.

Each expected record in ``fixtures/expected`` must come out of its stored page field for field. The
same pages are then damaged in memory (never on disk) the ways the site README says real pages
vary - a metadata layer missing or broken, canonical variants, a different body markup - and must
still give the very same record, because the facts are on the page more than once.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, TextResponse

from mayadeen.normalize import parse_json_lenient
from mayadeen.pages.article import ArticlePage
from mayadeen.record import PIPELINE_KEYS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PUBLIC = "https://english.almayadeen.net"
MANIFEST = {e["path"]: e["file"] for e in json.loads((FIXTURES / "manifest.json").read_text("utf-8"))}
EXPECTED = {path.stem: json.loads(path.read_text("utf-8")) for path in sorted((FIXTURES / "expected").glob("*.json"))}
RECORD_KEYS = list(next(iter(EXPECTED.values())))


def stored_bytes(url: str) -> bytes:
    path = url[len(PUBLIC) :] or "/"
    return (FIXTURES / MANIFEST.get(path, MANIFEST["*"])).read_bytes()


def stored_html(url: str) -> str:
    return stored_bytes(url).decode("utf-8")


def page(url: str, html: str | None = None) -> ArticlePage:
    body = stored_bytes(url) if html is None else html.encode("utf-8")
    return ArticlePage(HtmlResponse(url=url, body=body, encoding="utf-8"))


def assert_record(item, expected: dict) -> None:
    """Field by field (a readable message per wrong field), then the whole record, no extra keys."""
    assert item is not None, "to_item() returned None for an item page"
    record = dict(item)
    problems = [
        f"{key}:\n    expected {expected[key]!r}\n    got      {record.get(key, '<missing>')!r}"
        for key in expected
        if record.get(key, "<missing>") != expected[key]
    ]
    extra = sorted(set(record) - set(expected))
    assert not problems, "wrong fields:\n" + "\n".join(problems)
    assert not extra, f"extra fields: {extra}"
    assert record == expected


# --- in-memory page damage ------------------------------------------------------------------------

#: No leading ``\s*``: a pattern that starts with a literal is searched for fast (30 times faster on these
#: pages); ``no_jsonld`` drops the whitespace before each script.
LD_SCRIPT = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)
TAWSIYAT = re.compile(r'(<script type="text/tawsiyat" id="tawsiyat-metadata">)(.*?)(</script>)', re.S)
CONTENT_OPEN = re.compile(r'<div class="article-content[^"]*" id="article-content"[^>]*>')


def _jsonld(html: str) -> list:
    return [json.loads(m.group(1)) for m in LD_SCRIPT.finditer(html)]


def _with_jsonld(html: str, blocks: list) -> str:
    """The page with its JSON-LD scripts replaced by ``blocks`` (objects or ready-made texts)."""
    html = no_jsonld(html)
    scripts = "".join(
        '\n<script type="application/ld+json">\n%s\n</script>' % (b if isinstance(b, str) else json.dumps(b, indent=4))
        for b in blocks
    )
    return html.replace("</head>", scripts + "\n</head>", 1)


def _edit_jsonld(html: str, edit) -> str:
    return _with_jsonld(html, [edit(block) for block in _jsonld(html)])


def _is(block, type_):
    return isinstance(block, dict) and block.get("@type") == type_


def _content_inner(html: str) -> tuple[int, int]:
    """Start and end of the inner HTML of div#article-content (matching its closing tag)."""
    start = CONTENT_OPEN.search(html).end()
    depth, pos = 1, start
    for m in re.compile(r"<(/?)div\b[^>]*>").finditer(html, start):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            return start, m.start()
        pos = m.end()
    raise AssertionError(f"unclosed article content after {pos}")


def _edit_content(html: str, edit) -> str:
    start, end = _content_inner(html)
    return html[:start] + edit(html[start:end]) + html[end:]


def no_jsonld(html):
    """The page without its JSON-LD scripts and the whitespace before each."""
    kept, end = [], 0
    for script in LD_SCRIPT.finditer(html):
        kept.append(html[end : script.start()].rstrip())
        end = script.end()
    return "".join(kept) + html[end:]


def jsonld_trailing_commas(html):
    def edit(block):
        text = json.dumps(block, indent=4)
        if _is(block, "NewsArticle"):
            text = re.sub(r'("\s*)(\n\s*\])', r"\1,\2", text)  # a comma before every list end
            text = text[: text.rindex("}")] + ",\n}"
        return text

    return _edit_jsonld(html, edit)


def jsonld_unescaped_quote(html):
    def edit(block):
        text = json.dumps(block, indent=4)
        if _is(block, "NewsArticle"):
            text = text.replace('"headline": "', '"headline": "Exclusive "report": ', 1)
        return text

    return _edit_jsonld(html, edit)


def jsonld_graph(html):
    blocks = [{k: v for k, v in b.items() if k != "@context"} for b in _jsonld(html)]
    return _with_jsonld(html, [{"@context": "https://schema.org", "@graph": blocks}])


def jsonld_array(html):
    return _with_jsonld(html, [json.dumps(_jsonld(html), indent=2)])


def jsonld_dates_utc(html):
    def edit(block):
        for key in ("datePublished", "dateModified", "uploadDate"):
            if key in block:
                moment = datetime.fromisoformat(block[key]).astimezone(UTC)
                block[key] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        return block

    return _edit_jsonld(html, edit)


def jsonld_author_string(html):
    def edit(block):
        if _is(block, "NewsArticle"):
            authors = block["author"] if isinstance(block["author"], list) else [block["author"]]
            block["author"] = ", ".join(a["name"] for a in authors)
        return block

    return _edit_jsonld(html, edit)


def no_breadcrumb(html):
    return _with_jsonld(html, [b for b in _jsonld(html) if not _is(b, "BreadcrumbList")])


def no_tawsiyat(html):
    return TAWSIYAT.sub("", html)


def tawsiyat_invalid(html):
    return TAWSIYAT.sub(lambda m: m.group(1) + m.group(2)[:-40] + m.group(3), html)


def no_meta(html):
    return re.sub(r"<meta\b[^>]*>", "", html)


def no_canonical(html):
    return re.sub(r'<link rel="canonical"[^>]*>', "", html)


def canonical_root_relative(html):
    return re.sub(r'(<link rel="canonical" href=")https://english\.almayadeen\.net', r"\1", html)


def canonical_with_utm(html):
    return re.sub(r'(<link rel="canonical" href="[^"]*)"', r'\1?utm_source=x&amp;utm_medium=y"', html)


def og_url_trailing_slash(html):
    return re.sub(r'(<meta property="og:url" content="[^"]*)"', r'\1/"', html)


def time_without_datetime(html):
    return re.sub(r'(<time\b[^>]*?)\s+datetime="[^"]*"', r"\1", html)


def paragraphs_in_divs(html):
    return _edit_content(
        html,
        lambda inner: re.sub(r"(<p\b[^>]*>.*?</p>)", r'<div class="paragraph"><div>\1</div></div>', inner, flags=re.S),
    )


def paragraphs_merged_with_br(html):
    return _edit_content(html, lambda inner: re.sub(r"</p>\s*<p>", "<br><br>\n", inner))


def subheadings_as_strong_paragraphs(html):
    return _edit_content(html, lambda inner: re.sub(r"<h3>(.*?)</h3>", r"<p><strong>\1</strong></p>", inner))


def noscript_image_fallbacks(html):
    return re.sub(
        r'(<img class="lazy[^"]*"[^>]*?data-src="([^"]+)"[^>]*>)', r'\1<noscript><img src="\2" alt=""></noscript>', html
    )


def jsonld_dates_day_only(html):
    """The article's JSON-LD dates without their time of day: the meta tags still carry the moment."""

    def edit(block):
        if _is(block, "NewsArticle"):
            for key in ("datePublished", "dateModified"):
                if key in block:
                    block[key] = block[key][:10]
        return block

    return _edit_jsonld(html, edit)


def jsonld_dates_without_offset(html):
    """JSON-LD times in UTC without their ``Z``: a naive time, which the meta tags' offset corrects."""

    def edit(block):
        for key in ("datePublished", "dateModified", "uploadDate"):
            if key in block:
                block[key] = datetime.fromisoformat(block[key]).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return block

    return _edit_jsonld(html, edit)


def jsonld_another_story_first(html):
    """A teaser's ``NewsArticle`` (another story, its own dates, author and image) ahead of the page's."""
    other = f"{PUBLIC}/news/sports/another-story-entirely"
    teaser = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": "Another story entirely",
        "url": other,
        "mainEntityOfPage": {"@type": "WebPage", "@id": other},
        "datePublished": "2020-01-01T10:00:00+02:00",
        "dateModified": "2020-01-02T10:00:00+02:00",
        "author": {"@type": "Person", "name": "Someone Else"},
        "image": {"@type": "ImageObject", "url": f"{PUBLIC}/Content/other.jpg", "caption": "Other", "creditText": "X"},
        "articleSection": "Sports",
        "keywords": ["Other"],
        "inLanguage": "ar",
    }
    return _with_jsonld(html, [teaser, *_jsonld(html)]) if LD_SCRIPT.search(html) else html


def byline_names_empty(html):
    """``By <span class="author-name"></span>``: the byline's names gone, JSON-LD and the meta tags keep them."""
    return re.sub(r'(<(span|a) class="author-name"[^>]*>)[^<]*(</\2>)', r"\1\3", html)


def no_main_image_caption(html):
    """The main figure without its caption: JSON-LD's image has the caption and its credit."""
    return re.sub(r'<figcaption class="main-image__caption">.*?</figcaption>', "", html, flags=re.S)


def no_gallery_captions(html):
    """Gallery slides without their caption and credit: JSON-LD's list of images has them."""
    return re.sub(r'<span class="gallery-slider__(?:caption|credit)">.*?</span>', "", html, flags=re.S)


def meta_postid_zero(html):
    return re.sub(r'(<meta name="postid" content=")\d+', r"\g<1>0", html)


def tags_as_hashtags(html):
    return re.sub(r'(<a class="tags-list__link"[^>]*>)', r"\1#", html)


def canonical_to_home(html):
    return re.sub(r'(<link rel="canonical" href=")[^"]*', rf"\g<1>{PUBLIC}/", html)


def canonical_to_amp(html):
    return re.sub(r'(<link rel="canonical" href="[^"]*)"', r'\1/amp"', html)


def canonical_other_language_first(html):
    return html.replace(
        '<link rel="canonical"', f'<link rel="alternate canonical" href="{PUBLIC}/ar"><link rel="canonical"', 1
    )


def canonical_percent_encoded(html):
    return re.sub(r'(<link rel="canonical" href="[^"]*)"', lambda m: m.group(1).replace("-", "%2D") + '"', html)


def meta_section_as_key(html):
    """``article:section`` written as the URL's key (``politics``), not the section's name."""
    path = re.search(r'<link rel="canonical" href="https://english\.almayadeen\.net/([^"]*)"', html).group(1)
    key = path.split("/")[-2] if path.count("/") > 1 else path.split("/")[0]
    return re.sub(r'(<meta property="article:section" content=")[^"]*', lambda m: m.group(1) + key, html)


def both(*mutations):
    def mutate(html):
        for mutation in mutations:
            html = mutation(html)
        return html

    mutate.__name__ = "+".join(m.__name__ for m in mutations)
    return mutate


MUTATIONS = [
    no_jsonld,
    jsonld_trailing_commas,
    jsonld_unescaped_quote,
    jsonld_graph,
    jsonld_array,
    jsonld_dates_utc,
    jsonld_author_string,
    no_breadcrumb,
    no_tawsiyat,
    tawsiyat_invalid,
    no_meta,
    no_canonical,
    canonical_root_relative,
    canonical_with_utm,
    og_url_trailing_slash,
    time_without_datetime,
    paragraphs_in_divs,
    paragraphs_merged_with_br,
    subheadings_as_strong_paragraphs,
    noscript_image_fallbacks,
    jsonld_dates_day_only,
    jsonld_dates_without_offset,
    jsonld_another_story_first,
    byline_names_empty,
    no_main_image_caption,
    no_gallery_captions,
    meta_postid_zero,
    tags_as_hashtags,
    canonical_to_home,
    canonical_to_amp,
    canonical_other_language_first,
    canonical_percent_encoded,
    meta_section_as_key,
    # two or more layers gone at once, the rest still carrying every fact
    both(no_jsonld, no_tawsiyat),
    both(no_jsonld, no_meta),
    both(no_meta, no_tawsiyat),
    both(jsonld_trailing_commas, tawsiyat_invalid),
    both(jsonld_unescaped_quote, no_meta),
    both(no_breadcrumb, no_tawsiyat),
    both(jsonld_graph, no_meta),
    both(jsonld_array, no_tawsiyat),
    both(no_canonical, no_meta, no_jsonld),
    both(no_jsonld, no_tawsiyat, time_without_datetime),
    both(paragraphs_in_divs, noscript_image_fallbacks, subheadings_as_strong_paragraphs),
    both(paragraphs_merged_with_br, subheadings_as_strong_paragraphs, no_jsonld),
]


# --- the stored pages -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXPECTED)
def test_stored_page_gives_the_expected_record(name):
    expected = EXPECTED[name]
    p = page(expected["url"])
    assert p.is_item()
    assert_record(p.to_item(), expected)


@pytest.mark.parametrize("name", EXPECTED)
def test_record_has_exactly_the_item_fields_but_the_pipeline_ones(name):
    item = page(EXPECTED[name]["url"]).to_item()
    assert set(item) == set(RECORD_KEYS)
    assert set(item.fields) - set(item) == set(PIPELINE_KEYS)


@pytest.mark.parametrize("name", EXPECTED)
def test_links_are_the_related_urls_deduplicated(name):
    expected = EXPECTED[name]
    assert page(expected["url"]).links() == list(dict.fromkeys(r["url"] for r in expected["related"]))


# One test per mutation over every page it changes (no <h3> to rewrite on a video...), not one per
# (page, mutation) pair: which pairs apply is only known by mutating the page, and every xdist worker
# collects every module (443 pairs mutated at collection, about 0.9 s of CPU per worker).
@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.__name__)
def test_damaged_pages_give_the_same_records(mutation):
    applied = []
    for name, expected in EXPECTED.items():
        html = stored_html(expected["url"])
        damaged = mutation(html)
        if damaged == html:
            continue
        applied.append(name)
        try:
            assert_record(page(expected["url"], damaged).to_item(), expected)
        except AssertionError as wrong:
            raise AssertionError(f"{name} with {mutation.__name__}: {wrong}") from None
    assert applied, f"{mutation.__name__} changes no stored page"


def test_the_mutations_really_break_what_they_claim():
    html = stored_html(EXPECTED[next(iter(EXPECTED))]["url"])
    for broken in (jsonld_trailing_commas, jsonld_unescaped_quote):
        ld_texts = [m.group(1) for m in LD_SCRIPT.finditer(broken(html))]
        with pytest.raises(ValueError):
            [json.loads(t) for t in ld_texts]
        # ... and the lenient parser repairs them, so the layer is used, not skipped
        assert all(isinstance(parse_json_lenient(t), dict) for t in ld_texts)
    with pytest.raises(ValueError):
        json.loads(TAWSIYAT.search(tawsiyat_invalid(html)).group(2))
    assert "<meta" not in no_meta(html)
    assert "datetime=" not in time_without_datetime(html)
    assert "<br><br>" in paragraphs_merged_with_br(html)
    assert "<h3>" not in subheadings_as_strong_paragraphs(html)


@pytest.mark.parametrize("name", EXPECTED)
def test_only_the_visible_page_left(name):
    """No JSON-LD, meta, tawsiyat or canonical, and <time> without datetime: the DOM alone (with the
    menu labels for section names) still gives the record. Only an edit time the page does not show
    is lost."""
    expected = EXPECTED[name]
    html = both(no_jsonld, no_meta, no_tawsiyat, no_canonical, time_without_datetime)(stored_html(expected["url"]))
    item = page(expected["url"], html).to_item()
    shows_update = "article-info__updated" in html
    want = dict(expected, date_modified=expected["date_modified"] if shows_update else None)
    assert_record(item, want)


# --- variants built in the test -------------------------------------------------------------------

NATO = f"{PUBLIC}/news/politics/why-increase-of-us-alliances-in-asia-does-not-mean-an-asian-nato-time"
PMF = f"{PUBLIC}/news/politics/iraqs-pmf-law-seen-as-test-of-sovereignty-amid-us-objections"
OPINION = f"{PUBLIC}/articles/opinion/trading-in-local-currencies-is-quietly-redrawing-the-map-of-global-finance"


def _expected(url: str) -> dict:
    return next(e for e in EXPECTED.values() if e["url"] == url)


def test_main_image_without_credit():
    html = stored_html(NATO)
    html = html.replace("on May 2022. (AP)</figcaption>", "on May 2022.</figcaption>")
    html = _edit_jsonld(
        html,
        lambda b: (
            {k: v for k, v in b.items() if k != "image"}
            | ({"image": {k: v for k, v in b["image"].items() if k != "creditText"}} if "image" in b else {})
        ),
    )
    expected = _expected(NATO)
    image = dict(expected["image"], credit=None)
    assert_record(page(NATO, html).to_item(), dict(expected, image=image, images=[image]))


def _without_modified(html: str) -> str:
    html = re.sub(r'<meta property="article:modified_time"[^>]*>', "", html)
    html = TAWSIYAT.sub(lambda m: m.group(1) + re.sub(r'"last_updated": "[^"]*", ', "", m.group(2)) + m.group(3), html)
    return _edit_jsonld(html, lambda b: {k: v for k, v in b.items() if k != "dateModified"})


def test_no_modification_time_anywhere_gives_null():
    html = _without_modified(stored_html(NATO))
    assert "last_updated" not in html and "dateModified" not in html and "modified_time" not in html
    assert_record(page(NATO, html).to_item(), dict(_expected(NATO), date_modified=None))


def test_modification_time_shown_only_in_the_byline_is_kept():
    html = _without_modified(stored_html(PMF))
    assert_record(page(PMF, html).to_item(), _expected(PMF))


@pytest.mark.parametrize("name", EXPECTED)
def test_no_byline_and_jsonld_author_as_plain_string(name):
    expected = EXPECTED[name]
    html = re.sub(r'<li class="article-info__author">.*?</li>', "", stored_html(expected["url"]))
    assert_record(page(expected["url"], jsonld_author_string(html)).to_item(), expected)


def test_several_writers_give_several_authors():
    html = stored_html(OPINION).replace(
        '<a class="author-name" href="/authors/karim-haddad" rel="author">Karim Haddad</a>',
        '<a class="author-name" href="/authors/karim-haddad" rel="author">Karim Haddad</a>, '
        '<a class="author-name" href="/authors/leila-mansour" rel="author">Leila Mansour</a>',
    )
    item = page(OPINION, html).to_item()
    assert item["authors"] == ["Karim Haddad", "Leila Mansour"]


def test_date_only_byline_is_midnight_beirut():
    html = both(no_jsonld, no_meta, no_tawsiyat, time_without_datetime)(stored_html(NATO))
    html = html.replace("18 Aug 2023 21:45</time>", "18 Aug 2023</time>")
    assert page(NATO, html).to_item()["date_published"] == "2023-08-17T21:00:00Z"


def test_text_fields_carry_no_markup_or_script():
    html = stored_html(NATO).replace(
        "<p>Washington has been working to revive",
        "<p>Injected<script>evil()</script><style>p{}</style> &lt;b&gt;tag&lt;/b&gt;"
        " &lt;script&gt;alert(1)&lt;/script&gt; Washington has been working to revive",
    )
    body = page(NATO, html).to_item()["body"]
    assert "evil()" not in body and "p{}" not in body and "alert" not in body and "<" not in body
    assert "Injected tag Washington has been working to revive" in body


def test_figure_without_image_keeps_its_text_and_aside_text_is_read():
    html = stored_html(NATO).replace(
        "<p>Along these lines,",
        '<figure class="quote-card"><blockquote><p>Quoted words</p></blockquote></figure>'
        "<aside><p>An aside the reader sees</p></aside><p>Along these lines,",
    )
    body = page(NATO, html).to_item()["body"]
    assert "interests.\n\nQuoted words\n\nAn aside the reader sees\n\nAlong these lines," in body


def test_body_figure_image_with_noscript_only():
    """A body image whose lazy ``<img>`` lost its ``data-src`` still has its ``<noscript>`` copy."""
    url = f"{PUBLIC}/news/economy/opec-agrees-to-another-large-oil-output-hike-for-september"
    html = stored_html(url)
    html = re.sub(
        r'(<img class="lazy article-inline-image__img"[^>]*?) data-src="([^"]+)"([^>]*>)',
        r'\1\3<noscript><img src="\2"></noscript>',
        html,
    )
    assert 'data-src="/Content/uploadsimages/2025/08/03/01ea7771' not in html
    assert_record(page(url, html).to_item(), _expected(url))


def test_related_link_without_visible_text_keeps_its_url():
    html = re.sub(r'<span class="related-news-box__text">[^<]*</span>', "", stored_html(NATO), count=1)
    related = page(NATO, html).to_item()["related"]
    assert related[1] == dict(_expected(NATO)["related"][1], title="")


# --- not items ------------------------------------------------------------------------------------

NOT_ITEMS = [
    "/",
    "/news",
    "/news/politics",
    "/news/politics?page=2",
    "/videos",
    "/in-pictures",
    "/infographs",
    "/tags/asia",
    "/authors",
    "/authors/karim-haddad",
    "/live",
    "/news/politics/an-article-that-was-never-captured",
    "/no/such/page",
]


@pytest.mark.parametrize("path", NOT_ITEMS)
def test_non_item_pages(path):
    url = PUBLIC + path
    html = (FIXTURES / MANIFEST.get(path, MANIFEST["*"])).read_text("utf-8")
    p = page(url, html)
    assert p.is_item() is False
    assert p.to_item() is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"<html><body><article class='article-details'>",
        b'{"json": true}',
        b"<" * 50_000,
        "<p>caf\xe9</p>".encode("latin-1"),
    ],
)
def test_junk_never_raises(body):
    p = ArticlePage(HtmlResponse(url=PUBLIC + "/news/politics/x", body=body, encoding="utf-8"))
    p.is_item()
    p.to_item()
    p.links()


def test_plain_text_response_is_no_item():
    p = ArticlePage(
        TextResponse(url=PUBLIC + "/robots.txt", body=b"User-agent: *\nDisallow: /search", encoding="utf-8")
    )
    assert p.is_item() is False and p.to_item() is None and p.links() == []
