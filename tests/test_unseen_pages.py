"""Pages nobody has captured: NEW item pages derived from the stored ones by consistent edits.

Each derivation edits a fact in EVERY layer that carries it (visible DOM, ``<head>`` meta, JSON-LD,
tawsiyat, breadcrumb), so the page stays self-consistent and its record is known by construction:
the stored expected record with the same edit. Every derived page is then also checked with one
metadata layer removed or broken, the way the site README says real pages vary.
"""

from __future__ import annotations

import json
import re
from datetime import UTC

import pytest

from tests.test_article_page import (
    EXPECTED,
    PUBLIC,
    TAWSIYAT,
    _edit_jsonld,
    _is,
    assert_record,
    both,
    jsonld_array,
    jsonld_dates_utc,
    jsonld_graph,
    jsonld_trailing_commas,
    no_breadcrumb,
    no_canonical,
    no_jsonld,
    no_meta,
    no_tawsiyat,
    page,
    paragraphs_in_divs,
    stored_html,
    tawsiyat_invalid,
    time_without_datetime,
)

NATO = f"{PUBLIC}/news/politics/why-increase-of-us-alliances-in-asia-does-not-mean-an-asian-nato-time"
OPINION = f"{PUBLIC}/articles/opinion/trading-in-local-currencies-is-quietly-redrawing-the-map-of-global-finance"
OPEC = f"{PUBLIC}/news/economy/opec-agrees-to-another-large-oil-output-hike-for-september"
SPORTS = f"{PUBLIC}/news/sports/saudi-arabia-confirmed-as-host-of-2034-fifa-world-cup"
MP4 = f"{PUBLIC}/videos/newsfeed/firefighters-battle-wildfires-in-syrias-latakia-countryside"
HAJJ = f"{PUBLIC}/in-pictures/in-pictures-hajj-pilgrims-gather-at-mount-arafat"
INFOGRAPH = f"{PUBLIC}/infographs/global-military-spending-hits-record-2-7-trillion-in-2024"


def expected_of(url: str) -> dict:
    return json.loads(json.dumps(next(e for e in EXPECTED.values() if e["url"] == url)))


# --- layer editors --------------------------------------------------------------------------------


def edit_tawsiyat(html: str, edit) -> str:
    def sub(m):
        data = json.loads(m.group(2))
        edit(data)
        return m.group(1) + json.dumps(data) + m.group(3)

    return TAWSIYAT.sub(sub, html)


def edit_article_ld(html: str, edit) -> str:
    def each(block):
        if isinstance(block, dict) and str(block.get("@type", "")).endswith("Article"):
            edit(block)
        return block

    return _edit_jsonld(html, each)


def drop_meta(html: str, *keys: str) -> str:
    for key in keys:
        html = re.sub(rf'\s*<meta (?:property|name)="{re.escape(key)}" content="[^"]*">', "", html)
    return html


def drop_element(html: str, open_pattern: str, tag: str) -> str:
    """Remove the first element whose opening tag matches, with its (nested same-tag) content."""
    m = re.search(open_pattern, html)
    assert m, open_pattern
    depth = 1
    for t in re.compile(rf"<(/?){tag}\b[^>]*>").finditer(html, m.end()):
        depth += -1 if t.group(1) else 1
        if depth == 0:
            return html[: m.start()] + html[t.end() :]
    raise AssertionError(f"unclosed {tag}")


def set_body(expected: dict, blocks: list[str]) -> None:
    expected["body"] = "\n\n".join(blocks)
    expected["word_count"] = len(expected["body"].split())


# --- derived pages: (url, html, expected) ---------------------------------------------------------


def new_headline():
    old = "Trading in local currencies is quietly redrawing the map of global finance"
    new = "Central banks quietly stockpile gold as reserve strategies shift"
    html = stored_html(OPINION).replace(old, new)
    assert old not in html
    return OPINION, html, dict(expected_of(OPINION), headline=new)


