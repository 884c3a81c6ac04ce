"""Incremental runs: a second run fetches only what is new or changed, for every spider."""

import asyncio
import json
import re
import shutil
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from scrapy.statscollectors import StatsCollector
from scrapy.utils.test import get_crawler

from mayadeen.store.freshness import Freshness, Verdict
from mayadeen.store.sqlite import ArticleStore
from tests.conftest import expected_records
from tests.fixture_server import FixtureServer, FixtureSite
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import (
    CHANGED_MODIFIED,
    CHANGED_PARAGRAPH,
    CHANGED_PATH,
    CHANGED_SITEMAP,
    NEW_HEADLINE,
    NEW_PATH,
    NEW_POSTID,
    add_item,
    bump_index,
    change_item,
    item_paths,
    only_cards,
    runs,
    stored,
)
from tests.test_article_page import _content_inner as content_inner

P = "https://english.almayadeen.net"
JSON_COLUMNS = {"authors", "tags", "image", "images", "video", "related"}


def served_items(site: FixtureSite, paths: list[str]) -> list[str]:
    """Item pages requested that the site has (404s for the articles outside the sample left out)."""
    return sorted(p for p in item_paths(paths) if site.answer(p).status == 200)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """``first_run(spider, workdir, args)``: the store a first crawl of the unchanged fixture site left,
    copied into ``workdir``; each crawl made once for the module (a second run is what these tests check)."""
    made: dict[tuple, Path] = {}

    def copied(spider: str, workdir: Path, args: dict | None = None) -> Path:
        key = (spider, *sorted((args or {}).items()))
        if key not in made:
            where = tmp_path_factory.mktemp(f"first-{spider}")
            with FixtureServer() as srv:
                made[key] = crawl_in_process(spider, srv.url, where, args=args, jsonl=where / "run1.jsonl").sqlite
        return Path(shutil.copy(made[key], workdir / "mayadeen.sqlite"))

    return copied


@pytest.mark.parametrize("spider", ["sitemap", "feed"])
def test_second_run_requests_no_item_page(tmp_path, spider, first_run):
    first_run(spider, tmp_path)
    with FixtureServer() as srv:
        second = crawl_in_process(spider, srv.url, tmp_path, jsonl=tmp_path / "run2.jsonl")
        paths = srv.paths()
    assert paths and item_paths(paths) == []
    assert second.records() == []
    assert len(stored(second.sqlite)) == 14
    run = runs(second.sqlite)[-1]
    assert (run["spider"], run["items_new"], run["items_updated"], run["items_unchanged"]) == (spider, 0, 0, 0)
    assert run["requests"] == len(paths) and run["finish_reason"] == "finished"
    assert "Run summary: spider=%s result=ok" % spider in second.log.strip().splitlines()[-1]


def test_sections_second_run_fetches_no_stored_item_and_stops_paging(tmp_path):
    site = FixtureSite()
    args = {"sections": "news/politics"}
    with FixtureServer(site) as srv:
        first = crawl_in_process("sections", srv.url, tmp_path, args=args, jsonl=tmp_path / "run1.jsonl")
        paths1 = srv.paths()
        stored_urls = set(stored(first.sqlite))
        assert "/news/politics?page=2" in paths1 and len(stored_urls) >= 3

        # Again, unchanged: stored items are not fetched (only the sample's 404 links are tried again).
        crawl_in_process("sections", srv.url, tmp_path, args=args, jsonl=tmp_path / "run2.jsonl")
        paths2 = srv.paths()[len(paths1) :]
        assert served_items(site, paths2) == []

        # A first page holding only stored, unchanged items: no page 2, no item at all.
        site.override("/news/politics", only_cards(site.body("/news/politics"), stored_urls))
        third = crawl_in_process("sections", srv.url, tmp_path, args=args, jsonl=tmp_path / "run3.jsonl")
        paths3 = srv.paths()[len(paths1) + len(paths2) :]
    assert "/news/politics" in paths3 and "/news/politics?page=2" not in paths3
    assert served_items(site, paths3) == []  # (the sidebar's cards outside the sample answer 404)
    assert third.records() == []
    assert "'mayadeen/listing/stopped_unchanged': 1" in third.log


