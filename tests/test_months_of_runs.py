"""Runs after runs on one store: each item under one identity, edits stored once, discovery that costs
only what changed, and crawls that write the same store at once."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from mayadeen.store.sqlite import ArticleStore
from tests.conftest import expected_records
from tests.fixture_server import FixtureServer, FixtureSite, write_answer
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import (
    NEW_PATH,
    XML,
    add_item,
    bump_index,
    current,
    integrity,
    item_paths,
    move_modified,
    runs,
    set_lastmod,
    start_crawl,
    stored,
    wait_for,
)

P = "https://english.almayadeen.net"
UN = "/news/politics/un-warns-gaza-faces-water-crisis-looming-famine-under-israeli-siege"
OPEC = "/news/economy/opec-agrees-to-another-large-oil-output-hike-for-september"
ASIA = "/news/politics/why-increase-of-us-alliances-in-asia-does-not-mean-an-asian-nato-time"
PMF = "/news/politics/iraqs-pmf-law-seen-as-test-of-sovereignty-amid-us-objections"
PMF_OLD = "/news/politics/iraqs-pmf-law-a-test-of-sovereignty-amid-us-objections"
AUGUST, JULY = "/sitemaps/all/sitemap-2025-8.xml", "/sitemaps/all/sitemap-2025-7.xml"
NEWS = "/sitemaps/news.xml"


class Runs:
    """One site and one store in ``tmp_path``; ``crawl()`` runs a spider and returns it with the paths
    the server saw during that run."""

    def __init__(self, tmp_path, site: FixtureSite, server: FixtureServer):
        self.tmp_path, self.site, self.server, self.n = tmp_path, site, server, 0

    def crawl(self, spider: str = "sitemap", **kwargs):
        self.n += 1
        before = len(self.server.paths())
        result = crawl_in_process(
            spider, self.server.url, self.tmp_path, jsonl=self.tmp_path / f"run{self.n}.jsonl", **kwargs
        )
        return result, self.server.paths()[before:]


def rows_by_id(sqlite) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in stored(sqlite).values():
        out.setdefault(row["article_id"], []).append(row)
    return out


def stored_count(sqlite) -> int:
    """Rows in the store, 0 while it is not there yet."""
    try:
        return len(stored(sqlite)) if sqlite.exists() else 0
    except sqlite3.OperationalError:  # created, tables not yet
        return 0


# --- 1. a metadata-only edit is fetched once (and 4. unchanged monthly sitemaps are not read) -------


def test_a_metadata_only_edit_is_fetched_once_and_stored_in_place(tmp_path):
    site = FixtureSite()
    with FixtureServer(site) as srv:
        runs_ = Runs(tmp_path, site, srv)
        first, _ = runs_.crawl()
        before = stored(first.sqlite)
        # UN: a day later in every layer of the page and in its sitemap; OPEC: only its <lastmod> moves
        # (a site-wide bump), the page says nothing new.
        move_modified(site, UN, "2025-08-04T10:20:00+03:00", "2025-08-05T10:20:00+03:00")
        set_lastmod(site, AUGUST, UN, "2025-08-05T10:20:00+03:00")
        set_lastmod(site, AUGUST, OPEC, "2025-08-05T12:00:00+03:00")
        second, paths2 = runs_.crawl()
        third, paths3 = runs_.crawl()
    assert sorted(item_paths(paths2)) == sorted([UN, OPEC])
    assert item_paths(paths3) == [] and third.records() == []
    # 4. Only the month whose <lastmod> moved in the index is read again; then none.
    assert [p for p in paths2 if p.startswith("/sitemaps/all/")] == [AUGUST]
    assert sorted(paths3) == ["/robots.txt", "/robots.txt", "/sitemaps/all.xml", "/sitemaps/news.xml"]
    assert third.stat("mayadeen/sitemap/unchanged") == 7
    with sqlite3.connect(third.sqlite) as conn:
        assert conn.execute("SELECT count(*) FROM sitemap_reads").fetchone() == (7,)
    rows = stored(third.sqlite)
    un, opec = rows[P + UN], rows[P + OPEC]
    assert un["date_modified"] == "2025-08-05T07:20:00Z"  # the new date, in place
    assert (un["body"], un["content_hash"], un["revision"]) == (
        before[P + UN]["body"],
        before[P + UN]["content_hash"],
        1,
    )
    assert opec["date_modified"] == before[P + OPEC]["date_modified"] and opec["revision"] == 1
    assert opec["listed_date"] == "2025-08-05T09:00:00Z"  # what discovery showed, so run 3 skips it
    with ArticleStore(third.sqlite, readonly=True) as store:
        assert store.revisions(P + UN) == [] and store.revisions(P + OPEC) == []
    assert [(r["items_new"], r["items_updated"], r["items_unchanged"]) for r in runs(third.sqlite)] == [
        (14, 0, 0),
        (0, 0, 2),
        (0, 0, 0),
    ]
    assert sorted(r["url"] for r in second.records()) == sorted([P + UN, P + OPEC])


# --- 2. one identity per item ---------------------------------------------------------------------


def test_a_canonical_in_other_letter_case_is_the_same_item(tmp_path):
    site = FixtureSite()
    shouty = UN.replace("/news/politics/un-warns", "/News/Politics/UN-Warns")
    site.override(UN, current(site, UN).replace(P + UN, P + shouty))
    with FixtureServer(site) as srv:
        runs_ = Runs(tmp_path, site, srv)
        first, _ = runs_.crawl("feed")
        second, paths2 = runs_.crawl("feed")
    assert P + shouty in current(site, UN)
    rows = stored(second.sqlite)
    assert len(rows) == 14 and P + UN in rows
    assert [r["url"] for r in first.records() if r["article_id"] == rows[P + UN]["article_id"]] == [P + UN]
    assert item_paths(paths2) == []


def test_a_canonical_pointing_at_a_listing_does_not_merge_items(tmp_path):
    site = FixtureSite()
    for path in (UN, ASIA):
        site.override(path, current(site, path).replace(P + path, P + "/news/politics"))
    with FixtureServer(site) as srv:
        runs_ = Runs(tmp_path, site, srv)
        first, _ = runs_.crawl()
        second, paths2 = runs_.crawl()
    rows = stored(second.sqlite)
    expected = expected_records()
    assert sorted(rows) == sorted(expected)  # each item at the URL it was fetched from
    for path in (UN, ASIA):
        assert (rows[P + path]["article_id"], rows[P + path]["kind"]) == (expected[P + path]["article_id"], "article")
    assert item_paths(paths2) == []
    # the page object passes over a canonical that is no item's URL (ArticlePage._add_url): none to reject
    assert first.stat("mayadeen/identity/canonical_rejected") is None


def test_a_renamed_item_keeps_one_row_and_its_old_url(tmp_path):
    site = FixtureSite()
    # Run 1: the article lives at its old URL only: both sitemaps list that one and the new URL is not
    # there yet (were it served and listed too, which of the two is stored would depend on which answer
    # comes back first).
    site.override(PMF_OLD, current(site, PMF).replace(PMF, PMF_OLD))
    site.override(PMF, site.body("/no-such-page"), status=404)
    for sitemap in (JULY, NEWS):
        site.override(sitemap, current(site, sitemap).replace(P + PMF, P + PMF_OLD), content_type=XML)
    with FixtureServer(site) as srv:
        runs_ = Runs(tmp_path, site, srv)
        first, _ = runs_.crawl()
        (old_row,) = [r for r in stored(first.sqlite).values() if r["url"] == P + PMF_OLD]
        # Run 2: renamed; the old URL answers 301 to the new one, the sitemap lists the new one.
        del site.overrides[PMF_OLD], site.overrides[PMF], site.overrides[JULY], site.overrides[NEWS]
        bump_index(site, JULY, "2025-08-04T12:00:00+03:00")
        second, paths2 = runs_.crawl()
        # Run 3: a sitemap lists the old URL again besides the new one, with no newer date.
        both = current(site, JULY).replace("<url>", f"<url><loc>{P}{PMF_OLD}</loc></url>\n  <url>", 1)
        site.override(JULY, both, content_type=XML)
        bump_index(site, JULY, "2025-08-04T13:00:00+03:00")
        third, paths3 = runs_.crawl()
    assert item_paths(paths2) == [PMF]
    assert item_paths(paths3) == []
    ids = rows_by_id(third.sqlite)
    assert len(ids) == 14 and len(ids[old_row["article_id"]]) == 1
    (row,) = ids[old_row["article_id"]]
    assert (row["url"], row["revision"], row["first_seen"]) == (P + PMF, 1, old_row["first_seen"])
    with ArticleStore(third.sqlite, readonly=True) as store:
        assert store.urls(old_row["article_id"]) == sorted([P + PMF, P + PMF_OLD])
    assert runs(third.sqlite)[1]["items_unchanged"] == 1  # same text: the address moved in place


# --- 4. monthly sitemaps: skipped when unchanged in the index (above), else asked for conditionally ---


class ConditionalServer(FixtureServer):
    """Gives monthly sitemaps an ETag and answers 304 to a request that names it."""

    def handle(self, handler, answer) -> None:
        if handler.path.startswith("/sitemaps/all/") and answer.status == 200:
            etag = f'"{hash(answer.body) & 0xFFFFFFFF:x}"'
            if handler.headers.get("If-None-Match") == etag:
                answer = type(answer)(304, answer.content_type, b"", {"ETag": etag})
            else:
                answer = type(answer)(200, answer.content_type, answer.body, {**answer.headers, "ETag": etag})
        write_answer(handler, answer)


def test_a_month_bumped_in_the_index_but_unchanged_is_asked_for_conditionally(tmp_path):
    site = FixtureSite()
    with ConditionalServer(site) as srv:
        runs_ = Runs(tmp_path, site, srv)
        runs_.crawl()
        bump_index(site, JULY, "2025-08-04T14:00:00+03:00")  # the index moves, the month's file does not
        second, paths2 = runs_.crawl()
        asked = [h for h in srv.requests if h.path == JULY]
    assert [p for p in paths2 if p.startswith("/sitemaps/all/")] == [JULY] and item_paths(paths2) == []
    assert "If-None-Match" not in asked[0].headers and asked[1].headers["If-None-Match"].startswith('"')
    assert second.stat("mayadeen/sitemap/not_modified") == 1
    assert "Run summary: spider=sitemap result=ok" in second.log.strip().splitlines()[-1]


# --- 5. crawls share the store --------------------------------------------------------------------


class HoldingServer(FixtureServer):
    """Answers the first ``answered`` item pages it has, then holds the others until ``release`` is set
    (404s and redirects pass)."""

    def __init__(self, answered: int):
        super().__init__()
        self.answered, self.release, self.items = answered, threading.Event(), 0

    def handle(self, handler, answer) -> None:
        if answer.status == 200 and item_paths([handler.path]):
            with self._lock:
                self.items += 1
                held = self.items > self.answered
            if held:
                self.release.wait(300)
        write_answer(handler, answer)


@pytest.mark.soak  # two processes on one store; quick: test_exit_status's crawl waiting for another writer
def test_a_feed_run_while_a_sections_crawl_writes_the_same_store(tmp_path):
    feed_site = FixtureSite()
    add_item(feed_site)  # the feed has something new
    sections_dir, feed_dir = tmp_path / "sections", tmp_path / "feed"
    sqlite = tmp_path / "mayadeen.sqlite"
    with HoldingServer(answered=2) as held, FixtureServer(feed_site) as fast:
        sections = start_crawl(
            "sections",
            held.url,
            sections_dir,
            args={"js": "0"},
            settings={
                "MAYADEEN_SQLITE_PATH": str(sqlite),
                "JOBDIR": str(sections_dir / "job"),
                "CONCURRENT_REQUESTS": "2",
                "CONCURRENT_REQUESTS_PER_DOMAIN": "2",
            },
        )
        try:
            wait_for(lambda: stored_count(sqlite) >= 2, timeout=120, step=0.1)
            # The sections crawl is stored into and waits for its next item pages: the feed run overlaps it.
            feed = crawl_in_process(
                "feed", fast.url, feed_dir, sqlite=sqlite, check=False, settings={"JOBDIR": str(feed_dir / "job")}
            )
            assert sections.poll() is None, "the sections crawl ended before the feed run: no overlap"
        finally:
            held.release.set()
        assert sections.wait(timeout=300) == 0
    assert feed.returncode == 0, feed.log[-3000:]
    assert "Run summary: spider=feed result=ok" in feed.log.strip().splitlines()[-1]
    rows = stored(sqlite)
    assert sorted(rows) == sorted([*expected_records(), P + NEW_PATH])
    assert len({r["article_id"] for r in rows.values()}) == len(rows) == 15
    assert {r["revision"] for r in rows.values()} == {1}
    assert integrity(sqlite) == "ok"
    spiders = {r["spider"]: r for r in runs(sqlite)}
    assert spiders["feed"]["finish_reason"] == spiders["sections"]["finish_reason"] == "finished"
    assert spiders["feed"]["items_new"] + spiders["sections"]["items_new"] == 15
    assert json.loads(spiders["feed"]["coverage"])["records"] == feed.stat("mayadeen/coverage/records")
