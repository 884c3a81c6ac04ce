"""Unit tests pinning every normaliser in the ``mayadeen.normalize`` package: formats, edges, and "junk gives None"."""

from datetime import UTC, date, datetime

import lxml.html
import pytest

from mayadeen.normalize.codes import (
    title_from_key,
    to_kind,
    to_language,
    to_post_id,
    to_section_group,
    to_section_name,
)
from mayadeen.normalize.counts import parse_count, parse_duration, parse_read_time, to_int
from mayadeen.normalize.credits import clean_credit, split_credit
from mayadeen.normalize.dates import date_precision, to_utc_iso
from mayadeen.normalize.hrefs import image_url, item_url, public_url
from mayadeen.normalize.lenient_json import parse_json_lenient
from mayadeen.normalize.links import normalize_link, normalize_links
from mayadeen.normalize.media import normalize_image, normalize_images
from mayadeen.normalize.names import split_keywords, split_names, tag_name
from mayadeen.normalize.text import (
    clean_text,
    collapse_whitespace,
    count_clean_words,
    count_words,
    element_text,
    join_blocks,
    strip_label,
)

BASE = "https://english.almayadeen.net/news/politics/some-article"


# --- text -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  a \n\t b\xa0\xa0c  ", "a b c"),
        ("\u2009thin\u3000ideographic ", "thin ideographic"),
        ("", None),
        ("   \xa0 ", None),
        (None, None),
        (12, None),
    ],
)
def test_collapse_whitespace(raw, expected):
    assert collapse_whitespace(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Read&nbsp;more &amp; more", "Read more & more"),
        ("It&#39;s &ldquo;quoted&rdquo;", "It's \u201cquoted\u201d"),
        ("a <b>bold</b> word", "a bold word"),
        ("x<script>alert(1)</script>y", "x y"),
        ("a<STYLE type='text/css'>p{color:red}</style>b", "a b"),
        ("a <!-- note --> b", "a b"),
        ("keep a < b and c > d", "keep a < b and c > d"),
        ("ctrl\x00\x07chars\x1b here\x7f", "ctrlchars here"),
        ("line\nbreaks\r\nand\ttabs", "line breaks and tabs"),
        (42, "42"),
        (True, None),
        ([], None),
        ({"a": 1}, None),
        (b"bytes", None),
        ("x" * 2_000_000, None),
        # half of a UTF-16 pair (a JSON escape cut in two) cannot be written by any store or feed
        ("Health\ud800", "Health\ufffd"),
        ("\udc00 first", "\ufffd first"),
        # bidirectional overrides and isolates go (a text shown in another order); the marks stay
        ("a\u202eb\u2066c\u2069d\u202ae", "abcde"),
        ("x\u200fy\u200ez", "x\u200fy\u200ez"),
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


def _el(html):
    return lxml.html.fragment_fromstring(html, create_parent="div")


@pytest.mark.parametrize(
    "html, expected",
    [
        ("<p>Hello <em>big</em> world</p>", "Hello big world"),
        ("<p>a<br>b</p>", "a b"),
        ("<p>one</p><p>two</p>", "one two"),
        ("<p>text<script>var x = 1;</script><style>p{}</style> after</p>", "text after"),
        ("<p>shown<noscript>hidden</noscript><svg><title>icon</title></svg></p>", "shown"),
        ("<p>a <span hidden>secret</span>b</p>", "a b"),
        ("<p>tail <!-- comment --> kept</p>", "tail kept"),
        ("<p>&nbsp;</p>", None),
    ],
)
def test_element_text(html, expected):
    assert element_text(_el(html)) == expected


def test_element_text_of_a_leaf_and_of_junk():
    assert element_text(_el("<span>  leaf\xa0text </span>")[0]) == "leaf text"
    assert element_text(_el("<script>x()</script>")[0]) is None
    assert element_text(None) is None
    assert element_text("not an element") is None


def test_element_text_survives_deep_nesting():
    deep = lxml.html.fromstring("<div>" + "<span>" * 3000 + "deep" + "</span>" * 3000 + "</div>")
    assert element_text(deep) in ("deep", None)  # the parser may cap depth; it must not raise


@pytest.mark.parametrize(
    "raw, labels, expected",
    [
        ("Source: News websites", ("Source",), "News websites"),
        ("source:Agencies", ("Source",), "Agencies"),
        ("By Karim Haddad", ("By",), "Karim Haddad"),
        ("Byron Smith", ("By",), "Byron Smith"),
        ("Updated: 1 Aug 2025 09:35", ("Updated",), "1 Aug 2025 09:35"),
        ("Source:", ("Source",), None),
        ("By", ("By",), None),  # the byline's label before an empty name
        ("by ", ("By",), None),
        (None, ("Source",), None),
    ],
)
def test_strip_label(raw, labels, expected):
    assert strip_label(raw, *labels) == expected


def test_join_blocks_and_count_words():
    body = join_blocks(["First\xa0 block ", "", "  ", "Second&nbsp;one"])
    assert body == "First block\n\nSecond one"
    assert count_words(body) == 4
    assert join_blocks([]) is None
    assert join_blocks("single") == "single"
    assert join_blocks(7) is None
    assert count_words(None) is None
    assert count_words("") == 0


@pytest.mark.parametrize(
    "raw",
    [
        "one",
        " two  words ",
        "tab\tand\u00a0nbsp\u2003em",
        "a\x1cb\x85c\u3000d",
        "<p>tag</p> &amp; x",
        "\x00 a \x7f b",
        "x" * 50,
    ],
)
def test_count_clean_words_counts_a_cleaned_text_like_a_split(raw):
    text = clean_text(raw)
    assert count_clean_words(text) == count_words(text)


# Every character str.split() takes for whitespace, the space among them.
_WHITESPACE = [chr(c) for c in range(0x3001) if len(("a" + chr(c) + "b").split()) == 2]


@pytest.mark.parametrize("space", _WHITESPACE)
@pytest.mark.parametrize("shape", ["{s}a", "a{s}", "a{s}b", "a {s}b", "a{s}{s}b", "a\x01{s}b", "&amp;{s}a<b>c</b>"])
def test_clean_text_skips_no_whitespace_when_a_text_looks_clean(shape, space):
    # A text already clean is returned without splitting it again; any other whitespace is collapsed.
    raw = shape.format(s=space)
    assert clean_text(raw) == clean_text(" ".join(raw.split()))
    assert clean_text(raw) == " ".join(clean_text(raw).split())
    assert clean_text(clean_text(raw)) == clean_text(raw)


def test_count_clean_words_refuses_what_is_no_text():
    assert count_clean_words(None) is None
    assert count_clean_words("") is None


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Japan, Asia,China , South Korea", ["Japan", "Asia", "China", "South Korea"]),
        ("Japan,Asia,Japan", ["Japan", "Asia"]),
        (["OPEC+", " Oil ", "", None, 3], ["OPEC+", "Oil", "3"]),
        ("", []),
        (None, []),
        ({"a": 1}, []),
    ],
)
def test_split_keywords(raw, expected):
    assert split_keywords(raw) == expected


