"""Helpers for the scheduled-crawl tests (sitemap/feed spiders, incremental runs, resume, exit status).

``start_crawl`` is ``conftest.run_crawl`` as a ``Popen`` (for tests that kill the crawl); the site
changes (``change_item``, ``add_item``) derive new pages from the stored fixtures, never editing them.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from mayadeen.urls import PUBLIC_URL, item_kind
from tests.conftest import FAST, ROOT
from tests.fixture_server import FixtureServer, FixtureSite, write_answer


def item_paths(paths: list[str]) -> list[str]:
    """The requests for item pages among ``paths`` (server-side paths), in order."""
    return [p for p in paths if item_kind(PUBLIC_URL + urlsplit(p).path)]


def crawl_command(
    spider: str, server_url: str, workdir: Path, *, args: dict | None = None, settings: dict | None = None
) -> tuple[list[str], dict]:
    """The command line and environment ``conftest.run_crawl`` uses (same outputs in ``workdir``)."""
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        spider,
        "-a",
        f"base_url={server_url}",
        "-o",
        f"{workdir / 'articles.jsonl'}:jsonlines",
        "-s",
        f"MAYADEEN_SQLITE_PATH={workdir / 'mayadeen.sqlite'}",
        "-s",
        f"MAYADEEN_WARC_DIR={workdir / 'warc'}",
    ]
    for k, v in (args or {}).items():
        cmd += ["-a", f"{k}={v}"]
    for k, v in {**FAST, **(settings or {})}.items():
        cmd += ["-s", f"{k}={v}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    return cmd, env


def start_crawl(spider: str, server_url: str, workdir: Path, **kwargs) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    cmd, env = crawl_command(spider, server_url, workdir, **kwargs)
    log = (workdir / "killed.log").open("ab")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_for(condition, timeout: float = 60.0, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(step)


class SlowServer(FixtureServer):
    """Answers item pages after ``delay`` seconds, so a crawl can be killed with requests in flight."""

    def __init__(self, site: FixtureSite | None = None, delay: float = 0.2):
        super().__init__(site)
        self.delay = delay

    def handle(self, handler, answer) -> None:
        if item_kind(PUBLIC_URL + urlsplit(handler.path).path):
            time.sleep(self.delay)
        try:
            write_answer(handler, answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the crawl was killed while this answer was on its way


def stored(sqlite: Path) -> dict[str, dict]:
    con = sqlite3.connect(sqlite)
    con.row_factory = sqlite3.Row
    try:
        return {r["url"]: dict(r) for r in con.execute("SELECT * FROM articles")}
    finally:
        con.close()


def integrity(sqlite: Path) -> str:
    con = sqlite3.connect(sqlite)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def runs(sqlite: Path) -> list[dict]:
    con = sqlite3.connect(sqlite)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM crawl_runs ORDER BY id")]
    finally:
        con.close()


# --- changes to the site between two runs -------------------------------------------------------

CHANGED_PATH = "/news/politics/un-warns-gaza-faces-water-crisis-looming-famine-under-israeli-siege"
CHANGED_SITEMAP = "/sitemaps/all/sitemap-2025-8.xml"
CHANGED_MODIFIED = "2025-08-04T18:05:00+03:00"  # later the same day: 15:05Z
XML = "application/xml; charset=utf-8"
CHANGED_PARAGRAPH = "Update: the UN said late on Monday that two more desalination plants had stopped."

NEW_PATH = "/news/politics/un-says-gaza-water-crisis-deepens-as-last-desalination-plant-stops"
NEW_POSTID = "1999001"
NEW_PUBLISHED = "2025-08-05T09:10:00+03:00"
NEW_HEADLINE = "UN says Gaza water crisis deepens as last desalination plant stops"


def change_item(site: FixtureSite) -> None:
    """CHANGED_PATH gets a new paragraph and a later modification time, and its sitemap says so."""
    html = site.body(CHANGED_PATH).decode("utf-8")
    old_modified = "2025-08-04T10:20:00+03:00"
    assert old_modified in html
    html = html.replace(f'"dateModified": "{old_modified}"', f'"dateModified": "{CHANGED_MODIFIED}"')
    html = html.replace(f'"dateModified":"{old_modified}"', f'"dateModified":"{CHANGED_MODIFIED}"')
    html = re.sub(r'(<meta property="article:modified_time" content=")[^"]*(")', rf"\g<1>{CHANGED_MODIFIED}\g<2>", html)
    html = re.sub(r'("last_updated"\s*:\s*")[^"]*(")', r"\g<1>2025-08-04 18:05:00\g<2>", html)
    marker = re.search(r'<div[^>]*id="article-content"[^>]*>', html).group(0)
    html = html.replace(marker, f"{marker}\n<p>{CHANGED_PARAGRAPH}</p>", 1)
    updated = (
        '<li class="article-info__updated">Updated: <time class="article-info__time article-info__time--updated"'
        ' datetime="2025-08-04T18:05:00+03:00">4 Aug 2025 18:05</time></li>'
    )
    date_li = re.search(r'<li class="article-info__date">.*?</li>', html).group(0)
    html = html.replace(date_li, date_li + "\n    " + updated, 1)
    site.override(CHANGED_PATH, html)
    sitemap = site.body(CHANGED_SITEMAP).decode("utf-8")
    block = sitemap.split(f"{PUBLIC_URL}{CHANGED_PATH}</loc>", 1)
    block[1] = block[1].replace(f"<lastmod>{old_modified}</lastmod>", f"<lastmod>{CHANGED_MODIFIED}</lastmod>", 1)
    site.override(CHANGED_SITEMAP, f"{PUBLIC_URL}{CHANGED_PATH}</loc>".join(block), content_type=XML)
    bump_index(site, CHANGED_SITEMAP, CHANGED_MODIFIED)


def move_modified(site: FixtureSite, path: str, old: str, new: str) -> None:
    """The item page at ``path`` says it was modified at ``new`` instead of ``old`` (ISO with offset)
    in every layer — JSON-LD, meta, tawsiyat — its text unchanged."""
    html = current(site, path)
    assert f'"dateModified": "{old}"' in html
    html = html.replace(f'"dateModified": "{old}"', f'"dateModified": "{new}"')
    html = re.sub(r'(<meta property="article:modified_time" content=")[^"]*(")', rf"\g<1>{new}\g<2>", html)
    local = new[:19].replace("T", " ")  # tawsiyat: Beirut time without offset
    html = re.sub(r'("last_updated"\s*:\s*")[^"]*(")', rf"\g<1>{local}\g<2>", html)
    site.override(path, html)


def set_lastmod(site: FixtureSite, sitemap_path: str, item_path: str, lastmod: str) -> None:
    """The monthly sitemap gives ``item_path`` the ``<lastmod>`` ``lastmod``, and the index says so."""
    sitemap = current(site, sitemap_path)
    head, tail = sitemap.split(f"{PUBLIC_URL}{item_path}</loc>", 1)
    tail = re.sub(r"<lastmod>[^<]*</lastmod>", f"<lastmod>{lastmod}</lastmod>", tail, count=1)
    site.override(sitemap_path, f"{head}{PUBLIC_URL}{item_path}</loc>{tail}", content_type=XML)
    bump_index(site, sitemap_path, lastmod)


def current(site: FixtureSite, path: str) -> str:
    """What the site answers at ``path`` now (an override, else the fixture), as text."""
    return (site.overrides[path].body if path in site.overrides else site.body(path)).decode("utf-8")


def bump_index(site: FixtureSite, sitemap_path: str, lastmod: str) -> None:
    """The sitemap index gives the monthly sitemap at ``sitemap_path`` the ``<lastmod>`` ``lastmod``,
    as the site does when an item in it changes."""
    index = current(site, "/sitemaps/all.xml")
    head, tail = index.split(f"{PUBLIC_URL}{sitemap_path}</loc>", 1)
    tail = re.sub(r"<lastmod>[^<]*</lastmod>", f"<lastmod>{lastmod}</lastmod>", tail, count=1)
    site.override("/sitemaps/all.xml", f"{head}{PUBLIC_URL}{sitemap_path}</loc>{tail}", content_type=XML)


def add_item(site: FixtureSite) -> None:
    """A new article (derived from CHANGED_PATH's page) on /news/politics, in the August sitemap,
    the news sitemap and the RSS feed."""
    src = site.body(CHANGED_PATH).decode("utf-8")
    old_slug = CHANGED_PATH.rsplit("/", 1)[1]
    new_slug = NEW_PATH.rsplit("/", 1)[1]
    old_headline = "UN warns Gaza faces water crisis, looming famine under Israeli siege"
    old_postid = re.search(r'data-postid="(\d+)"', src).group(1)
    html = src.replace(old_slug, new_slug).replace(old_headline, NEW_HEADLINE).replace(old_postid, NEW_POSTID)
    html = html.replace("2025-08-04T10:20:00+03:00", NEW_PUBLISHED)
    html = html.replace("2025-08-04 10:20:00", "2025-08-05 09:10:00")
    html = html.replace("04 Aug 2025 10:20", "05 Aug 2025 09:10").replace("4 Aug 2025 10:20", "5 Aug 2025 09:10")
    site.override(NEW_PATH, html)

    site.override("/news/politics", with_new_card(site.body("/news/politics")))

    url = f"{PUBLIC_URL}{NEW_PATH}"
    sitemap = current(site, CHANGED_SITEMAP)
    entry = f"  <url>\n    <loc>{url}</loc>\n    <lastmod>{NEW_PUBLISHED}</lastmod>\n  </url>\n"
    site.override(CHANGED_SITEMAP, sitemap.replace("<url>", entry.lstrip() + "  <url>", 1), content_type=XML)
    bump_index(site, CHANGED_SITEMAP, NEW_PUBLISHED)
    news = site.body("/sitemaps/news.xml").decode("utf-8")
    news_entry = (
        f"<url>\n    <loc>{url}</loc>\n    <news:news>\n      <news:publication>\n"
        f"        <news:name>Al Mayadeen English</news:name>\n        <news:language>en</news:language>\n"
        f"      </news:publication>\n      <news:publication_date>{NEW_PUBLISHED}</news:publication_date>\n"
        f"      <news:title>{NEW_HEADLINE}</news:title>\n    </news:news>\n  </url>\n  <url>"
    )
    site.override("/sitemaps/news.xml", news.replace("<url>", news_entry, 1), content_type=XML)
    rss = site.body("/rss").decode("utf-8")
    rss_item = (
        f"<item>\n      <title>{NEW_HEADLINE}</title>\n      <link>{url}</link>\n"
        f"      <pubDate>Tue, 05 Aug 2025 09:10:00 +0300</pubDate>\n"
        f'      <guid isPermaLink="true">{url}</guid>\n'
        f"    </item>\n    <item>"
    )
    site.override("/rss", rss.replace("<item>", rss_item, 1), content_type="application/rss+xml; charset=utf-8")


LISTING_CARD = "//div[@id='listing-grid']/div[contains(concat(' ', @class, ' '), ' card--listing ')]"


def _card_url(card) -> str | None:
    hrefs = card.xpath(".//*[contains(@class, 'card__title')]//a/@href")
    return (PUBLIC_URL + hrefs[0]) if hrefs and hrefs[0].startswith("/") else (hrefs[0] if hrefs else None)


def with_new_card(listing: bytes) -> str:
    """The listing page with a card for NEW_PATH (a copy of its first card) on top."""
    import copy

    import lxml.html

    doc = lxml.html.fromstring(listing)
    first = doc.xpath(LISTING_CARD)[0]
    old_path = urlsplit(_card_url(first)).path
    card = copy.deepcopy(first)
    card.set("data-id", NEW_POSTID)
    for a in card.xpath(".//a[@href]"):
        a.set("href", a.get("href").replace(old_path, NEW_PATH))
    card.xpath(".//*[contains(@class, 'card__title')]//a")[0].text = NEW_HEADLINE
    card.xpath(".//*[contains(@class, 'card__date')]")[0].text = "5 Aug 2025"
    first.addprevious(card)
    return lxml.html.tostring(doc, encoding="unicode", doctype="<!DOCTYPE html>")


def only_cards(listing: bytes, keep: set[str]) -> str:
    """The listing page with only the grid cards whose item URL is in ``keep``."""
    import lxml.html

    doc = lxml.html.fromstring(listing)
    for card in doc.xpath(LISTING_CARD):
        if _card_url(card) not in keep:
            card.getparent().remove(card)
    return lxml.html.tostring(doc, encoding="unicode", doctype="<!DOCTYPE html>")
