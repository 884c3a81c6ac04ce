"""The store on both engines: upserts and revisions, exact round-trips, readers and concurrent writers.

Engine-independent semantics run on a SQLite file and on a real PostgreSQL database (``store``,
``target``); WAL, SQLite's query plans and column affinities are tested on SQLite only.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mayadeen.record import content_hash
from mayadeen.store.engines import POSTGRESQL, SQLITE, StoreTarget, connect
from mayadeen.store.model import METADATA_COLUMNS, RECORD_COLUMNS, ItemState
from mayadeen.store.postgres_schema import SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION
from mayadeen.store.run_progress import COLUMNS as PROGRESS_COLUMNS
from mayadeen.store.schema import SCHEMA_VERSION
from mayadeen.store.sqlite import ArticleStore
from tests.scheduled import wait_for
from tests.test_schema import KEYS

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = sorted((ROOT / "fixtures" / "expected").glob("*.json"))
T1, T2, T3 = "2025-08-04T12:30:00Z", "2025-08-05T06:00:00Z", "2025-08-06T06:00:00Z"


def full_record(path: Path, **changes) -> dict:
    record = json.loads(path.read_text(encoding="utf-8"))
    record["scraped_at"] = T1
    record.update(changes)
    record["content_hash"] = content_hash(record)
    return record


def rehashed(record: dict, **changes) -> dict:
    new = {**record, **changes}
    new["content_hash"] = content_hash(new)
    return new


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "mayadeen.sqlite"


@pytest.fixture
def sqlite_store(db):
    with ArticleStore(db) as store:
        yield store


def sql(store, statement: str):
    """A statement without parameters on either engine's connection."""
    return store.conn.execute(statement)


def schema_version(store) -> int:
    return sql(store, "SELECT max(version) FROM store_migrations").fetchone()[0]


def known_version(engine: str) -> int:
    return POSTGRES_SCHEMA_VERSION if engine == POSTGRESQL else SCHEMA_VERSION


def add_migration_row(target: StoreTarget, version: int) -> None:
    """Records a migration this code does not know, as a newer version of the code would."""
    with connect(target) as store:
        store.write(
            lambda: store.run(
                "INSERT INTO store_migrations (version, name, applied_at) VALUES ($1, 'newer', $2)", (version, T1)
            )
        )


def as_before_the_migrations_table(store) -> None:
    """The store as the code before ``store_migrations`` left it: its version in ``user_version``
    (SQLite) or ``store_schema`` (PostgreSQL)."""
    store.write(lambda: store.run("DROP TABLE store_migrations"))
    if store.engine == POSTGRESQL:
        store.write(lambda: store.run("CREATE TABLE store_schema (version integer NOT NULL)"))
        store.write(lambda: store.run("INSERT INTO store_schema (version) VALUES (2)"))
    else:
        sql(store, "PRAGMA user_version = 2")


