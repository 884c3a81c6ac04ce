"""TickerPage on the stored home page and on pages whose ticker was changed at test time."""

from __future__ import annotations

import glob

from scrapy.http import HtmlResponse

from mayadeen.pages.ticker import TickerEntry, TickerPage
from tests.fixture_server import FIXTURES
from tests.ticker_pages import STORED_FLASHES, home_html, item, stored_items, with_ticker, without_ticker

HOME = "https://english.almayadeen.net/"


def read(page_html: str, url: str = HOME):
    return TickerPage(HtmlResponse(url=url, body=page_html.encode("utf-8"), encoding="utf-8")).read()


def test_stored_home_page_gives_the_ten_flashes_exactly():
    reading = read(home_html())
    assert reading.found
    assert reading.entries == [TickerEntry(text, time, None, "en") for time, text in STORED_FLASHES]
    assert not reading.problems and not reading.details


def test_every_stored_page_with_a_ticker_gives_the_same_flashes():
    pages = [
        p
        for p in glob.glob(str(FIXTURES / "www" / "**" / "*.html"), recursive=True)
        if 'id="breaking-ticker"' in open(p, encoding="utf-8").read()
    ]
    assert len(pages) > 50  # articles, listings, tags, authors, 404...
    for path in pages:
        entries = read(open(path, encoding="utf-8").read(), HOME + "news").entries
        assert [(e.time, e.text) for e in entries] == STORED_FLASHES, path


def test_broken_or_missing_time_keeps_the_flash_without_a_time():
    items = [
        item("yesterday", "Flash with a broken time."),
        item(None, "Flash without a time."),
        item("2025-08-04", "Flash with a day only."),
        item("2025-08-04T15:30:00Z", "Flash in UTC."),
    ]
    reading = read(with_ticker(items))
    assert [(e.text, e.time) for e in reading.entries] == [
        ("Flash with a broken time.", None),
        ("Flash without a time.", None),
        ("Flash with a day only.", None),
        ("Flash in UTC.", "2025-08-04T15:30:00Z"),
    ]
    assert reading.problems == {"bad_time": 3}
    assert "item 1: data-time 'yesterday' is not a time" in reading.details


def test_empty_and_duplicated_items_are_left_out_and_counted():
    first, second = stored_items()[:2]
    items = [
        first,
        item("2025-08-04T15:20:00+03:00", "   "),
        '<li class="breaking-ticker__item"></li>',
        first,
        second,
        item("2025-08-04T15:02:00+03:00", STORED_FLASHES[1][1].replace(" ", "  \n ")),
    ]
    reading = read(with_ticker(items))
    assert [(e.time, e.text) for e in reading.entries] == STORED_FLASHES[:2]
    assert reading.problems == {"empty": 2, "duplicate": 2}


def test_markup_inside_an_item_gives_the_text_a_reader_sees():
    items = [
        item(
            "2025-08-04T15:40:00+03:00",
            'Israeli <b>media</b>: &quot;Strike&quot; on <span class="x">Gaza</span><script>var a = "no";</script>'
            "<br>port &amp; city",
            raw=True,
        ),
        item(
            "2025-08-04T15:41:00+03:00", 'See <a href="/news/politics/some-story?utm_source=x">the story</a>', raw=True
        ),
        item("2025-08-04T15:42:00+03:00", '<a href="https://example.org/elsewhere/">Elsewhere</a>', raw=True),
    ]
    reading = read(with_ticker(items))
    assert [(e.time, e.text, e.url) for e in reading.entries] == [
        ("2025-08-04T12:40:00Z", 'Israeli media: "Strike" on Gaza port & city', None),
        ("2025-08-04T12:41:00Z", "See the story", "https://english.almayadeen.net/news/politics/some-story"),
        ("2025-08-04T12:42:00Z", "Elsewhere", "https://example.org/elsewhere"),
    ]
    assert not reading.problems


def test_missing_ticker_and_empty_ticker_differ():
    assert not read(without_ticker()).found
    empty = read(with_ticker([]))
    assert empty.found and empty.entries == []


def test_language_from_the_page():
    page = home_html().replace('<html lang="en"', '<html lang="en-GB"', 1)
    assert read(page).entries[0].language == "en"
    page = home_html().replace('<html lang="en"', '<html lang="ar"', 1)
    assert read(page).entries[0].language == "ar"
    page = home_html().replace('<html lang="en"', "<html", 1)
    assert read(page).entries[0].language == "en"
