"""The sitemap and feed spiders: what they request and the records they produce, windows included."""

import json
from datetime import date

import pytest

from mayadeen.days import DayWindow, site_day
from mayadeen.pages.discovery import read_rss, read_sitemap, sitemap_month
from mayadeen.spiders.sitemap import SitemapSpider
from tests.conftest import expected_records
from tests.fixture_server import FixtureServer, FixtureSite
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import item_paths, runs, stored

JSON_COLUMNS = {"authors", "tags", "image", "images", "video", "related"}
P = "https://english.almayadeen.net"
MONTHLY = {
    f"/sitemaps/all/sitemap-{m}.xml" for m in ("2025-8", "2025-7", "2025-6", "2025-4", "2025-2", "2024-12", "2023-8")
}


def check_outputs(result, urls: set[str]) -> None:
    """JSON Lines records and SQLite rows are exactly the expected records of ``urls``."""
    expected = expected_records()
    records = result.records()
    assert sorted(r["url"] for r in records) == sorted(urls)
    for rec in records:
        want = expected[rec["url"]]
        assert {k: rec[k] for k in want} == want
        assert set(rec) == set(want) | {"scraped_at", "content_hash"}
    rows = stored(result.sqlite)
    assert set(rows) == urls
    for url, row in rows.items():
        for key, value in expected[url].items():
            got = json.loads(row[key]) if key in JSON_COLUMNS and row[key] is not None else row[key]
            assert got == value, f"{url}: {key}"


@pytest.fixture(scope="module")
def sitemap_crawl(tmp_path_factory):
    with FixtureServer() as srv:
        yield crawl_in_process("sitemap", srv.url, tmp_path_factory.mktemp("sitemap")), srv.paths()


def test_sitemap_spider_produces_every_listed_item(sitemap_crawl):
    result, _ = sitemap_crawl
    check_outputs(result, set(expected_records()))


def test_sitemap_spider_requests(sitemap_crawl):
    result, paths = sitemap_crawl
    assert {"/robots.txt", "/sitemaps/all.xml", "/sitemaps/news.xml"} | MONTHLY <= set(paths)
    items = item_paths(paths)
    assert sorted(items) == sorted(u.removeprefix(P) for u in expected_records())  # each item once
    assert set(paths) == {"/robots.txt", "/sitemaps/all.xml", "/sitemaps/news.xml"} | MONTHLY | set(items)
    (run,) = runs(result.sqlite)
    assert run["spider"] == "sitemap" and run["finish_reason"] == "finished"
    assert json.loads(run["arguments"])["base_url"].startswith("http://127.0.0.1:")
    assert (run["items_new"], run["items_updated"], run["items_unchanged"], run["items_dropped"]) == (14, 0, 0, 0)
    assert run["requests"] == len(paths) and json.loads(run["responses_by_status"]) == {"200": len(paths)}
    assert run["errors"] == 0 and run["started_at"] and run["finished_at"]


def test_feed_spider_produces_every_item_of_the_feed(tmp_path):
    with FixtureServer() as srv:
        result = crawl_in_process("feed", srv.url, tmp_path)
        paths = srv.paths()
    check_outputs(result, set(expected_records()))
    assert set(paths) - set(item_paths(paths)) == {"/robots.txt", "/rss", "/sitemaps/news.xml"}
    assert len(item_paths(paths)) == len(set(item_paths(paths))) == 14
    assert runs(result.sqlite)[0]["spider"] == "feed"


def test_since_window_requests_only_sitemaps_and_items_changed_since(tmp_path):
    with FixtureServer() as srv:
        result = crawl_in_process("sitemap", srv.url, tmp_path, args={"since": "2025-08-01"})
        paths = srv.paths()
    # 2025-7 is requested: its lastmod in the index (1 Aug) says it holds an item changed since.
    assert {p for p in paths if p.startswith("/sitemaps/")} == {
        "/sitemaps/all.xml",
        "/sitemaps/news.xml",
        "/sitemaps/all/sitemap-2025-8.xml",
        "/sitemaps/all/sitemap-2025-7.xml",
    }
    want = {
        P + "/news/politics/un-warns-gaza-faces-water-crisis-looming-famine-under-israeli-siege",
        P + "/news/economy/opec-agrees-to-another-large-oil-output-hike-for-september",
        P + "/news/politics/iraqs-pmf-law-seen-as-test-of-sovereignty-amid-us-objections",
    }  # lastmod 1 Aug
    assert sorted(item_paths(paths)) == sorted(u.removeprefix(P) for u in want)
    check_outputs(result, want)
    assert json.loads(runs(result.sqlite)[0]["arguments"])["since"] == "2025-08-01"


