"""Only http(s) URLs of the site are ever fetched; hostile and oversized input is bounded.

A page, a sitemap, robots.txt or a redirect may name another host, a private address (cloud
metadata, the LAN, localhost), ``file:``, ``data:`` or ``ftp:``. None of them may be requested: the
spiders only follow links of the site, Scrapy's offsite middleware drops other hosts, and
``UrlGuardMiddleware`` is the last word before the download (it also covers ``dont_filter`` requests
such as retries, and where their redirects lead). A second local server stands for "elsewhere" and
must never see a request. Sitemaps are parsed without entity expansion (a billion-laughs sitemap),
bodies are bounded by DOWNLOAD_MAXSIZE (a big page, a gzip bomb).
"""

from __future__ import annotations

import gzip
import re
import time

import pytest
from scrapy.http import Request
from scrapy.utils.test import get_crawler

from mayadeen.middlewares.url_guard import UrlGuardMiddleware
from mayadeen.pages.discovery import read_rss, read_sitemap
from tests.conftest import expected_records
from tests.fault_server import FaultServer
from tests.fixture_server import Answer, FixtureServer, write_answer
from tests.inprocess import crawl as crawl_in_process
from tests.test_faults import assert_all_items_exact

PUBLIC = "https://english.almayadeen.net"
SETTINGS = {"RETRY_TIMES": "2", "MAYADEEN_RETRY_BACKOFF_BASE": "0.05"}
MAXSIZE = 2 * 1024 * 1024

LOL = b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1)) * 10 if i else b"lol") for i in range(10))
BILLION_LAUGHS = b'<?xml version="1.0"?>\n<!DOCTYPE bomb [' + LOL + b"]>\n"


def hostile_urls(evil: str) -> list[str]:
    """Links a page or sitemap might carry that must never be fetched (``evil``: a local server)."""
    return [
        f"{evil}/news/politics/evil-item",
        "http://169.254.169.254/latest/meta-data/iam",
        "http://10.0.0.1/news/politics/internal",
        "http://localhost/news/politics/local",
        "http://[::1]/news/politics/loopback",
        "file:///etc/passwd",
        "data:text/html,<h1>x</h1>",
        "ftp://english.almayadeen.net/news/politics/ftp-item",
        "https://evil.example/news/politics/offsite",
        f"https://english.almayadeen.net@{evil.removeprefix('http://')}/news/politics/userinfo",
        "//evil.example/news/politics/protocol-relative",
        "https://english.almayadeen.net.evil.example/news/politics/lookalike",
        "javascript:alert(1)",
    ]


# --- units ------------------------------------------------------------------------------------------
@pytest.fixture
def guard():
    crawler = get_crawler(settings_dict={"MAYADEEN_PUBLIC_URL": PUBLIC, "MAYADEEN_BASE_URL": "http://127.0.0.1:8123"})
    return UrlGuardMiddleware(crawler)


@pytest.mark.parametrize(
    ("url", "verdict"),
    [
        (PUBLIC + "/news/politics/x", None),
        ("http://english.almayadeen.net/news", None),
        ("https://www.english.almayadeen.net/", None),
        ("https://ENGLISH.almayadeen.net/", None),
        ("http://127.0.0.1:8123/news", None),  # the mirror
        ("http://127.0.0.1:8124/news", "private_address"),
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://10.0.0.1/", "private_address"),
        ("http://192.168.1.1/", "private_address"),
        ("http://[::1]/", "private_address"),
        ("http://localhost:8123/", "private_address"),
        ("https://evil.example/", "host"),
        ("https://english.almayadeen.net.evil.example/", "host"),
        ("https://english.almayadeen.net@evil.example/", "host"),
        ("https://user@english.almayadeen.net/", "host"),
        ("https://almayadeen.net/", "host"),
        ("https://arabic.almayadeen.net/", "host"),
        ("file:///etc/passwd", "scheme"),
        ("data:text/html,x", "scheme"),
        ("ftp://english.almayadeen.net/", "scheme"),
        ("s3://bucket/key", "scheme"),
    ],
)
def test_url_guard_verdicts(guard, url, verdict):
    assert guard.verdict(url) == verdict


