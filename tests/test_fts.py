"""The full-text indexes on real SQLite files: built for a store that predates them, kept by triggers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mayadeen.pages.ticker import TickerEntry
from mayadeen.record import content_hash
from mayadeen.store.breaking import BreakingStore
from mayadeen.store.fts import ARTICLES_FTS, BREAKING_FTS, FTS_TABLE, FtsIndex
from mayadeen.store.sqlite import ArticleStore

EXPECTED = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "expected").glob("*.json"))
T1, T2 = "2025-08-04T12:30:00Z", "2025-08-05T06:00:00Z"


def record(path: Path, **changes) -> dict:
    rec = {**json.loads(path.read_text("utf-8")), "scraped_at": T1, **changes}
    rec["content_hash"] = content_hash(rec)
    return rec


def search(db: Path, query: str, index: FtsIndex = ARTICLES_FTS, column: str = "url") -> list[str]:
    """``column`` of the rows of ``index``'s table that match ``query``, sorted."""
    con = sqlite3.connect(db)
    try:
        return sorted(
            u
            for (u,) in con.execute(
                f"SELECT t.{column} FROM {index.name} JOIN {index.table} t ON t.rowid = {index.name}.rowid"
                f" WHERE {index.name} MATCH ?",
                (query,),
            )
        )
    finally:
        con.close()


def integrity_ok(db: Path, index: str = FTS_TABLE) -> None:
    con = sqlite3.connect(db)
    try:  # raises "database disk image is malformed" when the index and the rows disagree
        con.execute(f"INSERT INTO {index} ({index}, rank) VALUES ('integrity-check', 1)")
    finally:
        con.close()


def drop_index(db: Path, index: str) -> None:
    """Makes ``db`` a store written before ``index`` existed: no index, no triggers."""
    con = sqlite3.connect(db)
    with con:
        con.execute(f"DROP TABLE {index}")
        for trigger in ("insert", "delete", "update"):
            con.execute(f"DROP TRIGGER {index}_{trigger}")
        con.execute("DELETE FROM store_migrations WHERE version = 3")  # the index came with migration 3
    con.close()


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "mayadeen.sqlite"


def test_a_store_without_the_index_gets_it_filled_from_its_rows(db):
    with ArticleStore(db) as store:
        for path in EXPECTED:
            store.upsert(record(path))
    drop_index(db, FTS_TABLE)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        search(db, "Gaza")

    ArticleStore(db).close()
    gaza = sorted(
        r["url"]
        for r in map(record, EXPECTED)
        if "gaza" in " ".join([r["headline"], r["summary"] or "", r["body"], *r["tags"]]).lower()
    )
    assert gaza and search(db, "gaza") == gaza
    assert search(db, 'tags:"Popular Mobilization Forces"') == [
        "https://english.almayadeen.net/news/politics/iraqs-pmf-law-seen-as-test-of-sovereignty-amid-us-objections"
    ]
    integrity_ok(db)


def test_triggers_follow_revisions_and_deletes(db):
    path = next(p for p in EXPECTED if "opec" in p.name)
    first = record(path)
    with ArticleStore(db) as store:
        store.upsert(first, seen_at=T1)
        store.upsert({**first, "shares": 99}, seen_at=T2)  # unchanged content: only last_seen moves
        assert search(db, '"output hike"') == [first["url"]]
        revised = record(path, headline="OPEC agrees to a modest output rise", scraped_at=T2)
        assert store.upsert(revised, seen_at=T2) == "updated"
    assert search(db, '"modest output rise"') == [first["url"]]
    assert search(db, 'headline:"output hike"') == []
    integrity_ok(db)

    con = sqlite3.connect(db)
    with con:
        con.execute("DELETE FROM articles WHERE url = ?", (first["url"],))
    con.close()
    assert search(db, "OPEC") == []
    integrity_ok(db)


def search_flashes(db: Path, query: str) -> list[str]:
    return search(db, query, BREAKING_FTS, "text")


FLASH = TickerEntry("Israeli drone strikes a car in south Lebanon", "2025-08-04T12:00:00Z", None, "en")
OTHER = TickerEntry("Iran: talks with the IAEA within the new law", "2025-08-04T12:05:00Z", None, "en")


def test_a_store_without_the_flash_index_gets_it_at_its_next_opening(db):
    with ArticleStore(db) as store:
        BreakingStore(store).record([FLASH, OTHER], seen_at=T1)
    drop_index(db, BREAKING_FTS.name)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        search_flashes(db, "drone")

    ArticleStore(db).close()  # a crawl or the ticker job
    assert search_flashes(db, '"drone strikes a car"') == [FLASH.text]
    assert search_flashes(db, "IAEA") == [OTHER.text]
    integrity_ok(db, BREAKING_FTS.name)


def test_flash_triggers_follow_edits_and_deletes(db):
    with ArticleStore(db) as store:
        flashes = BreakingStore(store)
        flashes.record([FLASH], seen_at=T1)
        flashes.record([FLASH], seen_at=T2)  # seen again: only last_seen moves
        assert search_flashes(db, '"strikes a car"') == [FLASH.text]
        edited = TickerEntry("Israeli drone strikes two cars in south Lebanon", FLASH.time, None, "en")
        assert flashes.record([edited], seen_at=T2)[0][0] == "updated"
    assert search_flashes(db, '"strikes two cars"') == [edited.text]
    assert search_flashes(db, '"strikes a car"') == []
    integrity_ok(db, BREAKING_FTS.name)

    con = sqlite3.connect(db)
    with con:
        con.execute("DELETE FROM breaking_news")
    con.close()
    assert search_flashes(db, "drone") == []
    integrity_ok(db, BREAKING_FTS.name)