def assert_sound(store) -> None:
    """SQLite's own integrity check (PostgreSQL keeps its pages sound itself)."""
    if store.engine == SQLITE:
        assert sql(store, "PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.fixture
def records() -> list[dict]:
    return [full_record(p) for p in EXPECTED]


BOOKKEEPING = ("first_seen", "last_seen", "revision", "listed_date", "last_run")


def strip(stored: dict) -> dict:
    return {k: v for k, v in stored.items() if k not in BOOKKEEPING}


# --- tables ----------------------------------------------------------------------------------------


def test_one_column_per_record_key(sqlite_store):
    store = sqlite_store
    columns = [row[1] for row in store.conn.execute("PRAGMA table_info(articles)")]
    assert columns == [*KEYS, *BOOKKEEPING]  # KEYS: the record's keys, written out
    assert [row[1] for row in store.conn.execute("PRAGMA table_info(article_revisions)")] == [
        "article_id", "revision", "url", "content_hash", "date_modified", "record", "seen_at",
    ]  # fmt: skip
    assert [row[1] for row in store.conn.execute("PRAGMA table_info(article_urls)")] == ["url", "article_id"]
    assert [row[1] for row in store.conn.execute("PRAGMA table_info(crawl_runs)")] == [
        "id", "spider", "arguments", "started_at", "finished_at", "items_new", "items_updated",
        "items_unchanged", "items_dropped", "requests", "responses_by_status", "errors", "finish_reason",
        "coverage", *PROGRESS_COLUMNS,
    ]  # fmt: skip


def test_schema_version_and_reopening_keeps_data(target, records):
    with connect(target) as store:
        store.upsert(records[0], seen_at=T1)
        assert schema_version(store) == store.schema_version() == known_version(target.engine)
    with connect(target) as store:
        assert store.count() == 1 and schema_version(store) == known_version(target.engine)


def test_a_store_from_before_the_later_tables_gets_them_at_open(target, records):
    """A store written before failing items, captures, breaking news and search existed (dropped
    here) is brought up to date by the next writer, its rows kept and searchable."""
    with connect(target) as store:
        store.upsert(records[0], seen_at=T1)
        later = ("failing_items", "warc_captures", "breaking_news")
        store.write(lambda: [store.run(f"DROP TABLE {table}") for table in later])
        if target.engine == POSTGRESQL:
            store.write(lambda: store.run("ALTER TABLE articles DROP COLUMN search"))
        else:
            fts = [
                "TABLE articles_fts",
                "TABLE breaking_fts",
                *(f"TRIGGER articles_fts_{event}" for event in ("insert", "delete", "update")),
            ]
            store.write(lambda: [store.run(f"DROP {name}") for name in fts])
        as_before_the_migrations_table(store)
    with connect(target) as store:
        assert store.schema_version() == known_version(target.engine)
        for table in later:
            assert store.row(f"SELECT count(*) AS n FROM {table}") == {"n": 0}
        assert store.count() == 1
        word = records[0]["headline"].split()[-1]
        if target.engine == POSTGRESQL:
            found = store.rows("SELECT url FROM articles WHERE search @@ plainto_tsquery('english', $1)", (word,))
        else:
            found = store.rows(
                "SELECT a.url FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid"
                " WHERE articles_fts MATCH $1",
                (f'"{word}"',),
            )
        assert found == [{"url": records[0]["url"]}]


def test_a_newer_store_is_refused(target):
    add_migration_row(target, known_version(target.engine) + 1)
    with pytest.raises(RuntimeError, match="schema version"):
        connect(target)
    with connect(target, readonly=True):  # reading is still fine
        pass


# --- articles --------------------------------------------------------------------------------------


def test_insert_every_expected_record(store, records):
    for record in records:
        assert store.upsert(record, seen_at=T1) == "new"
    assert store.count() == 14
    for record in records:
        stored = store.get(record["url"])
        assert strip(stored) == record
        # The same JSON text as the record: objects' keys in the contract order (jsonb keeps its own).
        assert json.dumps(strip(stored), ensure_ascii=False) == json.dumps(record, ensure_ascii=False)
        assert [json.dumps(r) for r in store.iter_records() if r["url"] == record["url"]] == [json.dumps(record)]
        assert (stored["first_seen"], stored["last_seen"], stored["revision"]) == (T1, T1, 1)
        assert store.get(record["article_id"]) == stored and store.urls(record["url"]) == [record["url"]]
    assert store.get("https://english.almayadeen.net/news/politics/unknown") is None


def test_unchanged_content_updates_the_metadata_in_place(store, records):
    store.upsert(records[0], seen_at=T1, listed="2025-08-01T00:00:00Z")
    refetch = {
        **records[0],
        "shares": 250,
        "scraped_at": T2,
        "date_modified": T2,
        "section": "Iraq",
        "source": "Agencies",
        "related": [],
    }  # same content_hash
    assert store.upsert(refetch, seen_at=T2, listed="2025-07-01T00:00:00Z") == "unchanged"
    stored = store.get(records[0]["url"])
    assert strip(stored) == refetch
    assert (stored["first_seen"], stored["last_seen"], stored["revision"]) == (T1, T2, 1)
    assert stored["listed_date"] == "2025-08-01T00:00:00Z"  # the newest discovery date is kept
    assert store.revisions(records[0]["url"]) == []
    assert set(METADATA_COLUMNS) == set(RECORD_COLUMNS) - {
        "article_id",
        "headline",
        "summary",
        "body",
        "authors",
        "images",
        "video",
    }


def test_tags_in_another_order_are_metadata_not_a_revision(store, records):
    record = next(r for r in records if len(r["tags"]) > 1)
    store.upsert(record, seen_at=T1)
    reordered = {**record, "tags": record["tags"][::-1]}
    reordered["content_hash"] = content_hash(reordered)
    assert reordered["content_hash"] == record["content_hash"]
    assert store.upsert(reordered, seen_at=T2) == "unchanged"
    stored = store.get(record["url"])
    assert stored["tags"] == record["tags"][::-1] and stored["revision"] == 1
    assert store.revisions(record["url"]) == []
    renamed = {**record, "tags": [*record["tags"][:-1], "Another tag"]}
    renamed["content_hash"] = content_hash(renamed)
    assert store.upsert(renamed, seen_at=T2) == "updated"  # a tag's name is content


def test_a_renamed_item_keeps_its_row_and_its_old_url(store, records):
    old = records[0]
    store.upsert(old, seen_at=T1)
    renamed = {**old, "url": old["url"] + "-renamed", "scraped_at": T2}
    assert store.upsert(renamed, seen_at=T2, aliases=[old["url"], renamed["url"]]) == "unchanged"
    assert store.count() == 1
    assert store.get(old["url"]) == store.get(renamed["url"]) == store.get(old["article_id"])
    assert store.get(old["url"])["url"] == renamed["url"]
    assert store.urls(old["article_id"]) == sorted([old["url"], renamed["url"]])
    edited = rehashed(renamed, headline="Edited", url=old["url"] + "-again")
    assert store.upsert(edited, seen_at=T3) == "updated"
    (first,) = store.revisions(old["url"])
    assert first["url"] == renamed["url"] and first["record"] == renamed
    assert len(store.lookup([old["url"], renamed["url"], edited["url"]])) == 3


def test_changed_content_makes_a_revision_and_keeps_the_old_version(store, records):
    first = records[2]
    store.upsert(first, seen_at=T1)
    second = rehashed(first, headline="A corrected headline", date_modified=T2, scraped_at=T2)
    assert store.upsert(second, seen_at=T2) == "updated"
    stored = store.get(first["url"])
    assert strip(stored) == second
    assert (stored["first_seen"], stored["last_seen"], stored["revision"]) == (T1, T2, 2)
    assert store.revisions(first["url"]) == [
        {"revision": 1, "url": first["url"], "content_hash": first["content_hash"],
         "date_modified": first["date_modified"], "seen_at": T1, "record": first},
    ]  # fmt: skip

    third = rehashed(second, body=second["body"] + "\n\nUpdate: a late paragraph.", scraped_at=T3)
    assert store.upsert(third, seen_at=T3) == "updated"
    assert store.get(first["url"])["revision"] == 3
    assert [(r["revision"], r["record"]) for r in store.revisions(first["url"])] == [(1, first), (2, second)]
    assert store.count() == 1


def test_an_earlier_version_coming_back_changes_nothing(store, records):
    """A slow run's fetch from before an edit, stored after the edit, must not put the old version back:
    the next runs would skip the edit, whose date is stored."""
    old = records[2]
    newer = rehashed(old, body=old["body"] + "\n\nUpdate: a late paragraph.", date_modified=T2, scraped_at=T2)
    assert store.upsert(old, seen_at=T1) == "new"
    assert store.upsert(newer, seen_at=T2) == "updated"
    written = []
    assert store.upsert(old, seen_at=T3, also=lambda: written.append(1)) == "stale" and written == []
    stored = store.get(old["url"])
    assert strip(stored) == newer and (stored["revision"], stored["last_seen"]) == (2, T3)  # seen, not taken
    assert [r["revision"] for r in store.revisions(old["url"])] == [1]
    assert store.upsert(rehashed(newer, date_modified=T3), seen_at=T3) == "unchanged"  # newer: taken
    assert store.get(old["url"])["date_modified"] == T3


def test_an_older_version_never_stored_is_kept_out_unless_the_run_takes_what_it_fetches(store, records):
    """A slow run's copy from between two edits (never stored) is older too; a run that asks for what the
    site says now (``-a full=1``, a re-extraction) takes it: a wrong stored date (an older parser's) must
    be possible to set right."""
    wrong = rehashed(records[2], date_modified=T3)  # later than the page's real dates
    assert store.upsert(wrong, seen_at=T1) == "new"
    edit = rehashed(records[2], body=records[2]["body"] + "\n\nUpdate.", date_modified=T2)
    assert store.upsert(edit, seen_at=T2) == "stale"
    assert store.upsert(edit, seen_at=T2, take_fetched=True) == "updated"
    assert strip(store.get(edit["url"])) == edit


def test_a_version_lacking_what_the_stored_one_has_changes_nothing_unless_modified_later(store, records):
    """A page broken for a while (an empty article body, a template without its byline or date) must not
    replace a good record: the next runs would skip the page (its date is stored) and keep the worse one."""
    good = records[2]
    assert store.upsert(good, seen_at=T1) == "new"
    for broken in (
        rehashed(good, body="", word_count=0),
        rehashed(good, authors=[], headline=None),
        {**good, "date_published": None},  # the same content: metadata alone would have nulled it in place
        {**good, "date_modified": None},  # and with it the guard against an earlier version coming back
    ):
        written = []  # the caller's writes that belong with the item (its WARC capture) go with it
        assert store.upsert(broken, seen_at=T2, also=lambda: written.append(1)) == "degraded" and written == []
    stored = store.get(good["url"])
    assert strip(stored) == good and (stored["revision"], stored["last_seen"]) == (1, T2)  # seen, not taken
    edited = rehashed(good, body="", word_count=0, date_modified=T3)  # an edit that empties it: taken
    assert store.upsert(edited, seen_at=T3) == "updated" and store.get(good["url"])["body"] == ""
    undated = rehashed(edited, body="An edit.", word_count=2, date_modified=None)  # new content, no date
    assert store.upsert(undated, seen_at=T3) == "updated"  # a site that stopped giving modification times


def test_a_version_kept_out_still_tells_where_the_item_is_and_when_it_was_listed(store, records):
    """The content stays, but a move to a new address and a discovery date that moved are news: without
    them every run fetched the item again (its new URL unknown, its listed date behind) and warned again."""
    good = records[2]
    assert store.upsert(good, seen_at=T1) == "new"
    moved = f"{good['url']}-moved"
    broken = rehashed(good, url=moved, tags=[])  # an edit that drops the tags without a new date
    assert store.upsert(broken, seen_at=T2, aliases=[good["url"]], listed=T3) == "degraded"
    stored = store.get(moved)
    assert stored is not None and stored["url"] == moved and stored["tags"] == good["tags"]
    assert (stored["listed_date"], stored["revision"]) == (T3, 1)
    assert store.get(good["url"])["article_id"] == good["article_id"]  # the old address, an alias
    # a run that asks for what the site says now (-a full=1) takes it
    assert store.upsert(broken, seen_at=T3, take_fetched=True) == "updated" and store.get(moved)["tags"] == []


def test_lists_and_objects_are_json_text_ints_are_integers(sqlite_store, records):
    store = sqlite_store
    video = next(r for r in records if r["kind"] == "video")
    store.upsert(video, seen_at=T1)
    row = store.conn.execute(
        "SELECT authors, tags, image, images, video, related, typeof(shares), typeof(word_count),"
        " typeof(read_time_minutes), typeof(summary) FROM articles WHERE url = ?",
        (video["url"],),
    ).fetchone()
    for key, text in zip(("authors", "tags", "image", "images", "video", "related"), row[:6], strict=True):
        assert isinstance(text, str) and json.loads(text) == video[key]
    assert row[6:] == ("integer", "integer", "null", "null")
    # SQL users can reach into the JSON
    duration = store.conn.execute("SELECT video ->> '$.duration_seconds' FROM articles").fetchone()[0]
    assert duration == video["video"]["duration_seconds"]


def test_non_ascii_is_stored_as_is(store, records):
    record = rehashed(records[0], tags=["Lebanon", "لبنان", "Beirut’s “port”"])
    store.upsert(record, seen_at=T1)
    (tags,) = sql(
        store, "SELECT tags::text FROM articles" if store.engine == POSTGRESQL else "SELECT tags FROM articles"
    ).fetchone()
    assert "لبنان" in tags and "\\u" not in tags
    assert store.get(record["url"])["tags"] == record["tags"]


HOSTILE = [
    "'); DROP TABLE articles;--",
    '{"a":"\\""}',
    "Robert'); DELETE FROM article_revisions WHERE ('1'='1",
    'quote " backslash \\ nul-free ; -- /* */ ? :name $1 %s {0}',
    "\u2028line separator\u2029 and emoji 🔥 and tab\t",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_sql_and_json_metacharacters_round_trip_exactly(store, records, text):
    hostile = rehashed(
        records[0],
        url=records[0]["url"] + "-it's",
        headline=text,
        summary=text,
        tags=[text, '{"a":"\\""}', "'); DROP TABLE articles;--"],
        related=[{"url": records[0]["url"] + "?q=';--", "title": text, "relation": "read_more"}],
    )
    assert store.upsert(hostile, seen_at=T1) == "new"
    assert strip(store.get(hostile["url"])) == hostile
    changed = rehashed(hostile, body=text)
    assert store.upsert(changed, seen_at=T2) == "updated"
    assert store.revisions(hostile["url"])[0]["record"] == hostile
    assert strip(store.get(hostile["url"])) == changed
    assert store.lookup([hostile["url"]])[hostile["url"]].article_id == changed["article_id"]
    assert store.count() == 1
    assert_sound(store)


def test_lookup_answers_only_the_urls_asked_about(store, records):
    for record in records:
        store.upsert(record, seen_at=T1, listed="2025-08-02T00:00:00Z", run_id=3)
    asked = [records[0]["url"], records[3]["url"], "https://english.almayadeen.net/news/politics/unknown"]
    found = store.lookup(asked)
    assert found == {
        r["url"]: ItemState(
            r["article_id"], r["url"], r["date_modified"], r["date_published"], "2025-08-02T00:00:00Z", T1, 3
        )
        for r in (records[0], records[3])
    }
    assert len(store.lookup(r["url"] for r in records * 80)) == 14  # chunked, repeats asked once


def test_lookups_and_upserts_never_read_the_row(sqlite_store):
    store = sqlite_store
    """Both read the url table and the covering index only: a row's body is never walked."""
    plans = [
        store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT u.url, a.article_id, a.url, a.date_modified, a.date_published,"
            " a.listed_date, a.last_seen, a.last_run FROM article_urls u JOIN articles a INDEXED BY"
            " articles_state ON a.article_id = u.article_id WHERE u.url IN (?)",
            ("x",),
        ).fetchall(),
        store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT content_hash, revision FROM articles INDEXED BY articles_state"
            " WHERE article_id = ?",
            ("1",),
        ).fetchall(),
    ]
    details = [row[-1] for plan in plans for row in plan]
    assert "SEARCH a USING COVERING INDEX articles_state (article_id=?)" in details
    assert "SEARCH articles USING COVERING INDEX articles_state (article_id=?)" in details


