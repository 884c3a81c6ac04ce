"""Full-text search (``mayadeen.store.search``) on both engines: a SQLite file's FTS5 indexes and a
real PostgreSQL database's tsvector columns, with the fixture records stored through the interface."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mayadeen.record import content_hash
from mayadeen.store.search import fts5_query, search, search_flashes

EXPECTED = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "expected").glob("*.json"))
T1, T2 = "2025-08-04T12:30:00Z", "2025-08-05T06:00:00Z"
WORD = "factions"  # in the body of PMF alone
PMF = "https://english.almayadeen.net/news/politics/iraqs-pmf-law-seen-as-test-of-sovereignty-amid-us-objections"


def record(path: Path, **changes) -> dict:
    rec = {**json.loads(path.read_text("utf-8")), "scraped_at": T1, **changes}
    rec["content_hash"] = content_hash(rec)
    return rec


@pytest.fixture
def records(store) -> dict[str, dict]:
    """Every fixture record, stored; url -> record."""
    stored = {}
    for path in EXPECTED:
        rec = record(path)
        store.upsert(rec, seen_at=T1)
        stored[rec["url"]] = rec
    return stored


def urls(hits) -> list[str]:
    return [hit.url for hit in hits]


def mentions(rec: dict, word: str, keys=("headline", "summary", "body", "tags")) -> bool:
    return re.search(rf"\b{word}\b", " ".join(str(rec[k]) for k in keys), re.I) is not None


def test_a_word_of_a_body_finds_its_article_with_a_marked_passage(store, records):
    rec = records[PMF]
    assert [u for u, r in records.items() if mentions(r, WORD)] == [PMF] and not mentions(rec, WORD, ["headline"])
    (hit,) = search(store, WORD)
    assert (hit.url, hit.headline, hit.date_published) == (PMF, rec["headline"], rec["date_published"])
    assert f"[{WORD}]" in hit.snippet and len(hit.snippet) < 400


def test_a_word_in_no_article_finds_nothing(store, records):
    assert search(store, "xylophonist") == []
    assert search(store, "") == [] and search(store, '"" OR') == []


def test_every_word_must_match_or_an_alternative_and_excluded_words_drop_items(store, records):
    both = search(store, f"{WORD} sovereignty")
    assert urls(both) == [PMF]
    assert search(store, f"{WORD} xylophonist") == []
    assert urls(search(store, f"{WORD} OR xylophonist")) == [PMF]
    washington = [u for u, r in records.items() if mentions(r, "Washington")]
    assert PMF in washington and len(washington) > 1
    assert sorted(urls(search(store, "Washington"))) == sorted(washington)
    assert sorted(urls(search(store, f"Washington -{WORD}"))) == sorted(set(washington) - {PMF})
    assert urls(search(store, '"Popular Mobilization Forces"')) == [PMF]


def test_a_revision_is_searched_by_its_new_text(store, records):
    edited = {**records[PMF], "body": re.sub(rf"\b{WORD}\b", "Quetzalcoatl", records[PMF]["body"])}
    edited["content_hash"] = content_hash(edited)
    assert store.upsert(edited, seen_at=T2) == "updated"
    assert search(store, WORD) == []
    assert urls(search(store, "Quetzalcoatl")) == [PMF]


def test_headline_matches_rank_first(store, records):
    word = "heatwave"
    in_headline = [u for u, r in records.items() if mentions(r, word, ["headline"])]
    elsewhere = [u for u, r in records.items() if mentions(r, word) and u not in in_headline]
    assert in_headline and elsewhere  # the fixtures have both
    found = urls(search(store, word))
    assert sorted(found[: len(in_headline)]) == sorted(in_headline)
    assert sorted(found[len(in_headline) :]) == sorted(elsewhere)
    assert len(search(store, word, limit=1)) == 1


def test_flashes_are_searched_and_an_edit_reindexes(store):
    insert = (
        "INSERT INTO breaking_news (text, time, time_estimated, first_seen, last_seen, text_key)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
    )
    store.write(lambda: store.run(insert, ("Trump: We want to feed the people in Gaza", T1, False, T1, T1, "k1")))
    store.write(lambda: store.run(insert, ("Sanctions on Russia if the war goes on", T2, False, T2, T2, "k2")))
    (hit,) = search_flashes(store, '"feed the people"')
    assert (hit.time, hit.article_url) == (T1, None)
    assert "[feed" in hit.snippet  # FTS5 marks the phrase, PostgreSQL each word
    store.write(
        lambda: store.run(
            "UPDATE breaking_news SET text = $1 WHERE text_key = $2",
            ("Trump: We want to feed the hungry of Gaza", "k1"),
        )
    )
    assert search_flashes(store, "people") == []
    assert [h.text for h in search_flashes(store, "hungry")] == ["Trump: We want to feed the hungry of Gaza"]
    assert [h.time for h in search_flashes(store, "Gaza OR Russia")] == [T2, T1]  # equal rank: newest first


@pytest.mark.parametrize("query, expression", [
    ("water gaza", '"water" "gaza"'),
    ('"desalination plants" OR famine', '"desalination plants" OR "famine"'),
    ("gaza -water", '"gaza" NOT "water"'),
    ("-water gaza", '"gaza"'),
    ('tags:x AND "a"b NEAR(', '"tags:x" "AND" "a" "b" "NEAR("'),
    ("OR & OR", ""),
])  # fmt: skip
def test_fts5_query_quotes_everything(query, expression):
    assert fts5_query(query) == expression