def _move_section(url, old_key, old_name, new_key, new_name):
    new_url = url.replace(f"/{old_key}/", f"/{new_key}/")
    html = stored_html(url).replace(url, new_url).replace(url[len(PUBLIC) :], new_url[len(PUBLIC) :])
    html = html.replace(f'content="{old_name}"', f'content="{new_name}"')
    html = html.replace(f'"section": "{old_name}"', f'"section": "{new_name}"')
    html = html.replace(f"section-{old_key.replace('/', '-')}", f"section-{new_key.replace('/', '-')}")
    html = edit_tawsiyat(html, lambda d: [c.update(value=new_name) for c in d["classes"] if c["key"] == "category"])

    def ld(block):
        if block.get("articleSection") == old_name:
            block["articleSection"] = new_name
        if _is(block, "BreadcrumbList"):
            for entry in block["itemListElement"]:
                if entry["name"] == old_name:
                    entry.update(name=new_name, item=f"{PUBLIC}/{new_key}")
        return block

    html = _edit_jsonld(html, ld)
    expected = dict(expected_of(url), url=new_url, section=new_name)
    return new_url, html, expected


def section_economy():
    return _move_section(NATO, "news/politics", "Politics", "news/economy", "Economy")


def section_blog():
    return _move_section(OPINION, "articles/opinion", "Opinion", "articles/blog", "Blog")


def _move_date(url, old: dict, new: dict, utc: str):
    """``old``/``new``: the same moment as ISO with offset, tawsiyat local and visible text."""
    html = stored_html(url)
    for key in ("iso", "local", "visible"):
        assert old[key] in html, old[key]
        html = html.replace(old[key], new[key])
    return url, html, dict(expected_of(url), date_published=utc, date_modified=utc)


NATO_DATE = {"iso": "2023-08-18T21:45:00+03:00", "local": "2023-08-18 21:45:00", "visible": "18 Aug 2023 21:45"}
SPORTS_DATE = {"iso": "2024-12-11T19:30:00+02:00", "local": "2024-12-11 19:30:00", "visible": "11 Dec 2024 19:30"}


def date_spring_forward():  # first summer hours: 02:30 on the last Sunday of March is UTC+3
    return _move_date(
        NATO,
        NATO_DATE,
        {"iso": "2024-03-31T02:30:00+03:00", "local": "2024-03-31 02:30:00", "visible": "31 Mar 2024 02:30"},
        "2024-03-30T23:30:00Z",
    )


def date_last_winter_day():  # the Saturday before: still UTC+2
    return _move_date(
        NATO,
        NATO_DATE,
        {"iso": "2024-03-30T23:30:00+02:00", "local": "2024-03-30 23:30:00", "visible": "30 Mar 2024 23:30"},
        "2024-03-30T21:30:00Z",
    )


def date_fall_back():  # 00:30 on the last Sunday of October is already winter time, UTC+2
    return _move_date(
        NATO,
        NATO_DATE,
        {"iso": "2024-10-27T00:30:00+02:00", "local": "2024-10-27 00:30:00", "visible": "27 Oct 2024 00:30"},
        "2024-10-26T22:30:00Z",
    )


def date_winter_to_summer():
    return _move_date(
        SPORTS,
        SPORTS_DATE,
        {"iso": "2024-06-11T19:30:00+03:00", "local": "2024-06-11 19:30:00", "visible": "11 Jun 2024 19:30"},
        "2024-06-11T16:30:00Z",
    )


def _without_main_image(url):
    html = stored_html(url)
    expected = expected_of(url)
    html = drop_element(html, r'<div class="article-main-media">', "div")
    html = drop_meta(html, "og:image", "og:image:width", "og:image:height", "og:image:alt", "twitter:image")
    html = edit_article_ld(html, lambda b: b.pop("image", None))
    html = edit_tawsiyat(html, lambda d: d.update(thumbnail=""))
    assert expected["image"]["url"] not in html
    expected["image"] = None
    expected["images"] = expected["images"][1:]
    return url, html, expected


def no_image():
    return _without_main_image(OPINION)


def no_main_image_but_body_image():
    url, html, expected = _without_main_image(OPEC)
    assert expected["images"], "OPEC has a body image"
    return url, html, expected


WRITERS = ["Karim Haddad", "Leila Mansour", "Omar Nasser"]