@pytest.mark.parametrize(
    "raw, expected", [("#Iraq", "Iraq"), ("## Iraq", "Iraq"), ("#", None), ("C#", "C#"), (" Gaza ", "Gaza")]
)
def test_tag_name(raw, expected):
    assert tag_name(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Al Mayadeen English", ["Al Mayadeen English"]),
        ("By Karim Haddad, Leila Mansour", ["Karim Haddad", "Leila Mansour"]),
        ({"@type": "Person", "name": "Karim Haddad"}, ["Karim Haddad"]),
        ([{"name": "A"}, {"name": "B"}, "C", {"url": "x"}], ["A", "B", "C"]),
        (["Karim Haddad", "Karim Haddad"], ["Karim Haddad"]),
        (None, []),
        (5, []),
    ],
)
def test_split_names(raw, expected):
    assert split_names(raw) == expected


# --- identifiers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1689403", "1689403"),
        (1689403, "1689403"),
        (" 1689403 ", "1689403"),
        ("article-1689403", "1689403"),
        ("abc", None),
        ("12a3", None),
        (0, None),
        ("0", None),
        ("000", None),
        ("100", "100"),
        (-5, None),
        (True, None),
        (None, None),
        ("", None),
    ],
)
def test_to_post_id(raw, expected):
    assert to_post_id(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("article", "article"),
        ("Video", "video"),
        ("video.other", "video"),
        ("infograph", "infograph"),
        ("gallery", "gallery"),
        ("website", None),
        ("", None),
        (None, None),
    ],
)
def test_to_kind(raw, expected):
    assert to_kind(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("en", "en"),
        ("EN", "en"),
        ("en-US", "en"),
        ("en_US", "en"),
        ("english!", None),
        (None, None),
    ],
)
def test_to_language(raw, expected):
    assert to_language(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("News", "News"),
        ("in-pictures", "In Pictures"),
        ("IN PICTURES", "In Pictures"),
        ("Infographs", "Infographs"),
        ("videos", "Videos"),
        ("Politics", None),
        ("", None),
        (None, None),
    ],
)
def test_to_section_group(raw, expected):
    assert to_section_group(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Politics", "Politics"),
        ("Arts &amp; Culture", "Arts & Culture"),
        ("NewsFeed", "NewsFeed"),
        ("politics", None),  # the URL's key, not the section's name
        ("arts-culture", None),
        ("", None),
        (None, None),
    ],
)
def test_to_section_name(raw, expected):
    assert to_section_name(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("in-pictures", "In Pictures"),
        ("news", "News"),
        ("video-features", "Video Features"),
        ("News Politics", None),
        ("", None),
        (None, None),
    ],
)
def test_title_from_key(raw, expected):
    assert title_from_key(raw) == expected