def test_url_guard_blocks_and_counts(guard):
    from scrapy.exceptions import IgnoreRequest

    assert guard.process_request(Request(PUBLIC + "/")) is None
    with pytest.raises(IgnoreRequest):
        guard.process_request(Request("http://169.254.169.254/"))
    assert guard.stats.get_value("mayadeen/url_guard/blocked/private_address") == 1


def test_sitemaps_and_feeds_are_parsed_without_entity_expansion():
    started = time.monotonic()
    index = BILLION_LAUGHS + (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>&lol9;</loc></sitemap>"
        b"<sitemap><loc>https://english.almayadeen.net/sitemaps/all/sitemap-2025-8.xml</loc></sitemap>"
        b"</sitemapindex>"
    )
    parsed = read_sitemap(index, PUBLIC + "/sitemaps/all.xml")  # lxml gives up on it: no entries
    assert not any("lol" in e.url for e in parsed.entries)
    rss = BILLION_LAUGHS + b"<rss><channel><item><title>&lol9;</title><link>&lol9;</link></item></channel></rss>"
    assert read_rss(rss, PUBLIC + "/rss") == []
    assert time.monotonic() - started < 2


def test_gzipped_sitemaps_are_bounded_by_download_maxsize():
    from mayadeen.pages.discovery import sitemap_body

    bomb = gzip.compress(b"<urlset>" + b" " * (32 * MAXSIZE) + b"</urlset>", 9)  # 64 MB in 64 KB
    with pytest.raises(ValueError, match="max|size"):
        sitemap_body(bomb, MAXSIZE)
    small = gzip.compress(b"<urlset></urlset>")
    assert sitemap_body(small, MAXSIZE) == b"<urlset></urlset>"


# --- crawls -----------------------------------------------------------------------------------------
class EvilServer(FixtureServer):
    """Stands for every other host: it must never be asked for anything."""

    def handle(self, handler, answer):
        write_answer(handler, Answer(200, "text/html", b"<html><body>stolen</body></html>"))


def _links_block(urls) -> bytes:
    cards = "".join(
        f'<div class="card"><h3 class="card__title"><a href="{u}">Hostile {i}</a></h3></div>'
        for i, u in enumerate(urls)
    )
    menu = "".join(f'<li><a href="{u}">M{i}</a></li>' for i, u in enumerate(urls))
    return f'<nav class="main-nav"><ul class="main-menu">{menu}</ul></nav>{cards}'.encode()