def test_iter_records_streams_every_current_record(store, records):
    for record in records:
        store.upsert(record, seen_at=T1)
    streamed = store.iter_records()
    first = next(streamed)
    assert first == min(records, key=lambda r: r["article_id"])
    assert [first, *streamed] == sorted(records, key=lambda r: r["article_id"])


# --- crawl runs ------------------------------------------------------------------------------------


def test_shared_sql_reaches_the_engine_as_written(store):
    """Numbered parameters, no rewriting: a ``?`` or ``%`` in a literal is text, and a number may
    come twice, in every one of ``Store``'s statement methods."""
    statement = "SELECT '?%' AS x, $1 AS y, $2 AS z, $1 AS again"
    want = [{"x": "?%", "y": "a?b", "z": "%s", "again": "a?b"}]
    assert store.rows(statement, ("a?b", "%s")) == want
    assert store.read(lambda: list(store.stream(statement, ("a?b", "%s")))) == want
    store.write(
        lambda: store.run_many(
            "INSERT INTO failing_items (url, failures, first_failed_at, last_failed_at, last_reason, next_attempt_at)"
            " VALUES ($1, $3, $2, $2, '?%', $2)",
            [("https://example.com/a?b=1%", T1, 1), ("https://example.com/c", T2, 2)],
        )
    )
    assert (
        store.run("UPDATE failing_items SET last_reason = $1 WHERE last_reason = '?%' AND failures = $2", ("%?", 2))
        == 1
    )
    assert store.rows("SELECT url, first_failed_at, last_reason FROM failing_items ORDER BY url") == [
        {"url": "https://example.com/a?b=1%", "first_failed_at": T1, "last_reason": "?%"},
        {"url": "https://example.com/c", "first_failed_at": T2, "last_reason": "%?"},
    ]


