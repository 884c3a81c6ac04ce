"""Every input is bounded: one sitemap, the crawl's queue, one ticker, one archived record; and a flash
links to an article only on a unique best match.

Each bound is tried with a real crawl against the fixture mirror serving oversized input built at test
time (a sitemap of hundreds of URLs, a ticker of a thousand flashes, a WARC record larger than
DOWNLOAD_MAXSIZE), the bound set low with ``-s``: the bound holds, a WARNING says so, the stat counts
it, the run exits 0, names the bound in its summary (``capped=``) and stores its good records.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from mayadeen.archive.warc import WarcWriter
from mayadeen.extensions.run_outcome import capped
from mayadeen.pages.ticker import TickerPage
from mayadeen.store.breaking import BreakingStore
from mayadeen.store.sqlite import MEMORY, ArticleStore
from mayadeen.urls import PUBLIC_URL
from tests.conftest import expected_records
from tests.fixture_server import FixtureServer, FixtureSite
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import stored
from tests.test_breaking_store import FEED, HEADLINE, article, flash
from tests.test_faults import assert_all_items_exact
from tests.test_warc_archive import fetched, reextract
from tests.ticker_pages import flashes, item, with_ticker

MONTHLY = "/sitemaps/all/sitemap-2025-8.xml"
JUNK = [f"/news/politics/not-an-item-{i}" for i in range(300)]  # answered 404, as unknown URLs are
SITEMAP_NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(paths: list[str], news: bool = False) -> str:
    extra = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
    entry = (
        (
            "<url><loc>{}</loc><news:news><news:publication_date>2025-08-04T10:00:00+03:00"
            "</news:publication_date></news:news></url>"
        )
        if news
        else "<url><loc>{}</loc></url>"
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {SITEMAP_NS}{extra}>'
        + "".join(entry.format(PUBLIC_URL + p) for p in paths)
        + "</urlset>"
    )


def one_big_sitemap(news: list[str]) -> FixtureSite:
    """The site with one monthly sitemap: its 14 items first, then 300 URLs that are not items."""
    site = FixtureSite()
    items = [url.removeprefix(PUBLIC_URL) for url in expected_records()]
    site.override(
        "/sitemaps/all.xml",
        f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex {SITEMAP_NS}>'
        f"<sitemap><loc>{PUBLIC_URL}{MONTHLY}</loc></sitemap></sitemapindex>",
        content_type="application/xml",
    )
    site.override(MONTHLY, urlset(items + JUNK), content_type="application/xml")
    site.override("/sitemaps/news.xml", urlset(news, news=True), content_type="application/xml")
    return site


def summary(result) -> str:
    return result.log.strip().splitlines()[-1]


def warnings(result, text: str) -> list[str]:
    return [line for line in result.log.splitlines() if " WARNING: " in line and text in line]


def test_one_sitemap_gives_at_most_max_sitemap_urls(tmp_path):
    items = [url.removeprefix(PUBLIC_URL) for url in expected_records()]
    site = one_big_sitemap(news=items + JUNK[:40])  # the news sitemap (read by our own reader) too
    with FixtureServer(site) as srv:
        result = crawl_in_process("sitemap", srv.url, tmp_path, settings={"MAYADEEN_MAX_SITEMAP_URLS": "14"})
        requested = set(srv.paths())
    assert result.returncode == 0
    assert not requested & set(JUNK), "a URL past the bound was requested"
    assert result.stat("mayadeen/capped/sitemap") == 2
    capped_lines = warnings(result, "(MAYADEEN_MAX_SITEMAP_URLS): the rest of it is ignored")
    assert len(capped_lines) == 2 and any("/sitemaps/news.xml" in line for line in capped_lines)
    assert " capped=sitemap " in summary(result) and "result=ok" in summary(result)
    assert_all_items_exact(result, set(expected_records()))


def test_a_full_queue_drops_new_requests_and_the_crawl_ends_with_what_it_has(tmp_path):
    with FixtureServer(one_big_sitemap(news=[])) as srv:
        result = crawl_in_process("sitemap", srv.url, tmp_path, settings={"MAYADEEN_MAX_QUEUED_REQUESTS": "20"})
        junk_requested = set(srv.paths()) & set(JUNK)
    assert result.returncode == 0
    dropped = result.stat("mayadeen/capped/queue")
    assert dropped and dropped + len(junk_requested) == len(JUNK)  # each one either queued or dropped
    assert len(warnings(result, "(MAYADEEN_MAX_QUEUED_REQUESTS): new ones are dropped")) == 1  # once
    assert " capped=queue " in summary(result) and "result=ok" in summary(result)
    assert_all_items_exact(result, set(expected_records()))


def test_a_ticker_of_thousands_of_flashes_is_broken_and_only_its_first_are_read(tmp_path):
    site = FixtureSite()
    minutes = [f"2025-08-04T{9 + i // 60 % 6:02d}:{i % 60:02d}:00+03:00" for i in range(3000)]
    texts = [f"Flash number {i}: something happened somewhere" for i in range(3000)]
    site.override("/", with_ticker([item(t, x) for t, x in zip(minutes, texts)]))
    with FixtureServer(site) as srv:
        result = crawl_in_process(
            "breaking",
            srv.url,
            tmp_path,
            jsonl=tmp_path / "breaking.jsonl",
            settings={"MAYADEEN_MAX_TICKER_FLASHES": "50"},
        )
    assert result.returncode == 0
    assert [row["text"] for row in flashes(result.sqlite)] == texts[:50]
    assert result.stat("mayadeen/capped/ticker") == 2950
    assert warnings(result, "3000 items, a broken ticker: only the first 50 are read (MAYADEEN_MAX_TICKER_FLASHES)")
    assert " capped=ticker " in summary(result) and "result=ok" in summary(result)


def test_the_ticker_reader_counts_what_it_left_out():
    from scrapy.http import HtmlResponse

    page = with_ticker([item(f"2025-08-04T10:{i:02d}:00+03:00", f"Flash {i}") for i in range(12)])
    response = HtmlResponse(url=PUBLIC_URL + "/", body=page.encode(), encoding="utf-8")
    bounded = TickerPage(response, max_flashes=10).read()
    assert [e.text for e in bounded.entries] == [f"Flash {i}" for i in range(10)] and bounded.left_out == 2
    unbounded = TickerPage(response, max_flashes=0).read()
    assert len(unbounded.entries) == 12 and unbounded.left_out == 0 and not unbounded.details


# --- linking: a tie is no link ------------------------------------------------------------------------

ARTICLE = PUBLIC_URL + "/news/politics/trump-says-us-wants-to-feed-people-in-gaza"


def test_a_flash_links_only_to_its_unique_best_match():
    with ArticleStore(MEMORY) as store:
        breaking = BreakingStore(store)
        twin = article(ARTICLE + "-twin", HEADLINE, "2025-08-04T14:00:00Z")  # as alike as the first
        store.upsert(article(ARTICLE, HEADLINE, "2025-08-04T13:00:00Z"))
        ((_, record),) = breaking.record([flash(FEED)], "2025-08-04T12:30:00Z")
        assert record["article_url"] == ARTICLE  # alone: the best match
        store.upsert(twin)
        assert breaking.link_article(twin["url"], HEADLINE, twin["date_published"]) == 0
        assert breaking.flashes()[0]["article_url"] is None  # a tie: no link
        weak = article(ARTICLE + "-weak", "Trump wants Gaza people fed, aides say, amid talks", "2025-08-04T13:30:00Z")
        store.upsert(weak)
        assert breaking.link_article(weak["url"], weak["headline"], weak["date_published"]) == 0
        assert breaking.flashes()[0]["article_url"] is None  # a worse match does not break the tie
        exact = article(ARTICLE + "-exact", FEED, "2025-08-04T15:00:00Z")
        store.upsert(exact)
        assert breaking.link_article(exact["url"], FEED, exact["date_published"]) == 1
        assert breaking.flashes()[0]["article_url"] == exact["url"]  # a better one is unique again
        ((_, again),) = BreakingStore(store).record([flash(FEED, "2025-08-04T12:19:00Z")], "2025-08-04T12:30:00Z")
        assert again["article_url"] == exact["url"]


# --- re-extraction: the record size, and only the site's origin ------------------------------------


def test_reextract_skips_a_record_larger_than_download_maxsize_and_another_port(tmp_path):
    site, expected = FixtureSite(), expected_records()
    good = sorted(expected)[:2]
    when = datetime(2025, 8, 4, 12, tzinfo=UTC)
    big = PUBLIC_URL + "/news/politics/a-page-of-three-megabytes"
    other_port = "http://english.almayadeen.net:19999/news/politics/from-another-server"
    writer = WarcWriter(tmp_path / "warc", "crafted", max_size=10**9, info={"software": "test"})
    for url in good:
        writer.write(fetched(url, site.body(url.removeprefix(PUBLIC_URL)), when))
    writer.write(fetched(big, site.body(good[0].removeprefix(PUBLIC_URL)) + b"<!--" + b"x" * 3_000_000 + b"-->", when))
    writer.write(fetched(other_port, site.body(good[1].removeprefix(PUBLIC_URL)), when))
    writer.close()
    out = tmp_path / "out.jsonl"
    proc = reextract(
        tmp_path / "warc",
        tmp_path / "fresh.sqlite",
        "-O",
        f"{out}:jsonlines",
        "-s",
        "DOWNLOAD_MAXSIZE=1000000",
    )
    log = proc.log
    assert proc.returncode == 0, log[-4000:]
    assert re.search(r"'mayadeen/capped/warc_record': 1\b", log)
    assert [line for line in log.splitlines() if " WARNING: " in line and big in line and "DOWNLOAD_MAXSIZE" in line]
    assert "capped=warc_record" in log.strip().splitlines()[-1]
    records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert sorted(r["url"] for r in records) == good  # neither the big record nor the other port's
    for record in records:
        assert {k: record[k] for k in expected[record["url"]]} == expected[record["url"]]
    assert sorted(stored(tmp_path / "fresh.sqlite")) == good
    assert "'mayadeen/reextract/captures': 3" in log  # the other port's record was never selected


def test_capped_names_the_bounds_hit():
    assert capped(
        {"mayadeen/capped/queue": 3, "mayadeen/capped/sitemap": 1, "mayadeen/capped/ticker": 0, "mayadeen/given_up": 2}
    ) == ["queue", "sitemap"]
    assert capped({}) == []


def test_settings_have_their_documented_defaults():
    from mayadeen import settings

    text = Path(settings.__file__).read_text("utf-8")
    for name, default in (
        ("MAYADEEN_MAX_SITEMAP_URLS", 50_000),
        ("MAYADEEN_MAX_QUEUED_REQUESTS", 100_000),
        ("MAYADEEN_MAX_TICKER_FLASHES", 200),
    ):
        assert getattr(settings, name) == default
        assert re.search(rf"\n# [^\n]+\n{name} = ", text), f"{name} has no comment"