# --- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        (5, 5),
        ("5", 5),
        ("1,234", 1234),
        (3.9, 3),
        (-1, None),
        ("1,23", None),
        ("x", None),
        (True, None),
        (float("nan"), None),
        (float("inf"), None),
    ],
)
def test_to_int(raw, expected):
    assert to_int(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1 Shares", 1),
        ("1,234 Shares", 1234),
        ("24", 24),
        (24, 24),
        ("1.2K Shares", 1200),
        ("3M shares", 3_000_000),
        ("Shares", None),
        ("", None),
        (None, None),
        ([], None),
    ],
)
def test_parse_count(raw, expected):
    assert parse_count(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("4 Min Read", 4),
        ("12 min read", 12),
        ("Read time: 3 minutes", 3),
        ("7", 7),
        (7, 7),
        ("Min Read", None),
        (None, None),
    ],
)
def test_parse_read_time(raw, expected):
    assert parse_read_time(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("PT1M48S", 108),
        ("PT4M35S", 275),
        ("PT1H2M3S", 3723),
        ("pt45s", 45),
        ("P1DT1S", 86401),
        ("PT1.5S", 2),
        ("00:01:48", 108),
        ("01:48", 108),
        ("1:00:00", 3600),
        ("108", 108),
        (108, 108),
        (108.4, 108),
        ("PT", None),
        ("P", None),
        ("00:61:00", None),
        ("-5", None),
        (-5, None),
        ("soon", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_duration(raw, expected):
    assert parse_duration(raw) == expected


# --- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        # visible dates are Beirut local time: summer +03:00, winter +02:00
        ("18 Aug 2023 21:45", "2023-08-18T18:45:00Z"),
        ("11 Dec 2024 19:30", "2024-12-11T17:30:00Z"),
        ("14 Feb 2025 11:00", "2025-02-14T09:00:00Z"),
        ("18 August 2023 21:45", "2023-08-18T18:45:00Z"),
        ("Aug 18, 2023 9:45 pm", "2023-08-18T18:45:00Z"),
        ("18 Aug 2023", "2023-08-17T21:00:00Z"),
        ("Updated: 1 Aug 2025 09:35", "2025-08-01T06:35:00Z"),
        # tawsiyat: "YYYY-MM-DD HH:MM:SS", local time
        ("2023-08-18 21:45:00", "2023-08-18T18:45:00Z"),
        ("2024-12-11 19:30:00", "2024-12-11T17:30:00Z"),
        ("2025-07-31", "2025-07-30T21:00:00Z"),
        # explicit offsets and UTC
        ("2023-08-18T21:45:00+03:00", "2023-08-18T18:45:00Z"),
        ("2024-12-11T19:30:00+02:00", "2024-12-11T17:30:00Z"),
        ("2023-08-18T21:45:00+0300", "2023-08-18T18:45:00Z"),
        ("2023-08-18T18:45:00Z", "2023-08-18T18:45:00Z"),
        ("2023-08-18T18:45:00.123z", "2023-08-18T18:45:00Z"),
        ("2023-08-18T14:45:00-04:00", "2023-08-18T18:45:00Z"),
        ("Mon, 04 Aug 2025 10:20:00 +0300", "2025-08-04T07:20:00Z"),
        (datetime(2023, 8, 18, 21, 45), "2023-08-18T18:45:00Z"),
        (datetime(2023, 8, 18, 18, 45, tzinfo=UTC), "2023-08-18T18:45:00Z"),
        (date(2024, 12, 11), "2024-12-10T22:00:00Z"),
    ],
)
def test_to_utc_iso(raw, expected):
    assert to_utc_iso(raw) == expected