def test_jsonb_question_mark_operators_in_shared_sql(store):
    if store.engine != POSTGRESQL:
        pytest.skip("jsonb is PostgreSQL's")
    run = store.start_run("sections", {"section": "news", "pages": 2})
    store.start_run("sitemap", {"since": "2025-08-01"})
    assert store.rows("SELECT id FROM crawl_runs WHERE arguments ? $1", ("section",)) == [{"id": run}]
    assert store.rows("SELECT count(*) AS n FROM crawl_runs WHERE arguments ?| $1", (["since", "pages"],)) == [{"n": 2}]
    assert store.row("SELECT $1::jsonb ?& array['a', 'b'] AS has", (store.json({"a": 1, "b": "?"}),)) == {"has": True}


def test_crawl_runs(store):
    run = store.start_run("sections", {"section": "news/politics", "pages": 2}, started_at=T1)
    other = store.start_run("sitemap")
    assert other == run + 1
    store.finish_run(
        run, finished_at=T2, items_new=10, items_updated=2, items_unchanged=3, items_dropped=1, requests=40,
        responses_by_status={"200": 38, "404": 2}, errors=0, finish_reason="finished",
    )  # fmt: skip
    store.finish_run(run, coverage={"headline": 1.0, "summary": 0.8})  # filled in later
    store.finish_run(other, finish_reason="shutdown")
    first, second = store.runs()
    progress = {k: first.pop(k) for k in PROGRESS_COLUMNS if k in first}  # PostgreSQL has them from the start
    assert progress in ({}, dict.fromkeys(PROGRESS_COLUMNS))
    assert first == {
        "id": run, "spider": "sections", "arguments": {"pages": 2, "section": "news/politics"},
        "started_at": T1, "finished_at": T2,
        "items_new": 10, "items_updated": 2, "items_unchanged": 3, "items_dropped": 1, "requests": 40,
        "responses_by_status": {"200": 38, "404": 2}, "errors": 0, "finish_reason": "finished",
        "coverage": {"headline": 1.0, "summary": 0.8},
    }  # fmt: skip
    assert second["spider"] == "sitemap" and second["arguments"] == {} and second["finish_reason"] == "shutdown"
    assert second["started_at"] <= second["finished_at"]
    assert second["items_new"] is None and second["coverage"] is None