def test_full_refetches_every_item_and_keeps_paging(tmp_path, first_run):
    first_run("sitemap", tmp_path)
    with FixtureServer() as srv:
        full = crawl_in_process("sitemap", srv.url, tmp_path, args={"full": "1"}, jsonl=tmp_path / "run2.jsonl")
        paths = srv.paths()
    assert sorted(item_paths(paths)) == sorted(u.removeprefix(P) for u in expected_records())
    run = runs(full.sqlite)[-1]
    assert (run["items_new"], run["items_updated"], run["items_unchanged"]) == (0, 0, 14)
    assert json.loads(run["arguments"])["full"] == "1"
    assert {r["revision"] for r in stored(full.sqlite).values()} == {1}


def test_a_page_broken_for_a_while_does_not_replace_its_record(tmp_path, first_run):
    """The site serves a page with an empty article body, its dates unchanged: was stored as a new
    revision with ``body=""``, and the next runs skipped the page once it was fixed (same date)."""
    first_run("sitemap", tmp_path)
    site = FixtureSite()
    html = site.body(CHANGED_PATH).decode("utf-8")
    start, end = content_inner(html)
    site.override(CHANGED_PATH, html[:start] + html[end:])  # div#article-content empty
    # Its sitemap entry moved (its dates in the page did not): a run fetches it again.
    sitemap = site.body(CHANGED_SITEMAP).decode("utf-8")
    head, tail = sitemap.split(f"{P}{CHANGED_PATH}</loc>", 1)
    tail = re.sub(r"<lastmod>[^<]*</lastmod>", f"<lastmod>{CHANGED_MODIFIED}</lastmod>", tail, count=1)
    site.override(CHANGED_SITEMAP, f"{head}{P}{CHANGED_PATH}</loc>{tail}", content_type="application/xml")
    bump_index(site, CHANGED_SITEMAP, CHANGED_MODIFIED)
    with FixtureServer(site) as srv:
        run = crawl_in_process("sitemap", srv.url, tmp_path, check=False)
        again = crawl_in_process("sitemap", srv.url, tmp_path, check=False)  # nothing new: not fetched again
    assert run.stat("mayadeen/items/degraded") == 1
    assert f"Kept the stored version of {P + CHANGED_PATH}: the page fetched lacks what it has (body)" in run.log
    row = stored(run.sqlite)[P + CHANGED_PATH]
    assert (row["body"], row["revision"]) == (expected_records()[P + CHANGED_PATH]["body"], 1)
    assert P + CHANGED_PATH not in {r["url"] for r in run.records()}  # nor in the feed
    assert again.stat("mayadeen/items/degraded") is None  # its discovery date was kept: not warned again


def test_a_full_run_sets_a_wrong_stored_date_right(tmp_path, first_run):
    """A stored ``date_modified`` later than the page's (an older parser took a teaser's): a ``full=1``
    run takes what the site says now; another run would keep the stored version (``stale``)."""
    first_run("sitemap", tmp_path)
    wrong = "2030-01-01T00:00:00Z"
    with sqlite3.connect(tmp_path / "mayadeen.sqlite") as db:
        db.execute("UPDATE articles SET date_modified = ? WHERE url = ?", (wrong, P + CHANGED_PATH))
    with FixtureServer() as srv:
        run = crawl_in_process("sitemap", srv.url, tmp_path, args={"full": "1"})
    row = stored(run.sqlite)[P + CHANGED_PATH]
    assert row["date_modified"] == expected_records()[P + CHANGED_PATH]["date_modified"] != wrong
    assert run.stat("mayadeen/items/stale") is None


def expected_changed() -> dict:
    rec = dict(expected_records()[P + CHANGED_PATH])
    rec["body"] = CHANGED_PARAGRAPH + "\n\n" + rec["body"]
    rec["word_count"] = len(rec["body"].split())
    rec["date_modified"] = "2025-08-04T15:05:00Z"
    return rec


def expected_new() -> dict:
    rec = dict(expected_records()[P + CHANGED_PATH])
    rec.update(
        url=P + NEW_PATH,
        article_id=NEW_POSTID,
        headline=NEW_HEADLINE,
        date_published="2025-08-05T06:10:00Z",
        date_modified="2025-08-05T06:10:00Z",
    )
    return rec


def check_row(row: dict, want: dict) -> None:
    for key, value in want.items():
        got = json.loads(row[key]) if key in JSON_COLUMNS and row[key] is not None else row[key]
        assert got == value, f"{want['url']}: {key}"