@pytest.mark.parametrize(
    "raw, precision",
    [
        ("2023-08-18T21:45:00+03:00", 2),
        ("2023-08-18T18:45:00Z", 2),
        ("2023-08-18T21:45:00+0300", 2),
        ("Fri, 18 Aug 2023 18:45:00 GMT", 2),
        (datetime(2023, 8, 18, 18, 45, tzinfo=UTC), 2),
        ("2023-08-18T18:45:00", 1),
        ("2023-08-18 21:45:00", 1),
        ("18 Aug 2023 21:45", 1),
        (datetime(2023, 8, 18, 18, 45), 1),
        ("2023-08-18", 0),
        ("18 Aug 2023", 0),
        (date(2023, 8, 18), 0),
    ],
)
def test_date_precision(raw, precision):
    assert date_precision(raw) == precision


@pytest.mark.parametrize(
    "raw, expected",
    [
        # Lebanon moves clocks forward at 00:00 on the last Sunday of March (31 Mar 2024) ...
        ("30 Mar 2024 23:30", "2024-03-30T21:30:00Z"),
        ("31 Mar 2024 01:30", "2024-03-30T22:30:00Z"),
        # ... and back at 00:00 on the last Sunday of October (27 Oct 2024): 23:00-24:00 repeats.
        ("26 Oct 2024 22:30", "2024-10-26T19:30:00Z"),
        ("27 Oct 2024 00:30", "2024-10-26T22:30:00Z"),
        ("28 Oct 2024 12:00", "2024-10-28T10:00:00Z"),
    ],
)
def test_to_utc_iso_dst_edges(raw, expected):
    assert to_utc_iso(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "junk",
        "",
        "2023-02-30 10:00:00",
        "32 Aug 2023",
        "18 Foo 2023",
        "18 Aug 2023 25:61",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-12:00",
        "2023-08-18T21:45:00+99:00",
        None,
        12,
        [],
        {"date": "2023-08-18"},
        "x" * 500,
    ],
)
def test_to_utc_iso_junk(raw):
    assert to_utc_iso(raw) is None


# --- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("/news/health/who-warns", "https://english.almayadeen.net/news/health/who-warns"),
        ("https://english.almayadeen.net/news/x/", "https://english.almayadeen.net/news/x"),
        ("http://www.english.almayadeen.net/news/x?utm_source=a&utm_medium=b", "https://english.almayadeen.net/news/x"),
        ("/news/politics?page=2", "https://english.almayadeen.net/news/politics?page=2"),
        ("other-article", "https://english.almayadeen.net/news/politics/other-article"),
        ("https://www.youtube.com/embed/q7TfD3bK2aE", "https://www.youtube.com/embed/q7TfD3bK2aE"),
        ("javascript:void(0)", None),
        ("mailto:x@y.z", None),
        ("http://[::1", None),
        ("", None),
        (None, None),
        # a URL never holds whitespace: a browser drops tabs and newlines and escapes the rest
        ("/Content/a (1).jpg", "https://english.almayadeen.net/Content/a%20(1).jpg"),
        ("/Content/a\u00a0b.jpg?x=1\t2", "https://english.almayadeen.net/Content/a%20b.jpg?x=1%202"),
        # an escaped unreserved character is that character (a page URL is one URL, however written)
        ("/news/politics/iraqs%2Dpmf%2dlaw", "https://english.almayadeen.net/news/politics/iraqs-pmf-law"),
        ("/Content/a%2fb%20c.jpg", "https://english.almayadeen.net/Content/a%2Fb%20c.jpg"),
    ],
)
def test_public_url(raw, expected):
    assert public_url(raw, BASE) == expected


def test_public_url_resolves_against_the_page_not_a_cached_one():
    assert public_url("x", "https://english.almayadeen.net/a/b") == "https://english.almayadeen.net/a/x"
    assert public_url("x", "https://english.almayadeen.net/c/d") == "https://english.almayadeen.net/c/x"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("/news/politics/a-slug/?utm_source=x&utm_medium=y", "https://english.almayadeen.net/news/politics/a-slug"),
        ("/news/politics/a-slug?page=2", "https://english.almayadeen.net/news/politics/a-slug"),
        ("https://example.com/news/politics/a-slug", None),
        ("#", "https://english.almayadeen.net/news/politics/some-article"),
    ],
)
def test_item_url(raw, expected):
    assert item_url(raw, BASE) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("/Content/uploadsimages/a.jpg", "https://english.almayadeen.net/Content/uploadsimages/a.jpg"),
        ("data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP", None),
        ("/Content/images/placeholder-16x9.jpg", None),
        ("/a.webp 1x, /b.webp 2x", "https://english.almayadeen.net/a.webp"),
        ("/w_300,h_200/a.jpg", "https://english.almayadeen.net/w_300,h_200/a.jpg"),
        (None, None),
    ],
)
def test_image_url(raw, expected):
    assert image_url(raw, BASE) == expected