class HostileSite(FaultServer):
    """The fixture site, with hostile links on the home page and in robots.txt and the sitemaps,
    pages that redirect elsewhere once retried, an oversized page and a gzip bomb."""

    def __init__(self, evil: str, redirects: dict[str, str], big: str, bomb: str):
        super().__init__()
        self.evil, self.redirects, self.big, self.bomb = evil, redirects, big, bomb
        self.urls = hostile_urls(evil)

    def handle(self, handler, answer):
        path = handler.path
        with self._lock:
            self._attempts[path] += 1
            attempt = self._attempts[path]
        if path in self.redirects:
            # A retried request is dont_filter: where its redirect leads escapes the offsite filter.
            if attempt == 1:
                return write_answer(handler, Answer(503, "text/html", b"<html><body>busy</body></html>"))
            return write_answer(handler, Answer(302, "text/html", b"", {"Location": self.redirects[path]}))
        if path == self.big:
            return write_answer(
                handler,
                Answer(200, "text/html; charset=utf-8", b"<html><body>" + b"x" * (MAXSIZE + 1) + b"</body></html>"),
            )
        if path == self.bomb:
            body = gzip.compress(b"<html><body>" + b"\0" * (32 * MAXSIZE) + b"</body></html>", 9)
            return write_answer(handler, Answer(200, "text/html; charset=utf-8", body, {"Content-Encoding": "gzip"}))
        body = answer.body
        if path == "/":
            body = body.replace(b"</body>", _links_block(self.urls) + b"</body>", 1)
        elif path == "/robots.txt":
            body += b"".join(b"\nSitemap: " + u.encode() for u in [*self.urls, f"{PUBLIC}{BOMB_SITEMAP}"])
        elif path == BOMB_SITEMAP:
            body = BILLION_LAUGHS + (
                b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                b"<url><loc>&lol9;</loc><lastmod>&lol9;</lastmod></url></urlset>"
            )
            return write_answer(handler, Answer(200, "application/xml", body))
        elif path == "/sitemaps/all.xml":
            locs = b"".join(
                b"<sitemap><loc>" + u.replace("&", "&amp;").encode() + b"</loc></sitemap>" for u in self.urls
            )
            body = body.replace(b"</sitemapindex>", locs + b"</sitemapindex>")
        elif path.startswith("/sitemaps/all/sitemap-2025-8.xml"):
            locs = b"".join(b"<url><loc>" + u.replace("&", "&amp;").encode() + b"</loc></url>" for u in self.urls)
            body = body.replace(b"</urlset>", locs + b"</urlset>")
        write_answer(handler, Answer(answer.status, answer.content_type, body, answer.headers))


# Pages of the site (404s linked from the home page) that this test makes misbehave.
REDIRECTING = (
    "/news/politics/uae-lodges-complaint-against-israeli-ambassador-over-misbehavior",
    "/news/politics/al-qassam-strikes-israeli-vehicles-in-gaza-inflicts-casualties",
    "/infographs/brics-at-a-glance-members-and-partners",
)
BIG = "/news/politics/yemen-navy-reveals-fate-of-targeted-eternity-c-ship-crew"
BOMB = "/in-pictures/in-pictures-tobacco-harvest-season-in-south-lebanon"
BOMB_SITEMAP = "/sitemaps/laughs.xml"


@pytest.fixture(scope="module")
def evil():
    with EvilServer() as srv:
        yield srv


