"""End to end: `scrapy crawl sections` against the fixture server, both outputs checked record by record."""

import json
import sqlite3

import pytest

from tests.conftest import expected_records
from tests.inprocess import crawl as crawl_in_process

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