def several_writers():
    html = stored_html(OPINION)
    byline = ", ".join(
        f'<a class="author-name" href="/authors/{n.lower().replace(" ", "-")}" rel="author">{n}</a>' for n in WRITERS
    )
    html = html.replace('<a class="author-name" href="/authors/karim-haddad" rel="author">Karim Haddad</a>', byline)
    html = html.replace(
        '<meta name="author" content="Karim Haddad">', f'<meta name="author" content="{", ".join(WRITERS)}">'
    )
    html = edit_article_ld(
        html,
        lambda b: b.update(
            author=[
                {"@type": "Person", "name": n, "url": f"{PUBLIC}/authors/{n.lower().replace(' ', '-')}"}
                for n in WRITERS
            ]
        ),
    )

    def tw(d):
        d["author"] = ", ".join(WRITERS)
        d["classes"] = [c for c in d["classes"] if c["key"] != "writer"] + [
            {"key": "writer", "value": n} for n in WRITERS
        ]

    html = edit_tawsiyat(html, tw)
    return OPINION, html, dict(expected_of(OPINION), authors=WRITERS)


def several_writers_plain_string_author_only():
    """Visible byline gone; JSON-LD author a plain string naming all writers."""
    url, html, expected = several_writers()
    html = re.sub(r'<li class="article-info__author">.*?</li>', "", html)
    html = edit_article_ld(html, lambda b: b.update(author=" and ".join([", ".join(WRITERS[:-1]), WRITERS[-1]])))
    return url, html, expected


def several_writers_text_byline():
    """A byline written as plain text ("By A, B and C"), no ``.author-name`` (read before the other layers)."""
    url, html, expected = several_writers()
    html = re.sub(
        r'(<li class="article-info__author">).*?(</li>)',
        lambda m: m.group(1) + "By " + ", ".join(WRITERS[:-1]) + " and " + WRITERS[-1] + m.group(2),
        html,
    )
    return url, html, expected


def staff_author_plain_string_only():
    url = NATO
    html = re.sub(r'<li class="article-info__author">.*?</li>', "", stored_html(url))
    html = edit_article_ld(html, lambda b: b.update(author="Al Mayadeen English"))
    return url, html, expected_of(url)


def _without_tags(url):
    html = stored_html(url)
    html = drop_element(html, r'<div class="article-tags">', "div")
    html = drop_meta(html, "article:tag", "keywords", "news_keywords")
    html = edit_article_ld(html, lambda b: b.pop("keywords", None))

    def tw(d):
        d["keywords"] = ""
        d["classes"] = [c for c in d["classes"] if c["key"] != "tag"]

    html = edit_tawsiyat(html, tw)
    html = re.sub(r', "tags": \[[^\]]*\]', ', "tags": []', html)
    return url, html, dict(expected_of(url), tags=[])


def no_tags():
    return _without_tags(OPINION)


def video_no_tags():
    return _without_tags(MP4)


def _without_read_next(url):
    html = drop_element(stored_html(url), r'<section class="read-next" id="read-next">', "section")
    expected = expected_of(url)
    expected["related"] = [r for r in expected["related"] if r["relation"] != "read_next"]
    return url, html, expected


def no_read_next():
    return _without_read_next(NATO)


def no_read_next_at_all():  # a video has only Read Next links: nothing related left
    url, html, expected = _without_read_next(MP4)
    assert expected["related"] == []
    return url, html, expected


YT = "https://www.youtube.com/embed/Xy12AbCdE9k"


def video_mp4_to_youtube():
    url = MP4
    html = stored_html(url)
    exp = expected_of(url)
    mp4, poster = exp["video"]["url"], exp["image"]["url"]
    html = re.sub(
        r'<video class="video-player__video".*?</video>',
        f'<img class="lazy video-player__poster" '
        f'src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" '
        f'data-src="{poster}" alt="poster" width="1280" height="720">\n'
        f'    <iframe class="video-player__iframe" src="{YT}" title="t" allowfullscreen loading="lazy"></iframe>',
        html,
        count=1,
        flags=re.S,
    )
    html = html.replace(f'<meta property="og:video" content="{mp4}">', f'<meta property="og:video:url" content="{YT}">')
    html = html.replace(
        '<meta property="og:video:type" content="video/mp4">', '<meta property="og:video:type" content="text/html">'
    )
    html = html.replace(f'"contentUrl": "{mp4}"', f'"embedUrl": "{YT}"')
    assert mp4 not in html
    exp["video"] = {"url": YT, "duration_seconds": exp["video"]["duration_seconds"]}
    return url, html, exp