def test_finish_run_takes_only_known_figures(store):
    run = store.start_run("x")
    with pytest.raises(ValueError, match="items_new; DROP"):
        store.finish_run(run, **{"items_new; DROP TABLE crawl_runs; --": 1})
    assert store.runs()[0]["finish_reason"] is None


# --- WAL, readers, crash safety --------------------------------------------------------------------


def test_wal_mode_and_synchronous_normal(db, sqlite_store):
    store = sqlite_store
    assert store.conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    with sqlite3.connect(db) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_readers_read_while_the_writer_is_open_and_mid_transaction(target, store, records):
    store.upsert(records[0], seen_at=T1)
    reader = connect(target, readonly=True)  # no writer lock needed
    try:
        assert reader.count() == 1
        sql(store, "BEGIN")  # a write in progress...
        store.run("UPDATE articles SET headline = 'half-written' WHERE url = $1", (records[0]["url"],))
        store.run(
            "INSERT INTO articles (url, article_id, first_seen, last_seen) VALUES ($1, '1', $2, $2)",
            (records[1]["url"], T1),
        )
        # ...does not block readers, who see the last committed state only
        assert reader.count() == 1
        assert reader.get(records[0]["url"])["headline"] == records[0]["headline"]
        sql(store, "ROLLBACK")
        store.upsert(records[1], seen_at=T1)
        assert reader.count() == 2 and len(reader.lookup([records[1]["url"]])) == 1
    finally:
        reader.close()