@pytest.mark.parametrize(
    "spider, fetched",
    [
        ("sitemap", {CHANGED_PATH, NEW_PATH}),
        # Feeds and listings give publication dates: they find the new item; the edit waits for the sitemap.
        ("feed", {NEW_PATH}),
        ("sections", {NEW_PATH}),
    ],
)
def test_second_run_fetches_exactly_the_changed_and_the_new_item(tmp_path, spider, fetched, first_run):
    site = FixtureSite()
    args = {"sections": "news/politics"} if spider == "sections" else {}
    before = stored(first_run(spider, tmp_path, args))
    assert P + CHANGED_PATH in before
    change_item(site)
    add_item(site)
    with FixtureServer(site) as srv:
        second = crawl_in_process(spider, srv.url, tmp_path, args=args, jsonl=tmp_path / "run2.jsonl")
        paths = srv.paths()

    assert served_items(site, paths) == sorted(fetched)
    assert len(item_paths(paths)) == len(set(item_paths(paths)))
    want = {P + NEW_PATH: expected_new()}
    if CHANGED_PATH in fetched:
        want[P + CHANGED_PATH] = expected_changed()

    # JSON Lines: the second run wrote exactly the fetched records.
    records = {r["url"]: r for r in second.records()}
    assert set(records) == set(want)
    for url, rec in records.items():
        assert {k: rec[k] for k in want[url]} == want[url]

    # SQLite: the new row, the changed row replaced with its earlier version kept, the rest untouched.
    rows = stored(second.sqlite)
    assert set(rows) == set(before) | {P + NEW_PATH}
    check_row(rows[P + NEW_PATH], expected_new())
    assert rows[P + NEW_PATH]["revision"] == 1
    with ArticleStore(second.sqlite, readonly=True) as store:
        revisions = store.revisions(P + CHANGED_PATH)
    if CHANGED_PATH in fetched:
        check_row(rows[P + CHANGED_PATH], expected_changed())
        assert rows[P + CHANGED_PATH]["revision"] == 2
        assert rows[P + CHANGED_PATH]["first_seen"] == before[P + CHANGED_PATH]["first_seen"]
        (old,) = revisions
        assert old["revision"] == 1 and old["content_hash"] == before[P + CHANGED_PATH]["content_hash"]
        assert old["record"]["body"] == expected_records()[P + CHANGED_PATH]["body"]
        assert old["date_modified"] == "2025-08-04T07:20:00Z"
    else:
        assert rows[P + CHANGED_PATH] == before[P + CHANGED_PATH] and revisions == []
    for url in set(before) - {P + CHANGED_PATH}:
        assert rows[url] == before[url]

    run = runs(second.sqlite)[-1]
    assert (run["items_new"], run["items_updated"], run["items_unchanged"]) == (1, len(want) - 1, 0)


# --- the decision itself ---------------------------------------------------------------------------


def looked_up(store: ArticleStore, *urls: str, **options) -> Freshness:
    """A ``Freshness`` reading ``store`` on the test's thread, with ``urls`` looked up already."""

    async def lookup(missing: list[str]):
        return store.lookup(missing)

    fresh = Freshness(lookup, **options)
    asyncio.run(fresh.prefetch(urls))
    return fresh


def store_with(tmp_path, url: str, date_modified: str, date_published: str, **more) -> ArticleStore:
    """A real store holding one item at ``url`` with these dates (and ``more`` upsert arguments)."""
    store = ArticleStore(tmp_path / "fresh.sqlite")
    record = {
        **expected_records()[P + CHANGED_PATH],
        "url": url,
        "content_hash": "h",
        "date_modified": date_modified,
        "date_published": date_published,
    }
    store.upsert(record, **more)
    return store


@pytest.fixture
def stored_a(tmp_path):
    with store_with(tmp_path, P + "/a", "2025-08-01T06:35:00Z", "2025-07-31T13:10:00Z", run_id=7) as store:
        yield store


@pytest.mark.parametrize(
    "seen, day_only, verdict",
    [
        (None, None, Verdict.UNCHANGED),  # a link without a date
        ("2025-08-01T09:35:00+03:00", None, Verdict.UNCHANGED),  # the same instant
        ("2025-08-01T09:35:01+03:00", None, Verdict.CHANGED),
        ("Thu, 31 Jul 2025 16:10:00 +0300", None, Verdict.UNCHANGED),  # RSS pubDate = publication
        ("1 Aug 2025", True, Verdict.UNCHANGED),  # listing day = the stored Beirut day
        ("2 Aug 2025", True, Verdict.CHANGED),
        ("2025-08-02", None, Verdict.CHANGED),  # a day-only lastmod
        ("not a date", None, Verdict.UNCHANGED),
    ],
)
def test_verdicts(stored_a, seen, day_only, verdict):
    assert looked_up(stored_a, P + "/a").verdict(P + "/a", seen, day_only=day_only) is verdict


