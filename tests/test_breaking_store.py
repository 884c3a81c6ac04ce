"""The breaking_news table: identity, edits, flashes without a time, linking to articles, migration."""

from __future__ import annotations

import sqlite3
import zlib

import pytest

from mayadeen.breaking.similarity import content_words, headline_similarity, is_edit, text_key
from mayadeen.pages.ticker import TickerEntry
from mayadeen.store.breaking import BreakingStore
from mayadeen.store.sqlite import ArticleStore

T = "2025-08-04T12:18:00Z"
SEEN = "2025-08-04T12:30:00Z"
LATER = "2025-08-04T12:31:00Z"
FEED = "Trump: We want to feed the people in Gaza, we do not want them to starve."


def flash(text: str, time: str | None = T, url: str | None = None) -> TickerEntry:
    return TickerEntry(text, time, url, "en")


@pytest.fixture
def store(tmp_path):
    with BreakingStore(tmp_path / "s.sqlite") as s:
        yield s


# --- the text rules -------------------------------------------------------------------------------

def test_text_key_ignores_case_punctuation_quotes_accents_and_spacing():
    assert text_key("Trump:  We want \u201cpeace\u201d, NOW") == "trump we want peace now"
    assert text_key("\"Israel's\" war") == text_key("\u201cIsrael\u2019s\u201d war") == "israels war"
    assert text_key("Caf\u00e9 in Sa\u00efda") == "cafe in saida"
    assert text_key("") == ""


def test_edit_rule():
    before = text_key("The Ministry of Health in Gaza: the toll rises to 175, including 93 children")
    assert is_edit(before, text_key("The Ministry of Health in Gaza: the toll rises to 176, including 93 children"))
    assert is_edit(before, text_key("The Ministry of Health in Gaza: the death toll rises to 175, including 93 children"))
    other = text_key("The Ministry of Health in Gaza: hospitals recorded six deaths due to starvation")
    assert not is_edit(before, other)
    assert not is_edit(before, "")


def test_headline_similarity():
    assert content_words("Sanctions on Russia, says the US") == {"sanction", "russia", "say"}
    assert headline_similarity(FEED, "Trump says US wants to feed people in Gaza, not let them starve") > 0.75
    assert headline_similarity(FEED, "UN warns Gaza faces water crisis, looming famine under Israeli siege") < 0.2
    assert headline_similarity(FEED, "") == 0.0


# --- identity -------------------------------------------------------------------------------------

def test_same_text_at_same_time_is_one_flash_whatever_the_run(store):
    assert [o for o, _ in store.record([flash(FEED)], SEEN)] == ["new"]
    (outcome, record), = store.record([flash(FEED.upper().replace(",", " ,"))], LATER)
    assert outcome == "unchanged"
    assert record == {"text": FEED, "time": T, "time_estimated": False, "url": None, "first_seen": SEEN,
                      "last_seen": LATER, "article_url": None, "language": "en"}
    assert store.count() == 1


def test_same_text_at_another_time_is_another_flash(store):
    store.record([flash(FEED)], SEEN)
    assert store.record([flash(FEED, "2025-08-05T08:00:00Z")], LATER)[0][0] == "new"
    assert store.count() == 2


def test_small_edit_at_the_same_time_updates_the_flash(store):
    store.record([flash("Gaza: the toll rises to 175, including 93 children")], SEEN)
    (outcome, record), = store.record([flash("Gaza: the toll rises to 176, including 93 children")], LATER)
    assert outcome == "updated"
    assert (record["text"], record["first_seen"], record["last_seen"]) == (
        "Gaza: the toll rises to 176, including 93 children", SEEN, LATER)
    assert store.flashes()[0]["edits"] == ["Gaza: the toll rises to 175, including 93 children"]
    # the old text seen again (a stale copy of a page) changes nothing
    (outcome, record), = store.record([flash("Gaza: the toll rises to 175, including 93 children")], LATER)
    assert (outcome, record["text"]) == ("unchanged", "Gaza: the toll rises to 176, including 93 children")
    assert store.count() == 1