def test_any_sqlite_client_reads_while_a_write_is_in_progress(db, sqlite_store, records):
    sqlite_store.upsert(records[0], seen_at=T1)
    plain = sqlite3.connect(db, timeout=0.1)
    try:
        sqlite_store.conn.execute("BEGIN IMMEDIATE")
        sqlite_store.conn.execute("DELETE FROM articles")
        assert plain.execute("SELECT count(*) FROM articles").fetchone() == (1,)
        sqlite_store.conn.execute("ROLLBACK")
    finally:
        plain.close()


def test_readonly_store_cannot_write(target, records):
    connect(target).close()
    with connect(target, readonly=True) as reader:
        with pytest.raises(PermissionError, match="read-only"):
            reader.upsert(records[0])
        with pytest.raises(reader.errors, match="readonly|read-only"):
            reader.conn.execute("DELETE FROM articles")


def test_a_missing_store_is_not_created_for_reading(db, postgres_url):
    with pytest.raises(FileNotFoundError):
        ArticleStore(db.with_name("missing.sqlite"), readonly=True)
    with pytest.raises(FileNotFoundError):
        connect(StoreTarget(POSTGRESQL, postgres_url), readonly=True)  # an empty database


def test_a_failed_write_leaves_nothing_behind(store, records):
    store.upsert(records[0], seen_at=T1)
    broken = rehashed(records[0], headline="new")
    broken["shares"] = object()  # not storable: fails after the revision row was inserted
    with pytest.raises(store.errors):
        store.upsert(broken, seen_at=T2)
    assert strip(store.get(records[0]["url"])) == records[0]
    assert store.revisions(records[0]["url"]) == []


