"""``MAYADEEN_TRACKING_PARAMS`` is honoured everywhere: in requests, in the URLs listings and discovery
files give, and in every URL of a record (its own, related links, images, the video).

The site is rebuilt at test time with a made-up tracking parameter (``cmpid``) on every URL its
pages, sitemaps, feed and listing API name; a crawl told that ``cmpid`` is a tracking parameter
must never send it and must write exactly the expected records.
"""

from __future__ import annotations

import json
import re

import pytest
from scrapy.http import HtmlResponse, TextResponse
from scrapy.settings import Settings

from mayadeen.pages.article import ArticlePage
from mayadeen.pages.discovery import read_rss, read_sitemap
from mayadeen.pages.listing import ListingPage
from mayadeen.pages.listing_api import ListingApiPage, next_api_page
from mayadeen.pages.ticker import TickerPage
from mayadeen.urls import DEFAULT_TRACKING_PARAMS, PUBLIC_URL, tracking_params
from tests.conftest import expected_records
from tests.fixture_server import FixtureServer, FixtureSite
from tests.inprocess import crawl as crawl_in_process

PARAM = "cmpid"
TRACKING = (PARAM,)
SITE_URL = re.compile(r"^(?:https?://|/(?!/))")
HTML_URL = re.compile(r'(\s(?:href|src|data-src|poster|content)=")([^"#]*)')
XML_URL = re.compile(r"(<(?:loc|link|guid)>)([^<#]*)")
ROBOTS_URL = re.compile(r"^(Sitemap: )(\S+)", re.M)
JSON_URL = re.compile(r'("url": ")([^"#]*)')


def tagged(url: str, amp: str = "&amp;") -> str:
    """``url`` with ``cmpid=spring`` added to its query (URL-looking values only)."""
    if not SITE_URL.match(url):
        return url
    return f"{url}{amp if '?' in url else '?'}{PARAM}=spring"


def tag_body(path: str, content_type: str, body: bytes) -> bytes:
    text = body.decode("utf-8")
    if "html" in content_type:
        text = HTML_URL.sub(lambda m: m[1] + tagged(m[2]), text)
    elif "xml" in content_type:
        text = XML_URL.sub(lambda m: m[1] + tagged(m[2]), text)
    elif "json" in content_type:
        text = JSON_URL.sub(lambda m: m[1] + tagged(m[2], "&"), text)
    elif path == "/robots.txt":
        text = ROBOTS_URL.sub(lambda m: m[1] + tagged(m[2], "&"), text)
    return text.encode("utf-8")


def tagged_site() -> FixtureSite:
    """The fixture site with ``cmpid=spring`` on every URL its pages and files name."""
    site = FixtureSite()
    for path, entry in site.entries.items():
        if path != "*":
            site.override(
                path,
                tag_body(path, entry["content_type"], site.body(path)),
                entry["status"],
                entry["content_type"],
                entry["headers"],
            )
    return site


SITE = tagged_site()


def response(path: str, cls=HtmlResponse):
    return cls(url=PUBLIC_URL + path, body=SITE.answer(path).body, encoding="utf-8")


def urls_in(value) -> list[str]:
    """Every string under a ``url`` key of ``value`` (records, links, images, the video)."""
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "url" and isinstance(v, str)] + [
            u for v in value.values() for u in urls_in(v)
        ]
    if isinstance(value, list):
        return [u for v in value for u in urls_in(v)]
    return []


def test_the_rebuilt_site_carries_the_parameter_everywhere():
    # Otherwise the tests below would prove nothing.
    assert f"?{PARAM}=spring" in response("/").text and f"{PARAM}=spring" in response("/rss").text
    assert f"{PARAM}=spring" in SITE.answer("/sitemaps/news.xml").body.decode()
    assert f"{PARAM}=spring" in SITE.answer("/robots.txt").body.decode()
    assert f"{PARAM}=spring" in SITE.answer("/api/listing?section=videos&page=1").body.decode()


def test_listing_pages_give_clean_urls():
    home = ListingPage(response("/"), TRACKING)
    politics = ListingPage(response("/news/politics"), TRACKING)
    found = [c.url for c in home.cards] + home.menu_listings + [c.url for c in politics.cards] + [politics.next_page]
    assert len(found) > 20 and all(PARAM not in url for url in found)
    assert politics.next_page == PUBLIC_URL + "/news/politics?page=2"
    # The same page read with the default parameters keeps it: the setting is what removes it.
    assert all(PARAM in c.url for c in ListingPage(response("/")).cards)