def test_since_until_window_requests_only_in_window_sitemaps_and_items(tmp_path):
    with FixtureServer() as srv:
        result = crawl_in_process("sitemap", srv.url, tmp_path, args={"since": "2025-02-01", "until": "2025-06-30"})
        paths = srv.paths()
    # The news sitemap (last 7 days) cannot hold anything that old; 2024-12 ends before, 2025-7 starts after.
    assert {p for p in paths if p.startswith("/sitemaps/")} == {
        "/sitemaps/all.xml",
        "/sitemaps/all/sitemap-2025-6.xml",
        "/sitemaps/all/sitemap-2025-4.xml",
        "/sitemaps/all/sitemap-2025-2.xml",
    }
    want = {
        P + "/in-pictures/in-pictures-hajj-pilgrims-gather-at-mount-arafat",
        P + "/infographs/global-military-spending-hits-record-2-7-trillion-in-2024",
        P + "/articles/opinion/trading-in-local-currencies-is-quietly-redrawing-the-map-of-global-finance",
    }
    assert sorted(item_paths(paths)) == sorted(u.removeprefix(P) for u in want)
    check_outputs(result, want)


def test_single_day_window_is_a_beirut_day(tmp_path):
    with FixtureServer() as srv:
        crawl_in_process("sitemap", srv.url, tmp_path, args={"since": "2025-07-31", "until": "2025-07-31"})
        paths = srv.paths()
    # Palantir's lastmod 2025-07-31T21:15+03:00 is 31 Jul in Beirut; the PMF law's 1 Aug 09:35 is not.
    assert item_paths(paths) == ["/news/technology/notorious-palantir-lands-record-10bln-contract-with-the-us-army"]
    assert "/sitemaps/all/sitemap-2025-8.xml" not in paths and "/sitemaps/all/sitemap-2025-6.xml" not in paths


def test_robots_without_sitemap_lines_falls_back_to_the_index(tmp_path):
    site = FixtureSite()
    site.override("/robots.txt", "User-agent: *\nDisallow: /search\n", content_type="text/plain")
    with FixtureServer(site) as srv:
        result = crawl_in_process("sitemap", srv.url, tmp_path)
        paths = srv.paths()
    assert "/sitemaps/all.xml" in paths and MONTHLY <= set(paths)
    check_outputs(result, set(expected_records()))


def test_bad_window_argument_fails_the_run(tmp_path):
    with FixtureServer() as srv:
        result = crawl_in_process("sitemap", srv.url, tmp_path, args={"since": "1 Aug 2025"}, check=False)
        assert srv.paths() == []
    assert result.returncode == 2
    assert "-a since=1 Aug 2025: takes a day as YYYY-MM-DD" in result.log


# --- units ----------------------------------------------------------------------------------------


def test_day_window():
    w = DayWindow(date(2025, 2, 1), date(2025, 6, 30))
    assert w.contains(date(2025, 2, 1)) and w.contains(date(2025, 6, 30)) and not w.contains(date(2025, 7, 1))
    assert w.overlaps(date(2025, 6, 1), None) and not w.overlaps(date(2025, 7, 1), None)
    assert not w.overlaps(None, date(2025, 1, 31)) and w.overlaps(None, None)
    assert w.covers(date(2025, 3, 1), date(2025, 3, 2)) and not w.covers(date(2025, 3, 1), None)
    assert DayWindow(None, None).is_open
    with pytest.raises(ValueError, match="since=2025-03-01 is after -a until=2025-02-01"):
        SitemapSpider.parse_arguments({"since": "2025-03-01", "until": "2025-02-01"})


def test_site_day_is_the_beirut_day():
    assert site_day("2025-07-31T23:30:00Z") == date(2025, 8, 1)  # 02:30 in Beirut
    assert site_day("2025-01-31T22:30:00+00:00") == date(2025, 2, 1)  # winter, UTC+2
    assert site_day("Thu, 31 Jul 2025 21:15:00 +0300") == date(2025, 7, 31)
    assert site_day("2025-08-04") == date(2025, 8, 4) and site_day("4 Aug 2025") == date(2025, 8, 4)
    assert site_day("garbage") is None


def test_readers_do_not_expand_entities():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c SYSTEM "file:///etc/passwd">]>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://english.almayadeen.net/news/x/&b;&c;</loc>"
        b"</url></urlset>"
    )
    entries = read_sitemap(bomb, P).entries
    assert all("aaaa" not in e.url and "root" not in e.url for e in entries)
    rss = (
        bomb.replace(b"urlset", b"rss")
        .replace(b"<url><loc>", b"<channel><item><link>")
        .replace(b"</loc></url>", b"</link></item></channel>")
    )
    assert all("aaaa" not in e.url and "root" not in e.url for e in read_rss(rss, P))
    assert sitemap_month(P + "/sitemaps/all/sitemap-2025-8.xml") == (2025, 8)
    assert sitemap_month(P + "/sitemaps/news.xml") is None
