"""Unit tests of the layer readers in ``mayadeen.extract``, each on small hand-written pages."""

from __future__ import annotations

import json

import pytest
from scrapy.http import HtmlResponse

from mayadeen.extract.body import BodyRules, read_body
from mayadeen.extract.breadcrumbs import breadcrumb_names
from mayadeen.extract.cards import card_links
from mayadeen.extract.dom import (
    class_tokens,
    descendants_with_class,
    elements_by_class,
    has_class,
    nearest_ancestor_with_class,
    parse_html,
    parse_response,
    time_values,
)
from mayadeen.extract.jsonld import find_article, find_video, first, image_candidates, node_types, read_jsonld
from mayadeen.extract.media import figure_image, image_sources, player_poster, player_video
from mayadeen.extract.meta import read_page_tags
from mayadeen.extract.tawsiyat import read_tawsiyat, tawsiyat_classes

SITE = "https://english.almayadeen.net"


def page(body: str, head: str = "") -> object:
    return parse_html(f"<html lang='en'><head>{head}</head><body>{body}</body></html>")


def scripts(head: str) -> list:
    return read_page_tags(page("", head), ("script",)).by_tag["script"]


def ld(*blocks) -> str:
    return "".join(
        f'<script type="application/ld+json">{b if isinstance(b, str) else json.dumps(b)}</script>' for b in blocks
    )


# --- dom ------------------------------------------------------------------------------------------


def test_parse_html_gives_plain_elements_or_none():
    root = parse_html("  <p>a\x00b</p>  ")
    assert root.tag == "html" and root.findtext(".//p") == "ab"
    assert type(root).__module__ == "lxml.etree"  # no lxml.html class lookup per element
    for nothing in ("", "   ", "\x00", None, b"<p>bytes</p>"):
        assert parse_html(nothing) is None


@pytest.mark.parametrize(
    "body, encoding",
    [
        ("<p>caf\u00e9 \u2014 ok</p>".encode("utf-8"), "utf-8"),  # parsed as it is
        (b"\xef\xbb\xbf<p>caf\xc3\xa9 \xe2\x80\x94 ok</p>", "utf-8"),  # a BOM: through the text
        ("<p>caf\u00e9 \u2014 ok</p>".encode("cp1252"), "cp1252"),  # another encoding: through the text
    ],
)
def test_parse_response_reads_the_declared_encoding(body, encoding):
    root = parse_response(HtmlResponse(url=SITE, body=body, encoding=encoding))
    assert root.findtext(".//p") == "caf\u00e9 \u2014 ok"


def test_parse_response_of_bad_bytes_and_of_no_html():
    root = parse_response(HtmlResponse(url=SITE, body=b"<p>a\xffb\x00c</p>", encoding="utf-8"))
    assert root.findtext(".//p") == "a\ufffdbc"
    assert parse_response(HtmlResponse(url=SITE, body=b"", encoding="utf-8")) is None
    assert parse_response(object()) is None


def test_indexes_by_tag_and_by_class_keep_page_order():
    root = page('<div class="a b"><span class="b">1</span></div><p class=" b ">2</p><p>3</p>', "<meta name='x'>")
    by_tag = read_page_tags(root, ("p", "section")).by_tag
    assert [el.text for el in by_tag["p"]] == ["2", "3"] and by_tag["section"] == []
    by_class = elements_by_class(root)
    assert [el.tag for el in by_class["b"]] == ["div", "span", "p"] and [el.tag for el in by_class["a"]] == ["div"]
    assert elements_by_class(None) == {} and read_page_tags(None, ("p",)) == ({}, None, {"p": []})
    assert by_class.first("a").tag == "div" and by_class.first("zz") is None
    assert by_class.text("b") == "1" and by_class.text("zz") is None
    assert [el.tag for el in by_class.inside_first("a", "b")] == ["div", "span"]
    assert by_class.inside_first("zz", None) == [] and len(by_class.inside_first("a", None)) == 2
    assert class_tokens(by_class["a"][0]) == ["a", "b"]
    assert has_class(by_class["a"][0], "b") and not has_class(by_class["a"][0], "a b")
    assert not has_class(by_class["a"][0], "c") and not has_class(root, "a")


def test_descendants_and_ancestors_by_class():
    root = page('<div class="box"><a class="x">1</a><b><i class="x y">2</i></b></div><a class="x">3</a>')
    box = elements_by_class(root)["box"][0]
    assert [el.text for el in descendants_with_class(box, "x")] == ["1", "2"]
    assert len(descendants_with_class(box, None)) == 4  # the box itself and every descendant
    inner = elements_by_class(root)["y"][0]
    assert nearest_ancestor_with_class(inner, "box") is box
    assert nearest_ancestor_with_class(inner, "box", stop=inner.getparent()) is None


def test_time_values_best_first():
    root = page('<span class="d">Posted <time datetime="2025-08-04T10:00:00+03:00">4 Aug 2025</time></span>')
    span = elements_by_class(root)["d"][0]
    assert time_values(span) == ["2025-08-04T10:00:00+03:00", "4 Aug 2025", "Posted 4 Aug 2025"]
    assert time_values(None) == []


