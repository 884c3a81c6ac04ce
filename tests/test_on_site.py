"""One rule for "on the site": scheme, host and port (``mayadeen.urls.is_on_site``), wherever it is asked.

The site is https://english.almayadeen.net and its http:// twin (its pages link both ways), on the
scheme's default port. The same host on another port is another server: its links are not the
site's, the crawl does not fetch it, and a WARC record made there is not re-extracted.
"""

from __future__ import annotations

import pytest
from scrapy.utils.test import get_crawler

from mayadeen.identity import accepted_url
from mayadeen.middlewares.url_guard import UrlGuardMiddleware
from mayadeen.normalize.hrefs import item_url
from mayadeen.normalize.links import normalize_link
from mayadeen.urls import canonical_url, is_on_site, item_kind, listing_key

ITEM = "/news/politics/some-item"


@pytest.mark.parametrize(
    ("url", "on_site"),
    [
        ("https://english.almayadeen.net" + ITEM, True),
        ("https://english.almayadeen.net:443" + ITEM, True),
        ("http://english.almayadeen.net" + ITEM, True),
        ("http://english.almayadeen.net:80" + ITEM, True),
        ("HTTPS://English.AlMayadeen.net" + ITEM, True),
        ("https://www.english.almayadeen.net" + ITEM, True),
        ("http://english.almayadeen.net:19999" + ITEM, False),
        ("https://english.almayadeen.net:8443" + ITEM, False),
        ("http://english.almayadeen.net:443" + ITEM, False),  # http on https's port: another origin
        ("https://english.almayadeen.net:80" + ITEM, False),
        ("https://english.almayadeen.net:99999" + ITEM, False),
        ("https://english.almayadeen.net:x" + ITEM, False),
        ("https://user@english.almayadeen.net" + ITEM, False),
        ("https://english.almayadeen.net@evil.example" + ITEM, False),
        ("https://english.almayadeen.net.evil.example" + ITEM, False),
        ("ftp://english.almayadeen.net" + ITEM, False),
        ("ws://english.almayadeen.net" + ITEM, False),
        ("https://almayadeen.net" + ITEM, False),
        (ITEM, False),
        ("http://[::1", False),
        ("", False),
    ],
)
def test_is_on_site(url, on_site):
    assert is_on_site(url) is on_site


@pytest.mark.parametrize(
    ("href", "canonical"),
    [
        ("http://english.almayadeen.net:80" + ITEM, "https://english.almayadeen.net" + ITEM),
        ("https://english.almayadeen.net:443" + ITEM + "/", "https://english.almayadeen.net" + ITEM),
        # another port keeps its origin (and its case): it is never folded into the public site
        ("http://english.almayadeen.net:19999/News/Politics/X", "http://english.almayadeen.net:19999/News/Politics/X"),
        ("https://english.almayadeen.net:8443" + ITEM, "https://english.almayadeen.net:8443" + ITEM),
    ],
)
def test_canonical_url_folds_only_the_site_origin(href, canonical):
    assert canonical_url(href) == canonical


def test_item_and_listing_pages_are_on_the_site_only():
    assert item_kind("https://english.almayadeen.net" + ITEM) == "article"
    assert item_kind("http://english.almayadeen.net:19999" + ITEM) is None
    assert listing_key("https://english.almayadeen.net/news/politics") == "news/politics"
    assert listing_key("https://english.almayadeen.net:8443/news/politics") is None


def test_links_of_another_port_are_not_the_sites():
    other = "http://english.almayadeen.net:19999" + ITEM
    assert item_url(other) is None
    assert item_url("http://english.almayadeen.net" + ITEM) == "https://english.almayadeen.net" + ITEM
    # a related link keeps its real address: it is not mistaken for the site's page
    assert normalize_link({"url": other, "title": "x", "relation": "read_more"})["url"] == other


def test_a_canonical_on_another_port_is_not_the_records_address():
    fetched = "https://english.almayadeen.net" + ITEM
    assert accepted_url("http://english.almayadeen.net:19999/news/politics/other", fetched) == fetched
    assert (
        accepted_url("http://english.almayadeen.net/news/politics/other", fetched)
        == "https://english.almayadeen.net/news/politics/other"
    )


@pytest.mark.parametrize(
    ("url", "verdict"),
    [
        ("https://english.almayadeen.net" + ITEM, None),
        ("http://english.almayadeen.net" + ITEM, None),
        ("http://english.almayadeen.net:19999" + ITEM, "host"),
        ("https://english.almayadeen.net:8443" + ITEM, "host"),
        ("http://127.0.0.1:8123" + ITEM, None),  # the mirror's origin
        ("https://127.0.0.1:8123" + ITEM, "private_address"),  # same host and port, another scheme
    ],
)
def test_the_crawl_fetches_the_site_and_the_mirror_only(url, verdict):
    crawler = get_crawler(settings_dict={"MAYADEEN_BASE_URL": "http://127.0.0.1:8123"})
    assert UrlGuardMiddleware(crawler).verdict(url) == verdict


def test_reextraction_selects_no_record_of_another_origin(tmp_path):
    from mayadeen.archive.reader import scan, select
    from mayadeen.archive.warc import WarcWriter
    from tests.test_warc_archive import fetched

    site = "https://english.almayadeen.net" + ITEM
    writer = WarcWriter(tmp_path, "origins", max_size=10**9, info={"software": "test"})
    for url in (
        site,
        "http://english.almayadeen.net:19999" + ITEM + "-x",
        "https://english.almayadeen.net:8443" + ITEM,
        "https://user@english.almayadeen.net" + ITEM + "-y",
        "https://english.almayadeen.net.evil.example" + ITEM,
    ):
        writer.write(fetched(url, url.encode()))
    writer.close()
    assert [a.capture.url for a in select(tmp_path, scan(tmp_path))] == [site]
