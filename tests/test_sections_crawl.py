"""End to end: `scrapy crawl sections` against the fixture server, both outputs checked record by record,
and its client-side listings rendered in real headless Chromium (one crawl for all: the browser's
unit tests and the crawls without a browser are test_js_listings's)."""

import json
import sqlite3

import pytest

from tests.challenge_server import is_browser
from tests.conftest import expected_records
from tests.inprocess import crawl as crawl_in_process
from tests.test_js_listings import CLIENT_SIDE_LISTINGS, MAX_PAGES, ONLY_CLIENT_SIDE, needs_chromium, path_of

JSON_COLUMNS = {"authors", "tags", "image", "images", "video", "related"}


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    from tests.fixture_server import FixtureServer

    with FixtureServer() as srv:
        result = crawl_in_process("sections", srv.url, tmp_path_factory.mktemp("sections"))
        yield result, srv


def test_every_request_went_to_the_fixture_server(crawl):
    result, srv = crawl
    # Every download Scrapy made was sent to the mirror, none was refused for leaving it, and the
    # server saw at least that many (the browser's own fetches of the listing API come on top).
    requests = result.stat("downloader/request_count")
    assert requests and requests == result.stat("mayadeen/mirror/requests")
    assert result.stat("mayadeen/mirror/blocked") is None
    assert len(srv.requests) >= requests
    assert all(h.host == srv.url.removeprefix("http://") for h in srv.requests)


def test_jsonl_records_match_expected(crawl):
    result, _ = crawl
    expected = expected_records()
    records = result.records()
    urls = [r["url"] for r in records]
    assert len(urls) == len(set(urls)), "a page was stored twice"
    # Every item page of the site: server-rendered listings, rendered client-side listings and links.
    assert set(urls) == set(expected)
    for rec in records:
        assert rec["url"] in expected, f"unexpected record {rec['url']}"
        want = expected[rec["url"]]
        for key, value in want.items():
            assert rec[key] == value, f"{rec['url']}: {key}"
        assert set(rec) == set(want) | {"scraped_at", "content_hash"}


def test_sqlite_rows_match_expected(crawl):
    result, _ = crawl
    expected = expected_records()
    con = sqlite3.connect(result.sqlite)
    con.row_factory = sqlite3.Row
    rows = {r["url"]: dict(r) for r in con.execute("SELECT * FROM articles")}
    assert set(rows) == {r["url"] for r in result.records()}
    for url, row in rows.items():
        for key, value in expected[url].items():
            got = json.loads(row[key]) if key in JSON_COLUMNS and row[key] is not None else row[key]
            assert got == value, f"{url}: {key}"
        assert row["first_seen"] and row["last_seen"]


def test_redirected_article_is_one_record(crawl):
    result, srv = crawl
    old = "/news/politics/iraqs-pmf-law-a-test-of-sovereignty-amid-us-objections"
    assert old in srv.paths()
    urls = [r["url"] for r in result.records()]
    assert (
        urls.count(
            "https://english.almayadeen.net/news/politics/iraqs-pmf-law-seen-as-test-of-sovereignty-amid-us-objections"
        )
        == 1
    )


def test_each_page_requested_once_and_robots_obeyed(crawl):
    _, srv = crawl
    paths = srv.paths()
    assert paths[0] == "/robots.txt"
    dup = {p for p in paths if paths.count(p) > 1}
    assert not dup, f"requested more than once: {dup}"
    assert not any(p.startswith("/search") for p in paths)
    assert not any("utm_" in p for p in paths)


def test_sections_argument_restricts_the_crawl(tmp_path):
    from tests.fixture_server import FixtureServer

    with FixtureServer() as srv:
        result = crawl_in_process("sections", srv.url, tmp_path, args={"sections": "articles/opinion"})
        paths = srv.paths()
    assert "/" not in paths
    assert not any(p.startswith("/news") for p in paths)
    urls = {r["url"] for r in result.records()}
    assert urls == {u for u in expected_records() if "/articles/opinion/" in u}


# -- the client-side listings, rendered ----------------------------------------------------------------


@needs_chromium
def test_rendered_crawl_finds_every_video_and_gallery(crawl):
    result, _ = crawl
    records = {r["url"] for r in result.records()}
    js_items = {u for u, rec in expected_records().items() if rec["kind"] in ("video", "gallery")}
    assert len(js_items) == 4 and js_items <= records


@needs_chromium
def test_rendered_crawl_reaches_every_api_page_and_card(crawl):
    result, srv = crawl
    paths = set(srv.paths())
    assert {path_of(u) for u in ONLY_CLIENT_SIDE} <= paths
    page2 = [h for h in srv.requests if h.path == "/api/listing?section=videos&page=2"]
    assert len(page2) == 1 and not is_browser(page2[0].headers)  # further pages: plain requests
    assert result.stat("mayadeen/js/api_pages") == 1


@needs_chromium
def test_only_client_side_listings_are_rendered(crawl):
    result, srv = crawl
    stat = result.stat
    navigations = [h.path for h in srv.requests if h.headers.get("Sec-Fetch-Mode") == "navigate"]
    assert sorted(navigations) == sorted(CLIENT_SIDE_LISTINGS)
    # Pages are kept for the next render: 7 renders in at most MAX_PAGES pages, none closed (none failed).
    rendered, reused = stat("mayadeen/js/rendered"), stat("mayadeen/browser/pages_reused") or 0
    assert rendered == len(CLIENT_SIDE_LISTINGS) == stat("playwright/page_count") + reused
    assert stat("playwright/page_count") <= MAX_PAGES and reused >= rendered - MAX_PAGES
    assert stat("mayadeen/browser/pages_closed") is None
    assert stat("playwright/page_count/max_concurrent") <= MAX_PAGES
    assert stat("playwright/context_count") == 1
    # Inside the browser only the documents and the listing API reached the server.
    browser_paths = {h.path for h in srv.requests if is_browser(h.headers)}
    assert all(p in CLIENT_SIDE_LISTINGS or p.startswith("/api/listing?") for p in browser_paths)
    assert stat("playwright/request_count/aborted") > 0
    assert stat("mayadeen/js/skipped_listings") is None and stat("mayadeen/js/errors") is None