WRITER = textwrap.dedent(
    """
    import itertools, json, os, sys
    from mayadeen.store.engines import StoreTarget, connect
    from mayadeen.record import content_hash
    engine, where, mode, records = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.stdin.read())
    with connect(StoreTarget(engine, where), busy_timeout=30) as store:
        print("open", flush=True)
        sys.stdin.close()
        if mode == "once":  # every writer stores the same records
            print(json.dumps([store.upsert(record) for record in records]), flush=True)
        else:  # rewrite every article forever: revisions pile up until killed
            for n in itertools.count():
                for record in records:
                    record = dict(record, body=f"version {os.getpid()}-{n}", headline=f"headline {os.getpid()}-{n}")
                    record["content_hash"] = content_hash(record)
                    store.upsert(record)
    """
)


def start_writer(target: StoreTarget, records: list[dict], mode: str) -> subprocess.Popen:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, target.engine, target.location, mode],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    writer.stdin.write(json.dumps(records))
    writer.stdin.close()
    return writer


@pytest.mark.soak  # several processes; the quick set's twin: test_writers_in_threads_at_once_store_each_item_once
def test_writers_at_once_store_each_item_once(target, records):
    connect(target).close()
    writers = [start_writer(target, records, "once") for _ in range(3)]
    outcomes = []
    for writer in writers:
        assert writer.stdout.readline() == "open\n"
        outcomes += json.loads(writer.stdout.readline())
        assert writer.wait(60) == 0
    assert sorted(outcomes) == ["new"] * 14 + ["unchanged"] * 28
    with connect(target) as store:
        assert store.count() == 14
        assert sql(store, "SELECT count(*) FROM article_revisions").fetchone() == (0,)