# --- media ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "caption, credit, expected",
    [
        (
            "President Joe Biden meets Kishida. on May 2022. (AP)",
            None,
            ("President Joe Biden meets Kishida. on May 2022.", "AP"),
        ),
        (
            "World military expenditure in 2024 (Al Mayadeen English)",
            None,
            ("World military expenditure in 2024", "Al Mayadeen English"),
        ),
        ("A man cools off at a public fountain", None, ("A man cools off at a public fountain", None)),
        ("Pilgrims at dawn", "(AP)", ("Pilgrims at dawn", "AP")),
        ("Pilgrims at dawn (AP)", "AP", ("Pilgrims at dawn", "AP")),
        ("Talks (file photo) in Rome", None, ("Talks (file photo) in Rome", None)),
        ("(AP)", None, (None, "AP")),
        (None, None, (None, None)),
        (None, "  (Reuters) ", (None, "Reuters")),
    ],
)
def test_split_credit(caption, credit, expected):
    assert split_credit(caption, credit) == expected


def test_normalize_image():
    assert normalize_image({"url": ["data:image/gif;base64,x", "/a.jpg"], "caption": "Cap (AP)"}, BASE) == {
        "url": "https://english.almayadeen.net/a.jpg",
        "caption": "Cap",
        "credit": "AP",
    }
    assert normalize_image("https://english.almayadeen.net/b.jpg") == {
        "url": "https://english.almayadeen.net/b.jpg",
        "caption": None,
        "credit": None,
    }
    assert normalize_image({"caption": "no url"}) is None
    assert normalize_image(["not", "a", "dict"]) is None
    assert normalize_images([{"url": "/a.jpg"}, None, {"url": ""}], BASE) == [
        {"url": "https://english.almayadeen.net/a.jpg", "caption": None, "credit": None}
    ]
    assert normalize_images("nope") == []


def test_normalize_link():
    link = {"url": "/news/x/", "title": " Title &amp; more ", "relation": "read_more"}
    assert normalize_link(link, BASE) == {
        "url": "https://english.almayadeen.net/news/x",
        "title": "Title & more",
        "relation": "read_more",
    }
    assert normalize_link({**link, "title": None}, BASE)["title"] == ""  # an untitled link is still a link
    assert normalize_link({**link, "relation": "most_read"}, BASE) is None
    assert normalize_link({**link, "url": "javascript:x"}, BASE) is None
    assert normalize_links([link, {"url": None, "relation": "read_next"}, 3], BASE) == [normalize_link(link, BASE)]
    assert normalize_links(None) == []


# --- embedded JSON --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('{"a": 1}', {"a": 1}),
        ('[{"a": 1}]', [{"a": 1}]),
        ('{\n  "a": [1, 2,],\n  "b": 2,\n}', {"a": [1, 2], "b": 2}),
        ('{\n  "headline": "Say "hi" now",\n  "b": 1\n}', {"headline": 'Say "hi" now', "b": 1}),
        ('<!--{"a": 1}-->', {"a": 1}),
        ('{"a": "tab\there"}', {"a": "tab\there"}),
        ('{"a": ', None),
        ("not json", None),
        ("", None),
        (None, None),
        ("[" * 100_000 + "]" * 100_000, None),
    ],
)
def test_parse_json_lenient(raw, expected):
    assert parse_json_lenient(raw) == expected


# --- nothing raises -------------------------------------------------------------------------------

JUNK = [
    None,
    "",
    " ",
    0,
    -1,
    10**30,
    1.5,
    float("nan"),
    True,
    [],
    [None],
    {},
    {"url": None},
    b"\xff\xfe",
    "\x00\x01\x02",
    "<script>alert(1)</script>",
    "&#0;&#xD800;&bogus;",
    "\ud800",
    "x" * 100_000,
    object(),
    ("tuple",),
    "http://[::1",
    "P" * 1000,
    "9" * 400,
]
NORMALISERS = [
    collapse_whitespace,
    clean_text,
    element_text,
    strip_label,
    join_blocks,
    count_words,
    split_keywords,
    split_names,
    to_post_id,
    to_kind,
    to_language,
    title_from_key,
    to_section_group,
    to_int,
    parse_count,
    parse_read_time,
    parse_duration,
    to_utc_iso,
    public_url,
    item_url,
    image_url,
    clean_credit,
    split_credit,
    normalize_image,
    normalize_images,
    normalize_link,
    normalize_links,
    parse_json_lenient,
]


@pytest.mark.parametrize("normaliser", NORMALISERS, ids=lambda f: f.__name__)
def test_normalisers_never_raise(normaliser):
    for junk in JUNK:
        normaliser(junk)