def _hostile_crawl(spider, evil, tmp_path):
    redirects = dict(
        zip(
            REDIRECTING,
            (f"{evil.url}/stolen", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"),
            strict=True,
        )
    )
    with HostileSite(evil.url, redirects, BIG, BOMB) as site:
        started = time.monotonic()
        result = crawl_in_process(
            spider,
            site.url,
            tmp_path,
            args={"js": "0"},
            check=False,
            timeout=120,
            settings={**SETTINGS, "DOWNLOAD_MAXSIZE": str(MAXSIZE)},
        )
        seconds = time.monotonic() - started
    return result, site, seconds


def _stat(log: str, key: str) -> int:
    match = re.search(rf"'{re.escape(key)}': (\d+)", log)
    return int(match.group(1)) if match else 0


def test_sections_crawl_of_a_hostile_site_never_leaves_it(evil, tmp_path):
    result, site, _ = _hostile_crawl("sections", evil, tmp_path)
    assert result.returncode == 0, result.log[-3000:]
    assert evil.requests == [], [h.path for h in evil.requests]
    host = site.url.removeprefix("http://")
    assert {h.host for h in site.requests} == {host}
    for path in REDIRECTING:
        assert site.paths().count(path) == 2  # the 503, then the retry that redirected
    # The redirects of retried (dont_filter) requests got past the offsite filter; the guard stopped them.
    assert _stat(result.log, "mayadeen/url_guard/blocked/private_address") == 2
    assert "mayadeen/mirror/blocked" not in result.log
    # Oversized bodies are refused, and the crawl goes on without them.
    assert re.search(
        r"Expected to receive \d+ bytes which is larger than download max size \(\d+\) in request "
        r"<GET \S+" + re.escape(BIG) + ">",
        result.log,
    ), result.log[-3000:]
    assert re.search(
        r"Ignored response <200 \S+" + re.escape(BOMB) + r"> because its body .* exceeded DOWNLOAD_MAXSIZE", result.log
    ), result.log[-3000:]
    assert_all_items_exact(result, set(expected_records()))


def test_sitemap_crawl_of_a_hostile_site_never_leaves_it(evil, tmp_path):
    result, site, seconds = _hostile_crawl("sitemap", evil, tmp_path)
    assert result.returncode == 0, result.log[-3000:]
    assert evil.requests == [], [h.path for h in evil.requests]
    assert {h.host for h in site.requests} == {site.url.removeprefix("http://")}
    assert not any(p.startswith(("/latest", "/etc")) for p in site.paths())
    assert BOMB_SITEMAP in site.paths()
    assert seconds < 60  # the billion laughs were never expanded
    assert_all_items_exact(result, set(expected_records()))


# --- SQL and JSON metacharacters, end to end --------------------------------------------------------
OPINION = "/articles/opinion/trading-in-local-currencies-is-quietly-redrawing-the-map-of-global-finance"
NASTY_HEADLINE = 'Robert\'); DROP TABLE articles;-- "quoted" & {"a": [1, null]} \\ 100% _x_ ? :name $1'
NASTY_TAG = "x'); DELETE FROM articles WHERE ('1'='1"
_JSON_SCRIPT = re.compile(r"(<script[^>]*(?:ld\+json|tawsiyat)[^>]*>)(.*?)(</script>)", re.S)


def _replace_everywhere(page: str, old: str, new: str) -> str:
    """``old`` -> ``new`` in the page's text, attributes and embedded JSON, each escaped for its place."""
    import html as html_lib
    import json as json_lib

    as_json = json_lib.dumps(new)[1:-1]
    parts, last = [], 0
    for m in _JSON_SCRIPT.finditer(page):
        parts.append(page[last : m.start()].replace(old, html_lib.escape(new)))
        parts.append(m.group(1) + m.group(2).replace(old, as_json) + m.group(3))
        last = m.end()
    parts.append(page[last:].replace(old, html_lib.escape(new)))
    return "".join(parts)


class NastySite(FixtureServer):
    def handle(self, handler, answer):
        if handler.path == OPINION:
            want = expected_records()[PUBLIC + OPINION]
            page = _replace_everywhere(answer.body.decode(), want["headline"], NASTY_HEADLINE)
            page = _replace_everywhere(page, want["tags"][2], NASTY_TAG)
            answer = Answer(answer.status, answer.content_type, page.encode(), answer.headers)
        write_answer(handler, answer)


def test_sql_and_json_metacharacters_round_trip_end_to_end(tmp_path):
    import json as json_lib
    import sqlite3

    with NastySite() as site:
        result = crawl_in_process(
            "sections", site.url, tmp_path, args={"js": "0", "sections": "articles/opinion"}, settings=SETTINGS
        )
    want = dict(expected_records()[PUBLIC + OPINION], headline=NASTY_HEADLINE)
    want["tags"] = [NASTY_TAG if t == want["tags"][2] else t for t in want["tags"]]
    (record,) = [r for r in result.records() if r["url"] == PUBLIC + OPINION]
    assert {k: record[k] for k in want} == want
    con = sqlite3.connect(result.sqlite)
    row = con.execute("SELECT headline, tags, content_hash FROM articles WHERE url = ?", (PUBLIC + OPINION,)).fetchone()
    assert row[0] == NASTY_HEADLINE and json_lib.loads(row[1]) == want["tags"] and row[2] == record["content_hash"]
    assert {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= {
        "articles",
        "article_revisions",
        "crawl_runs",
    }
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