def test_writers_in_threads_at_once_store_each_item_once(target, records):
    """Three connections of this process, one a thread, store the same records at once (released together)."""
    connect(target).close()
    together = threading.Barrier(3)

    def write() -> list[str]:
        with connect(target, busy_timeout=30) as store:
            together.wait(timeout=60)
            return [store.upsert(record) for record in records]

    with ThreadPoolExecutor(3) as pool:
        writers = [pool.submit(write) for _ in range(3)]
        outcomes = [outcome for writer in writers for outcome in writer.result(timeout=120)]
    assert sorted(outcomes) == ["new"] * 14 + ["unchanged"] * 28
    with connect(target) as store:
        assert store.count() == 14
        assert sql(store, "SELECT count(*) FROM article_revisions").fetchone() == (0,)


def revision_count(target: StoreTarget) -> int:
    """Revisions in the store at ``target``, as a reader sees them."""
    with connect(target, readonly=True) as reader:
        return sql(reader, "SELECT count(*) FROM article_revisions").fetchone()[0]


@pytest.mark.soak  # SIGKILL of writer processes; in the quick set: test_a_failed_write_leaves_nothing_behind
def test_writers_killed_mid_write_leave_a_sound_store(target, records):
    connect(target).close()
    writers = [start_writer(target, records, "forever") for _ in range(2)]
    try:
        for writer in writers:
            assert writer.stdout.readline() == "open\n"
        wait_for(lambda: revision_count(target) >= 2 * len(records), timeout=60, step=0.05)  # writes pile up
        with connect(target, readonly=True) as reader:  # readers never wait for the writers
            assert reader.count() == len(records)
        writers[0].send_signal(signal.SIGKILL)
        writers[0].wait(10)
        after_kill = revision_count(target)
        wait_for(lambda: revision_count(target) >= after_kill + len(records), timeout=60, step=0.05)  # one goes on
    finally:
        for writer in writers:
            writer.send_signal(signal.SIGKILL)
            writer.wait(10)
    with connect(target) as store:
        assert_sound(store)
        assert store.count() == len(records)
        for record in records:
            current = store.get(record["url"])
            version = current["body"].removeprefix("version ")
            assert current["headline"] == f"headline {version}"  # both columns from the same write
            assert current["content_hash"] == content_hash(strip(current))
            revisions = store.revisions(record["url"])
            assert [r["revision"] for r in revisions] == list(range(1, current["revision"]))  # none lost
            assert len({r["content_hash"] for r in revisions} | {current["content_hash"]}) == current["revision"]


def test_integrity_after_everything(target, records):
    with connect(target) as store:
        run = store.start_run("test")
        for seen_at in (T1, T2, T3):
            for record in records:
                store.upsert(rehashed(record, body=record["body"] + seen_at), seen_at=seen_at)
        store.finish_run(run, items_new=14, items_updated=28, finish_reason="finished")
    with connect(target) as store:
        assert_sound(store)
        assert sql(store, "SELECT count(*) FROM article_revisions").fetchone() == (28,)
        assert sql(store, "SELECT min(revision), max(revision) FROM articles").fetchone() == (3, 3)