def test_two_alike_flashes_at_the_same_time_on_one_page_stay_two(store):
    a, b = flash("Gaza: the toll rises to 175 today"), flash("Gaza: the toll rises to 176 today")
    assert [o for o, _ in store.record([a, b], SEEN)] == ["new", "new"]
    assert [o for o, _ in store.record([b, a], LATER)] == ["unchanged", "unchanged"]
    assert store.count() == 2


def test_items_alike_but_for_case_on_one_page_are_one_flash(store):
    items = [flash(FEED), flash(FEED.upper()), flash("Untimed flash", None), flash("UNTIMED FLASH!", None)]
    assert [o for o, _ in store.record(items, SEEN)] == ["new", "unchanged", "new", "unchanged"]
    assert store.count() == 2


def test_an_edit_goes_to_the_most_alike_flash(store):
    a, b = "Gaza: the death toll in Rafah rises to 175 today", "Gaza: the death toll in Rafah rises to 178 today"
    store.record([flash(a), flash(b)], SEEN)  # two flashes, both alike the edit below (94 % and 96 %)
    (outcome, record), = store.record([flash("Gaza: the death toll in Rafah now rises to 178 today")], LATER)
    assert outcome == "updated" and [f["edits"] for f in store.flashes()] == [[], [b]]


def test_different_flash_at_the_same_time_is_new(store):
    store.record([flash("The Ministry of Health in Gaza: This brings the total to 175")], SEEN)
    assert store.record([flash("The Ministry of Health in Gaza: six deaths due to starvation")], LATER)[0][0] == "new"


def test_flash_without_time_gets_its_first_seen_time_flagged_and_keeps_it(store):
    (outcome, record), = store.record([flash(FEED, None)], SEEN)
    assert outcome == "new" and record["time"] == SEEN and record["time_estimated"] is True
    (outcome, record), = store.record([flash(FEED, None)], LATER)
    assert outcome == "unchanged" and (record["time"], record["last_seen"]) == (SEEN, LATER)
    # its real time shows up later: the same flash, time repaired
    (outcome, record), = store.record([flash(FEED, T)], "2025-08-04T12:40:00Z")
    assert outcome == "updated" and (record["time"], record["time_estimated"]) == (T, False)
    assert store.count() == 1


def test_flash_without_time_matches_a_timed_flash_with_its_text(store):
    store.record([flash(FEED)], SEEN)
    assert store.record([flash(FEED, None)], LATER)[0][0] == "unchanged"
    assert store.flashes()[0]["time"] == T


def test_untimed_match_only_within_a_day(store):
    store.record([flash(FEED, None)], SEEN)
    assert store.record([flash(FEED, None)], "2025-08-06T12:30:00Z")[0][0] == "new"


def test_link_is_kept_and_filled_in(store):
    store.record([flash(FEED)], SEEN)
    (_, record), = store.record([flash(FEED, url="https://english.almayadeen.net/news/politics/x")], LATER)
    assert record["url"] == record["article_url"] == "https://english.almayadeen.net/news/politics/x"


def test_a_rolled_back_page_leaves_nothing(store):
    store.record([flash(FEED)], SEEN)
    with pytest.raises(sqlite3.Error):
        store.record([flash("A new flash", "2025-08-04T13:00:00Z"), flash(None, T)], LATER)  # text NOT NULL
    assert [f["text"] for f in store.flashes()] == [FEED]


# --- linking --------------------------------------------------------------------------------------

ARTICLE = "https://english.almayadeen.net/news/politics/trump-says-us-wants-to-feed-people-in-gaza"
HEADLINE = "Trump says US wants to feed people in Gaza, not let them starve"


def article(url: str, headline: str, published: str) -> dict:
    """As much of a record as linking reads; the store keys items by article_id."""
    return {"url": url, "article_id": str(zlib.crc32(url.encode())), "headline": headline,
            "date_published": published, "content_hash": url}


def stored_articles(path, *records) -> None:
    with ArticleStore(path) as articles:
        for record in records:
            articles.upsert(record)