# --- meta -----------------------------------------------------------------------------------------


def test_read_meta_by_name_property_and_itemprop_in_order():
    root = page(
        "",
        '<meta property="OG:Title" content="T"><meta name="keywords" content="a, b">'
        '<meta property="article:tag" content="x"><meta property="article:tag" content="y">'
        '<meta itemprop="author" content="A"><meta charset="utf-8"><meta name="empty">',
    )
    meta = read_page_tags(root, ()).meta
    assert meta == {"og:title": ["T"], "keywords": ["a, b"], "article:tag": ["x", "y"], "author": ["A"]}
    assert meta.first("article:tag") == "x" and meta.first("missing") is None


def test_canonical_href():
    root = page(
        "",
        '<link rel="stylesheet" href="/s.css"><link rel="Canonical" href="/news/x">'
        '<link rel="canonical" href="/other">',
    )
    assert read_page_tags(root, ()).canonical == "/news/x"
    assert read_page_tags(page("", '<link rel="stylesheet" href="/s.css">'), ()).canonical is None
    # the first canonical link counts, even without an href
    assert read_page_tags(page("", '<link rel="canonical"><link rel="canonical" href="/x">'), ()).canonical is None


# --- JSON-LD --------------------------------------------------------------------------------------

ARTICLE = {"@type": "NewsArticle", "headline": "H", "video": {"@type": "VideoObject", "duration": "PT1M"}}
CRUMBS = {"@type": "BreadcrumbList", "itemListElement": []}


@pytest.mark.parametrize(
    "head",
    [
        ld(ARTICLE, CRUMBS),
        ld([ARTICLE, CRUMBS]),
        ld({"@context": "https://schema.org", "@graph": [ARTICLE, CRUMBS]}),
        ld(json.dumps(ARTICLE)[:-1] + ",}", CRUMBS),  # a trailing comma, repaired
    ],
    ids=["objects", "array", "graph", "repaired"],
)
def test_read_jsonld_finds_nodes_in_every_shape(head):
    nodes = read_jsonld(scripts(head))
    assert [node_types(n) for n in nodes] == [{"newsarticle"}, {"breadcrumblist"}]
    assert find_article(nodes)["headline"] == "H"


def test_read_jsonld_skips_broken_scripts_and_other_types():
    nodes = read_jsonld(
        scripts(
            ld("{broken", {"@type": "https://schema.org/BlogPosting", "headline": "B"})
            + '<script type="text/javascript">{"@type": "NewsArticle"}</script>'
        )
    )
    assert find_article(nodes)["headline"] == "B"
    assert find_article([]) == {} and find_video([], {}) == {}


def test_find_video_prefers_a_node_over_the_nested_object():
    assert find_video([ARTICLE], ARTICLE) == {"@type": "VideoObject", "duration": "PT1M"}
    node = {"@type": ["VideoObject"], "duration": "PT2M"}
    assert find_video([ARTICLE, node], ARTICLE) is node


def test_first_and_image_candidates():
    assert first([1, 2]) == 1 and first([]) is None and first("x") == "x"
    images = [{"url": "/a.jpg", "caption": "C", "creditText": "AP"}, "/b.jpg", None, {"contentUrl": "/c.jpg"}]
    assert image_candidates(images) == [
        {"url": "/a.jpg", "caption": "C", "credit": "AP"},
        "/b.jpg",
        {"url": "/c.jpg", "caption": None, "credit": None},
    ]
    assert image_candidates(None) == []


# --- tawsiyat -------------------------------------------------------------------------------------


def test_read_tawsiyat_and_its_classes():
    data = {
        "postid": 5,
        "classes": [
            {"key": "writer", "value": "A"},
            {"key": "tag", "value": "T"},
            {"key": "writer", "value": "B"},
            "junk",
        ],
    }
    found = read_tawsiyat(scripts(f'<script type="text/tawsiyat">{json.dumps(data)}</script>'))
    assert found["postid"] == 5
    assert tawsiyat_classes(found, "writer") == ["A", "B"] and tawsiyat_classes(found, "section") == []
    assert read_tawsiyat(scripts(f'<script id="tawsiyat-metadata">{json.dumps(data)}</script>'))["postid"] == 5
    assert read_tawsiyat(scripts('<script type="text/tawsiyat">[1, 2]</script>')) == {}
    assert read_tawsiyat(scripts('<script type="text/tawsiyat">{"a": </script>')) == {}
    assert tawsiyat_classes({"classes": "x"}, "tag") == []


# --- breadcrumbs ----------------------------------------------------------------------------------


def _trail(*entries):
    return [
        {
            "@type": "BreadcrumbList",
            "itemListElement": [{"@type": "ListItem", "position": i, **entry} for i, entry in entries],
        }
    ]


def test_breadcrumb_names_drop_home_and_the_item():
    item = SITE + "/news/politics/x"
    nodes = _trail(
        (3, {"name": "X", "item": item}),
        (1, {"name": "Home", "item": SITE + "/"}),
        (2, {"name": "News", "item": {"@id": "/news", "name": "News"}}),
    )
    assert breadcrumb_names(nodes, item, item) == ["News"]


