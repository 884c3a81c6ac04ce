"""The breaking_news table on both engines (SQLite file, PostgreSQL database): identity, edits, flashes
without a time, linking to articles, writers at once, migration."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from mayadeen.breaking.similarity import content_words, headline_similarity, is_edit, text_key
from mayadeen.pages.ticker import TickerEntry
from mayadeen.store.breaking import BreakingStore, create_tables
from mayadeen.store.engines import connect
from mayadeen.store.sqlite import MEMORY, ArticleStore
from tests.conftest import ROOT
from tests.ticker_writer import record_pages

T = "2025-08-04T12:18:00Z"
SEEN = "2025-08-04T12:30:00Z"
LATER = "2025-08-04T12:31:00Z"
FEED = "Trump: We want to feed the people in Gaza, we do not want them to starve."


def flash(text: str, time: str | None = T, url: str | None = None) -> TickerEntry:
    return TickerEntry(text, time, url, "en")


@pytest.fixture
def breaking(store):
    """The flashes of the ``store`` fixture (conftest: a SQLite file, then a PostgreSQL database)."""
    return BreakingStore(store)


# --- the text rules -------------------------------------------------------------------------------


def test_text_key_ignores_case_punctuation_quotes_accents_and_spacing():
    assert text_key("Trump:  We want \u201cpeace\u201d, NOW") == "trump we want peace now"
    assert text_key('"Israel\'s" war') == text_key("\u201cIsrael\u2019s\u201d war") == "israels war"
    assert text_key("Caf\u00e9 in Sa\u00efda") == "cafe in saida"
    assert text_key("") == ""


def test_edit_rule():
    before = text_key("The Ministry of Health in Gaza: the toll rises to 175, including 93 children")
    assert is_edit(before, text_key("The Ministry of Health in Gaza: the toll rises to 176, including 93 children"))
    assert is_edit(
        before, text_key("The Ministry of Health in Gaza: the death toll rises to 175, including 93 children")
    )
    other = text_key("The Ministry of Health in Gaza: hospitals recorded six deaths due to starvation")
    assert not is_edit(before, other)
    assert not is_edit(before, "")


def test_headline_similarity():
    assert content_words("Sanctions on Russia, says the US") == {"sanction", "russia", "say"}
    assert headline_similarity(FEED, "Trump says US wants to feed people in Gaza, not let them starve") > 0.75
    assert headline_similarity(FEED, "UN warns Gaza faces water crisis, looming famine under Israeli siege") < 0.2
    assert headline_similarity(FEED, "") == 0.0


# --- identity -------------------------------------------------------------------------------------


def test_same_text_at_same_time_is_one_flash_whatever_the_run(breaking):
    assert [o for o, _ in breaking.record([flash(FEED)], SEEN)] == ["new"]
    ((outcome, record),) = breaking.record([flash(FEED.upper().replace(",", " ,"))], LATER)
    assert outcome == "unchanged"
    assert record == {
        "text": FEED,
        "time": T,
        "time_estimated": False,
        "url": None,
        "first_seen": SEEN,
        "last_seen": LATER,
        "article_url": None,
        "language": "en",
    }
    assert breaking.count() == 1


def test_same_text_at_another_time_is_another_flash(breaking):
    breaking.record([flash(FEED)], SEEN)
    assert breaking.record([flash(FEED, "2025-08-05T08:00:00Z")], LATER)[0][0] == "new"
    assert breaking.count() == 2


def test_small_edit_at_the_same_time_updates_the_flash(breaking):
    breaking.record([flash("Gaza: the toll rises to 175, including 93 children")], SEEN)
    ((outcome, record),) = breaking.record([flash("Gaza: the toll rises to 176, including 93 children")], LATER)
    assert outcome == "updated"
    assert (record["text"], record["first_seen"], record["last_seen"]) == (
        "Gaza: the toll rises to 176, including 93 children",
        SEEN,
        LATER,
    )
    assert breaking.flashes()[0]["edits"] == ["Gaza: the toll rises to 175, including 93 children"]
    # the old text seen again (a stale copy of a page) changes nothing
    ((outcome, record),) = breaking.record([flash("Gaza: the toll rises to 175, including 93 children")], LATER)
    assert (outcome, record["text"]) == ("unchanged", "Gaza: the toll rises to 176, including 93 children")
    assert breaking.count() == 1


def test_two_alike_flashes_at_the_same_time_on_one_page_stay_two(breaking):
    a, b = flash("Gaza: the toll rises to 175 today"), flash("Gaza: the toll rises to 176 today")
    assert [o for o, _ in breaking.record([a, b], SEEN)] == ["new", "new"]
    assert [o for o, _ in breaking.record([b, a], LATER)] == ["unchanged", "unchanged"]
    assert breaking.count() == 2


def test_items_alike_but_for_case_on_one_page_are_one_flash(breaking):
    items = [flash(FEED), flash(FEED.upper()), flash("Untimed flash", None), flash("UNTIMED FLASH!", None)]
    assert [o for o, _ in breaking.record(items, SEEN)] == ["new", "unchanged", "new", "unchanged"]
    assert breaking.count() == 2


def test_an_edit_goes_to_the_most_alike_flash(breaking):
    a, b = "Gaza: the death toll in Rafah rises to 175 today", "Gaza: the death toll in Rafah rises to 178 today"
    breaking.record([flash(a), flash(b)], SEEN)  # two flashes, both alike the edit below (94 % and 96 %)
    ((outcome, record),) = breaking.record([flash("Gaza: the death toll in Rafah now rises to 178 today")], LATER)
    assert outcome == "updated" and [f["edits"] for f in breaking.flashes()] == [[], [b]]


def test_different_flash_at_the_same_time_is_new(breaking):
    breaking.record([flash("The Ministry of Health in Gaza: This brings the total to 175")], SEEN)
    assert (
        breaking.record([flash("The Ministry of Health in Gaza: six deaths due to starvation")], LATER)[0][0] == "new"
    )


def test_flash_without_time_gets_its_first_seen_time_flagged_and_keeps_it(breaking):
    ((outcome, record),) = breaking.record([flash(FEED, None)], SEEN)
    assert outcome == "new" and record["time"] == SEEN and record["time_estimated"] is True
    ((outcome, record),) = breaking.record([flash(FEED, None)], LATER)
    assert outcome == "unchanged" and (record["time"], record["last_seen"]) == (SEEN, LATER)
    # its real time shows up later: the same flash, time repaired
    ((outcome, record),) = breaking.record([flash(FEED, T)], "2025-08-04T12:40:00Z")
    assert outcome == "updated" and (record["time"], record["time_estimated"]) == (T, False)
    assert breaking.count() == 1


def test_flash_without_time_matches_a_timed_flash_with_its_text(breaking):
    breaking.record([flash(FEED)], SEEN)
    assert breaking.record([flash(FEED, None)], LATER)[0][0] == "unchanged"
    assert breaking.flashes()[0]["time"] == T


def test_untimed_match_only_within_a_day(breaking):
    breaking.record([flash(FEED, None)], SEEN)
    assert breaking.record([flash(FEED, None)], "2025-08-06T12:30:00Z")[0][0] == "new"


def test_link_is_kept_and_filled_in(breaking):
    breaking.record([flash(FEED)], SEEN)
    ((_, record),) = breaking.record([flash(FEED, url="https://english.almayadeen.net/news/politics/x")], LATER)
    assert record["url"] == record["article_url"] == "https://english.almayadeen.net/news/politics/x"


def test_a_rolled_back_page_leaves_nothing(store, breaking):
    breaking.record([flash(FEED)], SEEN)
    with pytest.raises(store.errors):
        breaking.record([flash("A new flash", "2025-08-04T13:00:00Z"), flash(None, T)], LATER)  # text NOT NULL
    assert [f["text"] for f in breaking.flashes()] == [FEED]


# --- linking --------------------------------------------------------------------------------------

ARTICLE = "https://english.almayadeen.net/news/politics/trump-says-us-wants-to-feed-people-in-gaza"
HEADLINE = "Trump says US wants to feed people in Gaza, not let them starve"


def article(url: str, headline: str, published: str) -> dict:
    """As much of a record as linking reads; the store keys items by article_id."""
    return {
        "url": url,
        "article_id": str(zlib.crc32(url.encode())),
        "headline": headline,
        "date_published": published,
        "content_hash": url,
    }


def test_flash_links_to_a_stored_article_published_within_the_window(store, breaking):
    for record in (
        article(ARTICLE, HEADLINE, "2025-08-04T14:00:00Z"),
        article(ARTICLE + "-before", HEADLINE, "2025-08-04T12:00:00Z"),  # before the flash
        article(ARTICLE + "-late", HEADLINE, "2025-08-05T12:18:01Z"),  # 24 h + 1 s after it
        article(ARTICLE + "-other", "Russia sanctions loom as talks stall", "2025-08-04T13:00:00Z"),
    ):
        store.upsert(record)
    ((_, record),) = breaking.record([flash(FEED)], SEEN)
    assert record["article_url"] == ARTICLE


def test_stored_article_links_to_earlier_flashes_best_match_wins(store, breaking):
    weak = article(ARTICLE + "-weak", "Trump wants Gaza people fed, aides say, amid talks", "2025-08-04T13:00:00Z")
    breaking.record([flash(FEED), flash("Trump: sanctions on Russia", "2025-08-04T12:19:00Z")], SEEN)
    store.upsert(weak)
    assert breaking.link_article(weak["url"], weak["headline"], weak["date_published"]) == 1
    store.upsert(article(ARTICLE, HEADLINE, "2025-08-04T15:00:00Z"))
    assert breaking.link_article(ARTICLE, HEADLINE, "2025-08-04T15:00:00Z") == 1  # a better match wins
    assert breaking.link_article(weak["url"], weak["headline"], weak["date_published"]) == 0  # and keeps its flash
    assert breaking.link_article(ARTICLE + "-old", HEADLINE, "2025-08-04T12:00:00Z") == 0  # before the flash
    assert {f["text"]: f["article_url"] for f in breaking.flashes()} == {
        FEED: ARTICLE,
        "Trump: sanctions on Russia": None,
    }


def test_a_flash_that_links_to_an_item_keeps_that_article(store, breaking):
    own = "https://english.almayadeen.net/news/politics/its-own-story"
    breaking.record([flash(FEED, url=own)], SEEN)
    store.upsert(article(ARTICLE, HEADLINE, "2025-08-04T15:00:00Z"))
    assert breaking.link_article(ARTICLE, HEADLINE, "2025-08-04T15:00:00Z") == 0
    assert breaking.flashes()[0]["article_url"] == own


def test_threshold_and_window_are_settings(store):
    store.upsert(article(ARTICLE, HEADLINE, "2025-08-06T12:00:00Z"))
    strict = BreakingStore(store, link_window=3 * 24 * 3600, link_similarity=0.95)
    assert strict.record([flash(FEED)], SEEN)[0][1]["article_url"] is None  # not alike enough
    lenient = BreakingStore(store, link_window=3 * 24 * 3600, link_similarity=0.5)
    assert lenient.record([flash(FEED, "2025-08-04T12:17:00Z")], SEEN)[0][1]["article_url"] == ARTICLE


# --- the store ------------------------------------------------------------------------------------


def test_the_ticker_job_writes_while_a_crawl_holds_the_store(target, store, breaking):
    breaking.record([flash(FEED)], SEEN)
    with connect(target) as job:  # a second connection, as a ticker job beside a crawl
        assert BreakingStore(job).record([flash(FEED)], LATER)[0][0] == "unchanged"
        assert BreakingStore(job).record([flash(FEED, "2025-08-05T08:00:00Z")], LATER)[0][0] == "new"
    assert [(f["time"], f["last_seen"]) for f in breaking.flashes()] == [(T, LATER), ("2025-08-05T08:00:00Z", LATER)]


def test_a_file_with_the_flashes_alone_is_migrated_keeping_them(tmp_path):
    path = tmp_path / "s.sqlite"
    con = sqlite3.connect(path)  # what the ticker job alone used to leave: the table and nothing else
    create_tables(con)
    con.execute(
        "INSERT INTO breaking_news (text, time, time_estimated, first_seen, last_seen, language, text_key,"
        " edits) VALUES (?, ?, 0, ?, ?, 'en', ?, ?)",
        (FEED, T, SEEN, SEEN, text_key(FEED), '["Old text"]'),
    )
    con.commit()
    con.close()
    with ArticleStore(path) as store:  # then opened by a crawl: migrated, flashes kept
        assert BreakingStore(store).flashes() == [
            {
                "text": FEED,
                "time": T,
                "time_estimated": False,
                "url": None,
                "first_seen": SEEN,
                "last_seen": SEEN,
                "article_url": None,
                "language": "en",
                "edits": ["Old text"],
            }
        ]
        assert BreakingStore(store).record([flash(FEED)], LATER)[0][0] == "unchanged"
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM articles").fetchone() == (0,)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_flash_is_unstreamed_until_marked(breaking):
    breaking.record([flash(FEED), flash("Second flash", LATER)], SEEN)
    first, second = breaking.unstreamed(after=0, limit=10)
    assert [first[1]["text"], second[1]["text"]] == [FEED, "Second flash"] and first[0] < second[0]
    assert breaking.unstreamed(after=0, limit=1) == [first]
    assert breaking.unstreamed(after=first[0], limit=10) == [second]
    breaking.mark_streamed([first[0]])
    assert breaking.unstreamed(after=0, limit=10) == [second]
    breaking.record([flash(FEED), flash("Second flash", LATER)], LATER)  # seen again: no change to the mark
    assert [flash_id for flash_id, _ in breaking.unstreamed(after=0, limit=10)] == [second[0]]


def test_flashes_stored_before_the_streamed_mark_count_as_streamed(target):
    with connect(target) as store:  # a store from before the column: its flashes were streamed when stored
        BreakingStore(store).record([flash(FEED)], SEEN)
        store.write(lambda: store.run("DROP INDEX breaking_news_unstreamed"))
        store.write(lambda: store.run("ALTER TABLE breaking_news DROP COLUMN streamed"))
        store.write(lambda: store.run("DELETE FROM store_migrations WHERE version = 3"))  # back at version 2
    with connect(target) as store:  # opened again: the column is added, the flash counts as streamed
        breaking = BreakingStore(store)
        assert breaking.unstreamed(after=0, limit=10) == []
        breaking.record([flash("A new flash", LATER)], LATER)
        assert [r["text"] for _, r in breaking.unstreamed(after=0, limit=10)] == ["A new flash"]


def test_memory_store_for_runs_without_a_file():
    with ArticleStore(MEMORY) as store:
        breaking = BreakingStore(store)
        assert breaking.record([flash(FEED)], SEEN)[0][0] == "new"
        assert breaking.record([flash(FEED)], LATER)[0][0] == "unchanged"
        assert breaking.count() == 1


# --- writers at once ------------------------------------------------------------------------------

PAGES = 40


@pytest.mark.soak  # several processes; the quick set's twin: test_two_threads_recording_the_same_pages_…
def test_two_processes_recording_the_same_pages_at_once_store_each_flash_once(target, store, tmp_path):
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    jobs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ticker_writer", target.engine, target.location, str(go), str(PAGES), variant],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for variant in ("175", "176")
    ]
    assert [job.stdout.readline() for job in jobs] == ["ready\n"] * 2  # both connected, waiting for the start
    go.touch()
    outcomes = []
    for job in jobs:
        out, _ = job.communicate(timeout=120)
        assert job.returncode == 0
        outcomes.append(json.loads(out))
    assert_each_flash_stored_once(outcomes, store)


def test_two_threads_recording_the_same_pages_at_once_store_each_flash_once(target, store):
    """Two connections of this process, one a thread, record the same pages at once (released together)."""
    together = threading.Barrier(2)

    def job(variant: int) -> list[list[str]]:
        with connect(target) as own:
            together.wait(timeout=60)
            return record_pages(BreakingStore(own), PAGES, variant)

    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(job, variant) for variant in (175, 176)]
        outcomes = [job.result(timeout=120) for job in jobs]
    assert_each_flash_stored_once(outcomes, store)


def assert_each_flash_stored_once(outcomes: list[list[list[str]]], store) -> None:
    """Two jobs' outcomes of ``record_pages`` (variants 175 and 176), and what ``store`` holds after them."""
    for page in range(PAGES):  # each flash new in one job, then seen (or edited) by the other
        assert sorted(outcomes[0][page] + outcomes[1][page]) == ["new"] * 6 + ["unchanged"] * 5 + ["updated"], page
    rows = BreakingStore(store).flashes()
    assert len(rows) == PAGES * 6
    assert len({(r["time"], text_key(r["text"])) for r in rows}) == len({r["text"] for r in rows}) == len(rows)
    edited = [r for r in rows if r["edits"]]
    assert len(edited) == PAGES and all(len(r["edits"]) == 1 and r["edits"][0] != r["text"] for r in edited)
    assert sum(r["time_estimated"] for r in rows) == PAGES  # the undated flash of each page, once


def test_the_likeness_of_two_long_keys_is_judged_on_their_first_characters():
    # A page of 80 kB "flashes" would cost a comparison the product of their lengths: only the first
    # LIKENESS_CHARS count (a flash is a line).
    from mayadeen.breaking.similarity import LIKENESS_CHARS, edit_likeness

    assert LIKENESS_CHARS == 500
    assert edit_likeness("x" * 500 + "a" * 20_000, "x" * 500 + "b" * 20_000) == 1.0
    assert edit_likeness("x" * 499 + "a", "x" * 499 + "b") < 1.0