def video_longer_duration():
    url = MP4
    html = stored_html(url).replace('data-duration="108"', 'data-duration="3725"')
    html = (
        html.replace('"PT1M48S"', '"PT1H2M5S"')
        .replace("00:01:48", "01:02:05")
        .replace('content="108"', 'content="3725"')
    )
    html = html.replace(">01:48<", ">1:02:05<")
    exp = expected_of(url)
    exp["video"]["duration_seconds"] = 3725
    return url, html, exp


def gallery_one_image_fewer():
    url = HAJJ
    html = stored_html(url)
    exp = expected_of(url)
    gone = exp["images"][3]["url"]
    html = drop_element(html, r'<div class="gallery-slider__item" data-index="3">', "div")
    html = edit_article_ld(
        html,
        lambda b: (
            b.update(image=[i for i in b["image"] if i["url"] != gone]) if isinstance(b.get("image"), list) else None
        ),
    )
    assert gone not in html.split("<aside", 1)[0].split("</head>", 1)[1]
    exp["images"] = [i for i in exp["images"] if i["url"] != gone]
    return url, html, exp


EXTRA_BLOCKS = [
    ("<h2>A second-level heading</h2>", "A second-level heading"),
    ("<ol>\n<li>First numbered point,&nbsp;with a space.</li>\n<li>Second <em>numbered</em> point.</li>\n</ol>", None),
    ("<h4>A fourth-level heading</h4>", "A fourth-level heading"),
    (
        "<blockquote><p>A quoted statement from an official that is not a pull quote.</p></blockquote>",
        "A quoted statement from an official that is not a pull quote.",
    ),
    ("<blockquote>Unwrapped quoted text in a blockquote.</blockquote>", "Unwrapped quoted text in a blockquote."),
    ("<p><strong>A bold sub-heading</strong></p>", "A bold sub-heading"),
    ('<ul><li><a href="/tags/trade">Trade</a> flows</li></ul>', "Trade flows"),
]


def body_with_richer_markup():
    url = OPINION
    html = stored_html(url)
    exp = expected_of(url)
    marker = "Both miss what is actually happening.</p>"
    assert marker in html
    html = html.replace(marker, marker + "\n" + "\n".join(markup for markup, _ in EXTRA_BLOCKS), 1)
    blocks = exp["body"].split("\n\n")
    new = []
    for _, text in EXTRA_BLOCKS:
        new += [text] if text else ["First numbered point, with a space.", "Second numbered point."]
    set_body(exp, blocks[:1] + new + blocks[1:])
    return url, html, exp


def big_numbers():
    url = OPINION
    html = stored_html(url).replace(
        '<span class="share-count" data-count="31">31</span> Shares',
        '<span class="share-count" data-count="1234">1,234</span> Shares',
    )
    html = html.replace(">2 Min Read<", ">12 Min Read<")
    return url, html, dict(expected_of(url), shares=1234, read_time_minutes=12)


def big_numbers_text_only():
    url = OPINION
    html = stored_html(url).replace('<span class="share-count" data-count="31">31</span> Shares', "1,234 Shares")
    html = html.replace(">2 Min Read<", ">12 Min Read<")
    return url, html, dict(expected_of(url), shares=1234, read_time_minutes=12)


def infograph_new_headline_and_section_group():
    url = INFOGRAPH
    exp = expected_of(url)
    old, new = exp["headline"], "Arms exports reach a ten-year high"
    html = stored_html(url).replace(old, new)
    return url, html, dict(exp, headline=new)


DERIVED = [
    new_headline,
    section_economy,
    section_blog,
    date_spring_forward,
    date_last_winter_day,
    date_fall_back,
    date_winter_to_summer,
    no_image,
    no_main_image_but_body_image,
    several_writers,
    several_writers_plain_string_author_only,
    several_writers_text_byline,
    staff_author_plain_string_only,
    no_tags,
    video_no_tags,
    no_read_next,
    no_read_next_at_all,
    video_mp4_to_youtube,
    video_longer_duration,
    gallery_one_image_fewer,
    body_with_richer_markup,
    big_numbers,
    big_numbers_text_only,
    infograph_new_headline_and_section_group,
]