def test_the_listing_api_gives_clean_urls():
    page = ListingApiPage(
        response("/api/listing?section=videos&page=1", TextResponse),
        PUBLIC_URL + "/api/listing?section=videos",
        TRACKING,
    )
    assert page.cards and all(PARAM not in c.url for c in page.cards)
    assert page.next_page == PUBLIC_URL + "/api/listing?section=videos&page=2"
    rendered = HtmlResponse(
        url=PUBLIC_URL + "/videos",
        encoding="utf-8",
        body=(
            b'<div id="listing-grid" data-page="1" data-endpoint="/api/listing?section=videos&amp;cmpid=spring"></div>'
            b'<button class="btn-load-more">Load More</button>'
        ),
    )
    assert next_api_page(ListingPage(rendered, TRACKING)) == PUBLIC_URL + "/api/listing?section=videos&page=2"


def test_discovery_files_give_clean_urls():
    index = read_sitemap(SITE.answer("/sitemaps/all.xml").body, PUBLIC_URL + "/sitemaps/all.xml", TRACKING)
    month = index.entries[0].url
    monthly = read_sitemap(SITE.answer(month.removeprefix(PUBLIC_URL)).body, month, TRACKING)
    news = read_sitemap(SITE.answer("/sitemaps/news.xml").body, PUBLIC_URL + "/sitemaps/news.xml", TRACKING)
    rss = read_rss(SITE.answer("/rss").body, PUBLIC_URL + "/rss", TRACKING)
    # robots.txt's Sitemap: lines are read by Scrapy's SitemapSpider: the sitemap crawl below shows them clean.
    entries = [*index.entries, *monthly.entries, *news.entries, *rss]
    assert len(entries) > 20 and all(PARAM not in e.url for e in entries)
    assert all(e.published for e in news.entries)  # the news dates are still matched to their (clean) URLs
    assert all(PARAM in e.url for e in read_rss(SITE.answer("/rss").body, PUBLIC_URL + "/rss"))


def test_record_urls_are_clean():
    path = "/news/politics/why-increase-of-us-alliances-in-asia-does-not-mean-an-asian-nato-time"
    page = ArticlePage(response(path), TRACKING)
    record = dict(page.to_item())
    assert record["url"] == PUBLIC_URL + path
    expected = expected_records()[PUBLIC_URL + path]
    assert {k: record[k] for k in expected if k in record} == {k: v for k, v in expected.items() if k in record}
    assert urls_in(record["related"]) and page.links() and all(PARAM not in u for u in page.links())
    assert any(PARAM in u for u in urls_in(dict(ArticlePage(response(path)).to_item())))  # default: kept


def test_flash_urls_are_clean():
    body = (
        '<ul class="breaking-ticker" id="breaking-ticker"><li class="breaking-ticker__item"'
        ' data-time="2025-08-04T15:41:00+03:00"><a href="/news/politics/x?cmpid=spring">A flash</a></li></ul>'
    )
    page = HtmlResponse(url=PUBLIC_URL + "/", body=body.encode(), encoding="utf-8")
    (entry,) = TickerPage(page, TRACKING).read().entries
    assert entry.url == PUBLIC_URL + "/news/politics/x"


def test_the_setting_is_read_as_lower_case_names():
    settings = Settings({"MAYADEEN_TRACKING_PARAMS": " CmpId , fbclid"})
    assert tracking_params(settings) == ("cmpid", "fbclid")
    assert tracking_params(Settings()) == DEFAULT_TRACKING_PARAMS


@pytest.mark.parametrize("spider", ["sections", "sitemap"])  # listings and links; robots, sitemaps
def test_a_crawl_sends_and_writes_no_tracking_parameter(tmp_path, spider):
    # Without the browser (-a js=0): every item is reached without it too, the URLs a rendered listing
    # and the listing API give take the same way into requests (the spider's canonical form, with the
    # pages' own reading tested above), and which images a browser fetches while it renders is not the
    # crawler's choice. The rendering crawl of the fixtures is test_sections_crawl's.
    with FixtureServer(SITE) as srv:
        result = crawl_in_process(
            spider,
            srv.url,
            tmp_path,
            args={"js": "0"},
            settings={"MAYADEEN_TRACKING_PARAMS": f"fbclid,{PARAM.upper()}"},
        )
    sent = [h.path for h in srv.requests]
    assert sent and not [p for p in sent if PARAM in p]
    records, expected = result.records(), expected_records()
    assert sorted(r["url"] for r in records) == sorted(expected)
    for record in records:
        assert not [u for u in urls_in(record) if PARAM in u], record["url"]
        assert {k: record[k] for k in expected[record["url"]]} == expected[record["url"]], record["url"]
    assert json.dumps(records).count(PARAM) == 0