def test_flash_links_to_a_stored_article_published_within_the_window(tmp_path):
    path = tmp_path / "s.sqlite"
    stored_articles(path,
                    article(ARTICLE, HEADLINE, "2025-08-04T14:00:00Z"),
                    article(ARTICLE + "-before", HEADLINE, "2025-08-04T12:00:00Z"),  # before the flash
                    article(ARTICLE + "-late", HEADLINE, "2025-08-05T12:18:01Z"),  # 24 h + 1 s after it
                    article(ARTICLE + "-other", "Russia sanctions loom as talks stall", "2025-08-04T13:00:00Z"))
    with BreakingStore(path) as store:
        (_, record), = store.record([flash(FEED)], SEEN)
    assert record["article_url"] == ARTICLE


def test_stored_article_links_to_earlier_flashes_best_match_wins(tmp_path):
    path = tmp_path / "s.sqlite"
    with BreakingStore(path) as store:
        store.record([flash(FEED), flash("Trump: sanctions on Russia", "2025-08-04T12:19:00Z")], SEEN)
        stored_articles(path, article(ARTICLE + "-weak", "Trump wants Gaza people fed, aides say, amid talks",
                                      "2025-08-04T13:00:00Z"))
        assert store.link_article(ARTICLE + "-weak", "Trump wants Gaza people fed, aides say, amid talks",
                                  "2025-08-04T13:00:00Z") == 1
        stored_articles(path, article(ARTICLE, HEADLINE, "2025-08-04T15:00:00Z"))
        assert store.link_article(ARTICLE, HEADLINE, "2025-08-04T15:00:00Z") == 1  # a better match wins
        assert store.link_article(ARTICLE + "-weak", "Trump wants Gaza people fed, aides say, amid talks",
                                  "2025-08-04T13:00:00Z") == 0  # and keeps its flash
        assert store.link_article(ARTICLE + "-old", HEADLINE, "2025-08-04T12:00:00Z") == 0  # before the flash
        links = {f["text"]: f["article_url"] for f in store.flashes()}
    assert links == {FEED: ARTICLE, "Trump: sanctions on Russia": None}


def test_a_flash_that_links_to_an_item_keeps_that_article(tmp_path):
    path = tmp_path / "s.sqlite"
    own = "https://english.almayadeen.net/news/politics/its-own-story"
    with BreakingStore(path) as store:
        store.record([flash(FEED, url=own)], SEEN)
        stored_articles(path, article(ARTICLE, HEADLINE, "2025-08-04T15:00:00Z"))
        assert store.link_article(ARTICLE, HEADLINE, "2025-08-04T15:00:00Z") == 0
        assert store.flashes()[0]["article_url"] == own


def test_threshold_and_window_are_settings(tmp_path):
    path = tmp_path / "s.sqlite"
    stored_articles(path, article(ARTICLE, HEADLINE, "2025-08-06T12:00:00Z"))
    with BreakingStore(path, link_window=3 * 24 * 3600, link_similarity=0.95) as store:
        assert store.record([flash(FEED)], SEEN)[0][1]["article_url"] is None  # not alike enough
    with BreakingStore(path, link_window=3 * 24 * 3600, link_similarity=0.5) as store:
        assert store.record([flash(FEED, "2025-08-04T12:17:00Z")], SEEN)[0][1]["article_url"] == ARTICLE


# --- the store file -------------------------------------------------------------------------------

def test_article_store_migration_creates_the_table_and_both_share_the_file(tmp_path):
    path = tmp_path / "s.sqlite"
    with BreakingStore(path) as store:  # a file made by the ticker job alone
        store.record([flash(FEED)], SEEN)
    with ArticleStore(path) as articles:  # then opened by a crawl: migrated, flashes kept
        assert articles.conn.execute("SELECT count(*) FROM breaking_news").fetchone() == (1,)
        with BreakingStore(path) as store:  # the ticker job writes while a crawl holds the store
            assert store.record([flash(FEED)], LATER)[0][0] == "unchanged"
    fresh = tmp_path / "fresh.sqlite"
    ArticleStore(fresh).close()
    con = sqlite3.connect(fresh)
    assert con.execute("SELECT name FROM sqlite_master WHERE name = 'breaking_news'").fetchone() == ("breaking_news",)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_memory_store_for_runs_without_a_file():
    with BreakingStore(":memory:") as store:
        assert store.record([flash(FEED)], SEEN)[0][0] == "new"
        assert store.record([flash(FEED)], LATER)[0][0] == "unchanged"