# One metadata layer missing or broken (and a few pairs), applied on top of each derived page.
DAMAGE = [
    no_jsonld,
    jsonld_trailing_commas,
    jsonld_graph,
    jsonld_array,
    jsonld_dates_utc,
    no_breadcrumb,
    no_tawsiyat,
    tawsiyat_invalid,
    no_meta,
    no_canonical,
    time_without_datetime,
    paragraphs_in_divs,
    both(no_jsonld, no_tawsiyat),
    both(no_meta, no_tawsiyat),
    both(no_jsonld, no_meta),
]


_derived: dict = {}


def derived(derive) -> tuple[str, str, dict]:
    """``derive()``, made once per module (each derived page is checked some 18 ways, and deriving
    costs more than the check); the expected record a copy of its own."""
    if derive not in _derived:
        _derived[derive] = derive()
    url, html, expected = _derived[derive]
    return url, html, json.loads(json.dumps(expected))


@pytest.mark.parametrize("derive", DERIVED, ids=lambda d: d.__name__)
def test_derived_page_gives_the_derived_record(derive):
    url, html, expected = derived(derive)
    assert html != stored_html(expected_of(url)["url"] if url in {e["url"] for e in EXPECTED.values()} else NATO)
    assert_record(page(url, html).to_item(), expected)


def _pairs():
    for derive in DERIVED:
        for damage in DAMAGE:
            yield pytest.param(derive, damage, id=f"{derive.__name__}-{damage.__name__}")


@pytest.mark.parametrize("derive, damage", list(_pairs()))
def test_derived_page_with_a_layer_damaged(derive, damage):
    url, html, expected = derived(derive)
    assert_record(page(url, damage(html)).to_item(), expected)


@pytest.mark.parametrize("derive", DERIVED, ids=lambda d: d.__name__)
def test_derived_page_with_only_the_visible_page(derive):
    url, html, expected = derived(derive)
    if '<li class="article-info__author"' not in html:
        # The byline was removed: with every metadata layer gone too, no author may be invented.
        expected = dict(expected, authors=[])
    html = both(no_jsonld, no_meta, no_tawsiyat, no_canonical, time_without_datetime)(html)
    shows_update = "article-info__updated" in html
    assert_record(
        page(url, html).to_item(), dict(expected, date_modified=expected["date_modified"] if shows_update else None)
    )


@pytest.mark.parametrize(
    "derive", [date_spring_forward, date_fall_back, date_winter_to_summer], ids=lambda d: d.__name__
)
def test_derived_date_only_visible_day_is_midnight_beirut(derive):
    url, html, expected = derived(derive)
    html = both(no_jsonld, no_meta, no_tawsiyat, time_without_datetime)(html)
    html = re.sub(r"(<time[^>]*>\d{1,2} \w{3} \d{4}) \d{2}:\d{2}</time>", r"\1</time>", html)
    day = re.search(r"<time[^>]*>(\d{1,2} \w{3} \d{4})</time>", html).group(1)
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.strptime(day, "%d %b %Y").replace(tzinfo=ZoneInfo("Asia/Beirut"))
    want = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert page(url, html).to_item()["date_published"] == want


@pytest.mark.parametrize("derive", [several_writers, no_tags, no_image, section_economy], ids=lambda d: d.__name__)
def test_derived_tawsiyat_alone_carries_the_metadata(derive):
    """Visible byline, tags, dates and meta gone, no JSON-LD: tawsiyat still gives the facts."""
    url, html, expected = derived(derive)
    html = both(no_jsonld, no_meta)(html)
    html = re.sub(r'<li class="article-info__author">.*?</li>', "", html)
    html = re.sub(r'<li class="article-info__date">.*?</li>', "", html)
    if expected["tags"]:
        html = drop_element(html, r'<div class="article-tags">', "div")
    assert_record(page(url, html).to_item(), expected)


@pytest.mark.parametrize(
    "raw, names",
    [
        ("Karim Haddad and Leila Mansour", ["Karim Haddad", "Leila Mansour"]),
        ("By Karim Haddad, Leila Mansour & Omar Nasser", ["Karim Haddad", "Leila Mansour", "Omar Nasser"]),
        ("Alexander Anderson", ["Alexander Anderson"]),
        ("Al Mayadeen English", ["Al Mayadeen English"]),
    ],
)
def test_author_strings_split_on_and(raw, names):
    from mayadeen.normalize import split_names

    assert split_names(raw) == names