def test_verdicts_new_full_and_done(stored_a):
    assert looked_up(stored_a, P + "/b").verdict(P + "/b", "2020-01-01") is Verdict.NEW
    assert looked_up(stored_a, P + "/a", full=True).verdict(P + "/a") is Verdict.FULL
    assert looked_up(stored_a, P + "/a", full=True, done_runs={7}).verdict(P + "/a") is Verdict.DONE
    assert looked_up(stored_a, P + "/a", done_runs={8}).verdict(P + "/a") is Verdict.UNCHANGED
    assert looked_up(stored_a, P + "/a", unfinished={P + "/a"}).verdict(P + "/a") is Verdict.UNFINISHED
    assert Freshness(None, done={P + "/b"}).verdict(P + "/b", "2030-01-01") is Verdict.DONE


def test_a_verdict_needs_its_url_looked_up_first(stored_a):
    """The crawl's lookups are awaited (off the reactor): a verdict never makes one itself."""
    fresh = looked_up(stored_a, P + "/a")
    with pytest.raises(LookupError, match="not looked up"):
        fresh.verdict(P + "/b", "2020-01-01")
    assert fresh.verdict(P + "/a") is Verdict.UNCHANGED
    assert not Verdict.DONE.fetch and Verdict.FULL.fetch and Verdict.NEW.fetch


def test_the_listed_date_counts_and_aliases_are_known(tmp_path):
    # Stored with a sitemap date later than the page's own dates (a site-wide <lastmod> bump).
    with store_with(
        tmp_path,
        P + "/d",
        "2025-08-01T06:35:00Z",
        "2025-07-31T13:10:00Z",
        listed="2025-08-09T00:00:00Z",
        aliases=[P + "/old-d"],
    ) as store:
        fresh = looked_up(store, P + "/d", P + "/old-d")
        assert fresh.verdict(P + "/d", "2025-08-09T03:00:00+03:00") is Verdict.UNCHANGED
        assert fresh.verdict(P + "/old-d", "2025-08-09T03:00:00+03:00") is Verdict.UNCHANGED
        assert fresh.verdict(P + "/old-d", "2025-08-09T03:00:01+03:00") is Verdict.CHANGED
        assert fresh.listed_date(P + "/old-d") == "2025-08-09T00:00:01Z"
        assert fresh.listed_date(P + "/old-d") is None  # handed over once


def test_listing_day_compares_beirut_days(tmp_path):
    # Stored 2025-07-31T22:30Z is 1 Aug 01:30 in Beirut: a card dated 1 Aug is not newer.
    fresh = looked_up(store_with(tmp_path, P + "/c", "2025-07-31T22:30:00Z", "2025-07-31T22:30:00Z"), P + "/c")
    assert fresh.verdict(P + "/c", "1 Aug 2025", day_only=True) is Verdict.UNCHANGED
    assert fresh.verdict(P + "/c", date(2025, 8, 2)) is Verdict.CHANGED
    assert fresh.verdict(P + "/c", datetime(2025, 7, 31, 22, 30, 1, tzinfo=UTC)) is Verdict.CHANGED


def test_a_lookup_the_store_cannot_answer_fetches_those_items(caplog):
    """A store that is locked or down past its wait cannot say what it holds: the items asked about are
    fetched (a stored one costs a request; skipping would lose a new one), and the run says so."""

    async def locked(urls):
        raise sqlite3.OperationalError("database is locked")

    stats = StatsCollector(get_crawler())
    fresh = Freshness(locked, lookup_errors=(sqlite3.OperationalError,), stats=stats)
    asyncio.run(fresh.prefetch([P + "/a", P + "/b"]))
    assert fresh.verdict(P + "/a", "2025-08-01T09:35:00+03:00") is Verdict.NEW
    assert stats.get_value("mayadeen/freshness/lookup_errors") == 1
    assert "could not say whether 2 items are stored" in caplog.text


def test_any_other_lookup_failure_is_not_taken_for_an_answer():
    async def broken(urls):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        asyncio.run(Freshness(broken, lookup_errors=(sqlite3.OperationalError,)).prefetch([P + "/a"]))