def test_breadcrumb_names_without_urls_take_first_as_home_last_as_item():
    nodes = _trail((1, {"name": "Home"}), (2, {"name": "News"}), (3, {"name": "Politics"}), (4, {"name": "X"}))
    assert breadcrumb_names(nodes, SITE + "/a", SITE + "/a") == ["News", "Politics"]
    assert breadcrumb_names([], SITE, SITE) == []


# --- media ----------------------------------------------------------------------------------------


def _one(html: str, cls: str):
    return elements_by_class(page(html))[cls][0]


def test_image_sources_lazy_first_noscript_last():
    figure = _one(
        '<figure class="f"><noscript><img src="/n.jpg"></noscript>'
        '<img src="/ph.gif" data-src="/a.jpg" srcset="/a.webp 1x"></figure>',
        "f",
    )
    assert image_sources(figure) == ["/a.jpg", "/ph.gif", "/a.webp 1x", "/n.jpg"]


def test_figure_image_caption_and_credit():
    figure = _one('<figure class="f"><img data-src="/a.jpg"><figcaption>2/6 Pilgrims (AP)</figcaption></figure>', "f")
    assert figure_image(figure) == {"url": ["/a.jpg"], "caption": "Pilgrims (AP)", "credit": None}
    slide = _one(
        '<div class="s"><img src="/b.jpg"><p class="slide-caption">Cap</p><span class="credit">AP</span></div>', "s"
    )
    assert figure_image(slide) == {"url": ["/b.jpg"], "caption": "Cap", "credit": "AP"}


def test_player_video_and_poster():
    player = _one('<div class="p" data-duration="108"><video poster="/p.jpg"><source src="/v.mp4"></video></div>', "p")
    assert player_video(player) == {"url": "/v.mp4", "duration_seconds": "108"}
    assert player_poster(player) == {"url": ["/p.jpg"], "caption": None, "credit": None}
    embed = _one('<div class="p"><iframe data-src="https://www.youtube.com/embed/x"></iframe></div>', "p")
    assert player_video(embed) == {"url": "https://www.youtube.com/embed/x", "duration_seconds": None}


# --- body -----------------------------------------------------------------------------------------

RULES = BodyRules(
    related_box_class="rel", related_title_class="rel__t", tweet_class="tweet", skip_classes=frozenset({"ad"})
)


def _body(inner: str):
    return read_body(_one(f'<div class="c">{inner}</div>', "c"), RULES)


def test_body_blocks_follow_block_elements_and_double_breaks():
    body = _body("<p>One <b>two</b></p>text<br>same<br><br>next<h3>Head</h3><ul><li>a</li><li>b</li></ul>")
    assert [" ".join(b.split()) for b in body.blocks] == ["One two", "text same", "next", "Head", "a", "b"]


def test_body_skips_what_is_no_text():
    body = _body(
        '<p>kept</p><div class="ad">ad</div><script>x()</script><p hidden>h</p><!-- c -->'
        '<figure><img src="/a.jpg"><figcaption>cap</figcaption></figure><p>end</p>'
    )
    assert body.blocks == ["kept", "end"]
    assert body.figures == [{"url": ["/a.jpg"], "caption": "cap", "credit": None}]


def test_body_links_from_read_more_lines_and_the_related_box():
    body = _body(
        '<p>Read more: <a href="/x">X title</a></p><p>See <a href="/y">y</a> here</p>'
        '<div class="rel"><a href="/z"><span class="rel__t">Z</span><img src="/z.jpg"></a></div>'
        '<blockquote class="tweet"><p>tweet text</p>— someone</blockquote>'
    )
    assert body.links == [
        {"url": "/x", "title": "X title", "relation": "read_more"},
        {"url": "/z", "title": "Z", "relation": "related_news"},
    ]
    assert [" ".join(b.split()) for b in body.blocks] == ["See y here", "tweet text"]


def test_body_of_nothing_and_of_deep_nesting():
    assert read_body(None, RULES) == ([], [], [])
    deep = _body("<div>" * 2000 + "deep" + "</div>" * 2000)
    assert deep.blocks in (["deep"], [])


# --- cards ----------------------------------------------------------------------------------------


def test_card_links_skip_the_heading_and_repeats():
    block = _one(
        '<section class="rn"><div class="head"><a href="/all">All</a></div>'
        '<div class="card"><a href="/a"><img src="/a.jpg"></a><h3 class="card__title">A</h3></div>'
        '<div class="card"><a href="/b"><span class="card__title">B</span></a><a href="/b">again</a></div>'
        '<a href="/c">C link</a></section>',
        "rn",
    )
    assert card_links(block, "read_next", "card", "card__title", "head") == [
        {"url": "/a", "title": "A", "relation": "read_next"},
        {"url": "/b", "title": "B", "relation": "read_next"},
        {"url": "/c", "title": "C link", "relation": "read_next"},
    ]
