"""A store written by any earlier version of the crawler opens up to date with nothing lost: SQLite
files of schema 1, of schema 2 before its later tables and with later tables of the time before the
migrations table (full-text search, WARC captures, breaking news before its ``streamed`` column);
PostgreSQL databases of the first version and with such later tables. Each earlier schema is written
out here as that version created it (not made by the code under test); each engine records its
migrations in ``store_migrations``."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from mayadeen.record import HASHED_KEYS, content_hash
from mayadeen.store.engines import StoreTarget, connect
from mayadeen.store.model import RECORD_COLUMNS
from mayadeen.store.postgres_schema import SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION
from mayadeen.store.schema import SCHEMA_VERSION
from mayadeen.store.sqlite import ArticleStore

ROOT = Path(__file__).resolve().parent.parent
T1, T2, T3 = "2025-08-01T00:00:00Z", "2025-08-02T00:00:00Z", "2025-08-03T00:00:00Z"

#: The tables of schema version 1, as that version created them.
V1_DDL = (
    """CREATE TABLE articles (
        url TEXT PRIMARY KEY,
        article_id TEXT, kind TEXT, section_group TEXT, section TEXT,
        headline TEXT, summary TEXT, body TEXT, authors TEXT, source TEXT,
        date_published TEXT, date_modified TEXT, tags TEXT,
        read_time_minutes INTEGER, shares INTEGER, word_count INTEGER,
        image TEXT, images TEXT, video TEXT, related TEXT, language TEXT,
        scraped_at TEXT, content_hash TEXT,
        first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 1
    )""",
    "CREATE INDEX articles_article_id ON articles (article_id)",
    "CREATE INDEX articles_date_published ON articles (date_published)",
    """CREATE TABLE article_revisions (
        url TEXT NOT NULL, revision INTEGER NOT NULL, content_hash TEXT, date_modified TEXT,
        record TEXT NOT NULL, seen_at TEXT, PRIMARY KEY (url, revision)
    )""",
    """CREATE TABLE crawl_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, spider TEXT NOT NULL, arguments TEXT, started_at TEXT NOT NULL,
        finished_at TEXT, items_new INTEGER, items_updated INTEGER, items_unchanged INTEGER,
        items_dropped INTEGER, requests INTEGER, responses_by_status TEXT, errors INTEGER,
        finish_reason TEXT, coverage TEXT
    )""",
    "PRAGMA user_version = 1",
)
JSON = {"authors", "tags", "image", "images", "video", "related"}


def record(path: Path, **changes) -> dict:
    rec = {**json.loads(path.read_text("utf-8")), "scraped_at": T1, **changes}
    rec["content_hash"] = content_hash(rec)
    return rec


def v1_hash(rec: dict) -> str:
    """The content hash as version 1 made it: tags in page order."""
    subset = {key: rec.get(key) for key in HASHED_KEYS}
    return hashlib.sha256(
        json.dumps(subset, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()


def insert_v1(conn, rec: dict, first: str, last: str, revision: int) -> None:
    values = [
        json.dumps(rec[c], ensure_ascii=False) if c in JSON and rec[c] is not None else rec[c] for c in RECORD_COLUMNS
    ]
    conn.execute(
        f"INSERT INTO articles VALUES ({', '.join('?' * (len(RECORD_COLUMNS) + 3))})", (*values, first, last, revision)
    )


def revision_v1(conn, rec: dict, revision: int, seen: str) -> None:
    conn.execute(
        "INSERT INTO article_revisions VALUES (?, ?, ?, ?, ?, ?)",
        (rec["url"], revision, rec["content_hash"], rec["date_modified"], json.dumps(rec), seen),
    )


def test_a_version_1_store_is_upgraded_without_losing_rows_or_revisions(tmp_path):
    db = tmp_path / "v1.sqlite"
    paths = sorted((ROOT / "fixtures" / "expected").glob("*.json"))
    records = [record(p) for p in paths]
    renamed_old = record(paths[0], url=records[0]["url"].replace("seen-as-test", "a-test"), headline="Old")
    renamed_first = record(paths[0], url=renamed_old["url"], headline="Older")
    edited_before = record(paths[1], body="An earlier body.")
    shouty = record(paths[2], url=records[2]["url"].replace("/news/", "/News/"))
    conn = sqlite3.connect(db)
    for statement in V1_DDL:
        conn.execute(statement)
    # Item 0 renamed: stored under its old URL (2 versions), then again under the new one.
    insert_v1(conn, renamed_old, T1, T2, 2)
    revision_v1(conn, renamed_first, 1, T1)
    insert_v1(conn, records[0], T3, T3, 1)
    # Item 1 edited once; item 2 stored under a URL spelled in capitals; the others plain.
    insert_v1(conn, records[1], T1, T2, 2)
    revision_v1(conn, edited_before, 1, T1)
    insert_v1(conn, shouty, T1, T1, 1)
    # Version 1 hashed tags in page order; version 2 as a set (a new order alone is no revision).
    rehashed = [rec for rec in records[3:] if v1_hash(rec) != rec["content_hash"]]
    assert rehashed, "no fixture record whose tags are out of order: the rehash would go untested"
    for rec in records[3:]:
        insert_v1(conn, {**rec, "content_hash": v1_hash(rec)}, T1, T1, 1)
    conn.execute("INSERT INTO crawl_runs (spider, started_at, items_new) VALUES ('sitemap', ?, 15)", (T1,))
    conn.commit()
    conn.close()

    with ArticleStore(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert store.count() == 14
        for rec in records:
            current = store.get(rec["url"])
            assert {k: current[k] for k in RECORD_COLUMNS} == rec
        # The renamed item: one row (the latest seen), every earlier version a revision, both URLs known.
        merged = store.get(records[0]["article_id"])
        assert (merged["revision"], merged["first_seen"], merged["last_seen"]) == (3, T1, T3)
        assert [
            (r["revision"], r["url"], r["record"]["headline"], r["seen_at"]) for r in store.revisions(records[0]["url"])
        ] == [(1, renamed_old["url"], "Older", T1), (2, renamed_old["url"], "Old", T2)]
        assert store.urls(records[0]["article_id"]) == sorted([records[0]["url"], renamed_old["url"]])
        assert store.get(renamed_old["url"])["url"] == records[0]["url"]
        (earlier,) = store.revisions(records[1]["article_id"])
        assert earlier["record"] == edited_before and earlier["revision"] == 1
        assert store.get(records[2]["article_id"])["url"] == records[2]["url"]  # lowercased
        assert [r["items_new"] for r in store.runs()] == [15]
        # It goes on working as version 2: a new version of the renamed item is revision 4.
        assert store.upsert(record(paths[0], headline="Newest"), seen_at=T3) == "updated"
        assert len(store.revisions(records[0]["article_id"])) == 3
    with ArticleStore(db) as again:  # opening an upgraded file changes nothing
        assert again.count() == 14


def migrations(store) -> list[int]:
    return [row["version"] for row in store.rows("SELECT version FROM store_migrations ORDER BY version")]


#: Schema 2 as its first release created it (commit 946d06c): no ``articles.last_run``, no run
#: progress columns, none of the later tables (failing items, WARC captures, breaking news, search).
V2_FIRST_DDL = (
    """CREATE TABLE articles (
        url TEXT PRIMARY KEY,
        article_id TEXT, kind TEXT, section_group TEXT, section TEXT,
        headline TEXT, summary TEXT, body TEXT, authors TEXT, source TEXT,
        date_published TEXT, date_modified TEXT, tags TEXT,
        read_time_minutes INTEGER, shares INTEGER, word_count INTEGER,
        image TEXT, images TEXT, video TEXT, related TEXT, language TEXT,
        scraped_at TEXT, content_hash TEXT,
        first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 1,
        listed_date TEXT
    )""",
    """CREATE TABLE article_revisions (
        article_id TEXT NOT NULL, revision INTEGER NOT NULL, url TEXT NOT NULL, content_hash TEXT,
        date_modified TEXT, record TEXT NOT NULL, seen_at TEXT, PRIMARY KEY (article_id, revision)
    )""",
    """CREATE TABLE crawl_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, spider TEXT NOT NULL, arguments TEXT, started_at TEXT NOT NULL,
        finished_at TEXT, items_new INTEGER, items_updated INTEGER, items_unchanged INTEGER,
        items_dropped INTEGER, requests INTEGER, responses_by_status TEXT, errors INTEGER,
        finish_reason TEXT, coverage TEXT
    )""",
    "CREATE UNIQUE INDEX articles_key ON articles (article_id)",
    "CREATE INDEX articles_state ON articles (article_id, content_hash, revision, last_seen,"
    " date_modified, date_published, listed_date, url)",
    "CREATE INDEX articles_date_published ON articles (date_published)",
    "CREATE TABLE article_urls (url TEXT PRIMARY KEY, article_id TEXT NOT NULL) WITHOUT ROWID",
    "CREATE INDEX article_urls_article_id ON article_urls (article_id)",
    """CREATE TABLE sitemap_reads (
        url TEXT PRIMARY KEY, lastmod TEXT, etag TEXT, last_modified TEXT, read_at TEXT NOT NULL)""",
    "PRAGMA user_version = 2",
)


def test_a_first_version_2_store_gets_every_later_table_and_column(tmp_path):
    db = tmp_path / "v2.sqlite"
    paths = sorted((ROOT / "fixtures" / "expected").glob("*.json"))
    rec = record(paths[0])
    conn = sqlite3.connect(db)
    for statement in V2_FIRST_DDL:
        conn.execute(statement)
    values = [json.dumps(rec[c]) if c in JSON and rec[c] is not None else rec[c] for c in RECORD_COLUMNS]
    conn.execute(
        f"INSERT INTO articles VALUES ({', '.join('?' * (len(RECORD_COLUMNS) + 4))})", (*values, T1, T1, 1, T1)
    )
    conn.execute("INSERT INTO article_urls VALUES (?, ?)", (rec["url"], rec["article_id"]))
    conn.execute("INSERT INTO crawl_runs (spider, started_at, items_new) VALUES ('sitemap', ?, 1)", (T1,))
    conn.commit()
    conn.close()

    with ArticleStore(db) as store:
        assert migrations(store) == list(range(1, SCHEMA_VERSION + 1)) and store.schema_version() == SCHEMA_VERSION
        assert store.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert {k: store.get(rec["url"])[k] for k in RECORD_COLUMNS} == rec
        assert {"failing_items", "warc_captures", "breaking_news", "articles_fts"} <= store.tables()
        # The covering index was built again with last_run: the lookup reads it.
        assert store.lookup([rec["url"]])[rec["url"]].last_run is None
        assert store.upsert(record(paths[0], headline="Newer"), seen_at=T2, run_id=1) == "updated"
        assert store.lookup([rec["url"]])[rec["url"]].last_run == 1
        store.claim_run(1)  # the run progress columns are there from the open
        store.update_run(1, {"items_seen": 3})
        assert [(r["items_new"], r["items_seen"]) for r in store.runs()] == [(1, 3)]
        word = "Newer"
        assert store.rows("SELECT rowid FROM articles_fts WHERE articles_fts MATCH $1", (word,))


#: Schema 2 with the later tables of commit 0e1b42d (user_version still 2): ``articles.last_run``,
#: WARC captures, breaking news (before its ``streamed`` column) and both full-text indexes with their
#: triggers; no failing items, no run progress columns.
V2_LATER_DDL = (
    """CREATE TABLE articles (
        url TEXT PRIMARY KEY,
        article_id TEXT, kind TEXT, section_group TEXT, section TEXT,
        headline TEXT, summary TEXT, body TEXT, authors TEXT, source TEXT,
        date_published TEXT, date_modified TEXT, tags TEXT,
        read_time_minutes INTEGER, shares INTEGER, word_count INTEGER,
        image TEXT, images TEXT, video TEXT, related TEXT, language TEXT,
        scraped_at TEXT, content_hash TEXT,
        first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 1,
        listed_date TEXT, last_run INTEGER
    )""",
    *V2_FIRST_DDL[1:3],  # article_revisions, crawl_runs: unchanged
    "CREATE UNIQUE INDEX articles_key ON articles (article_id)",
    "CREATE INDEX articles_state ON articles (article_id, content_hash, revision, last_seen, date_modified,"
    " date_published, listed_date, last_run, url)",
    *V2_FIRST_DDL[5:9],  # articles_date_published, article_urls and its index, sitemap_reads
    """CREATE TABLE warc_captures (
        url TEXT NOT NULL, article_id TEXT, fetched_at TEXT NOT NULL, digest TEXT NOT NULL, warc_file TEXT NOT NULL,
        warc_offset INTEGER NOT NULL, warc_length INTEGER NOT NULL, status INTEGER, warc_type TEXT NOT NULL,
        PRIMARY KEY (warc_file, warc_offset)
    )""",
    "CREATE INDEX warc_captures_article ON warc_captures (article_id, fetched_at)",
    "CREATE INDEX warc_captures_url ON warc_captures (url, fetched_at)",
    "CREATE INDEX warc_captures_digest ON warc_captures (digest)",
    """CREATE TABLE breaking_news (
        id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL, time TEXT NOT NULL,
        time_estimated INTEGER NOT NULL DEFAULT 0, url TEXT, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
        article_url TEXT, language TEXT, text_key TEXT NOT NULL, edits TEXT
    )""",
    "CREATE UNIQUE INDEX breaking_news_identity ON breaking_news (time, text_key)",
    "CREATE INDEX breaking_news_text_key ON breaking_news (text_key)",
    "CREATE INDEX breaking_news_article_url ON breaking_news (article_url)",
    """CREATE VIRTUAL TABLE breaking_fts USING fts5(
        text, content='breaking_news', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER breaking_fts_insert AFTER INSERT ON breaking_news BEGIN
        INSERT INTO breaking_fts (rowid, text) VALUES (new.rowid, new.text);
    END""",
    """CREATE TRIGGER breaking_fts_delete AFTER DELETE ON breaking_news BEGIN
        INSERT INTO breaking_fts (breaking_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    END""",
    """CREATE TRIGGER breaking_fts_update AFTER UPDATE OF text ON breaking_news BEGIN
        INSERT INTO breaking_fts (breaking_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
        INSERT INTO breaking_fts (rowid, text) VALUES (new.rowid, new.text);
    END""",
    """CREATE VIRTUAL TABLE articles_fts USING fts5(
        headline, summary, body, tags, content='articles', content_rowid='rowid',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts (rowid, headline, summary, body, tags)
        VALUES (new.rowid, new.headline, new.summary, new.body, new.tags);
    END""",
    """CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, headline, summary, body, tags)
        VALUES ('delete', old.rowid, old.headline, old.summary, old.body, old.tags);
    END""",
    """CREATE TRIGGER articles_fts_update AFTER UPDATE OF headline, summary, body, tags ON articles BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, headline, summary, body, tags)
        VALUES ('delete', old.rowid, old.headline, old.summary, old.body, old.tags);
        INSERT INTO articles_fts (rowid, headline, summary, body, tags)
        VALUES (new.rowid, new.headline, new.summary, new.body, new.tags);
    END""",
    "PRAGMA user_version = 2",
)
FLASH = ("Flash text kept across the upgrade", "2025-08-01T10:00:00Z", T1, T1, "flash text kept across the upgrade")


def test_a_later_version_2_store_keeps_its_items_and_flashes(tmp_path):
    db = tmp_path / "v2-later.sqlite"
    paths = sorted((ROOT / "fixtures" / "expected").glob("*.json"))
    rec = record(paths[0])
    conn = sqlite3.connect(db)
    for statement in V2_LATER_DDL:
        conn.execute(statement)
    values = [json.dumps(rec[c]) if c in JSON and rec[c] is not None else rec[c] for c in RECORD_COLUMNS]
    conn.execute(
        f"INSERT INTO articles VALUES ({', '.join('?' * (len(RECORD_COLUMNS) + 5))})", (*values, T1, T1, 1, T1, 1)
    )
    conn.execute("INSERT INTO article_urls VALUES (?, ?)", (rec["url"], rec["article_id"]))
    conn.execute(
        "INSERT INTO breaking_news (text, time, first_seen, last_seen, text_key) VALUES (?, ?, ?, ?, ?)", FLASH
    )
    conn.execute("INSERT INTO crawl_runs (spider, started_at, items_new) VALUES ('sitemap', ?, 1)", (T1,))
    conn.commit()
    conn.close()

    with ArticleStore(db) as store:
        assert migrations(store) == list(range(1, SCHEMA_VERSION + 1)) and store.schema_version() == SCHEMA_VERSION
        assert store.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert {k: store.get(rec["url"])[k] for k in RECORD_COLUMNS} == rec
        assert store.lookup([rec["url"]])[rec["url"]].last_run == 1
        word = rec["headline"].split()[-1]
        assert store.rows("SELECT rowid FROM articles_fts WHERE articles_fts MATCH $1", (word,))
        # The flash stored before the streamed column was streamed when stored.
        assert store.rows("SELECT text, streamed FROM breaking_news") == [{"text": FLASH[0], "streamed": 1}]
        assert store.rows("SELECT rowid FROM breaking_fts WHERE breaking_fts MATCH 'upgrade'")
        assert "failing_items" in store.tables()
        store.update_run(1, {"items_seen": 3})
        assert [(r["items_new"], r["items_seen"]) for r in store.runs()] == [(1, 3)]


#: The PostgreSQL store's tables as its first version created them (commit 0e1b42d), with its
#: version in ``store_schema``.
PG_FIRST_DDL = (
    """CREATE TABLE articles (
        url text COLLATE "C", article_id text COLLATE "C", kind text, section_group text, section text,
        headline text, summary text, body text, authors jsonb, source text,
        date_published timestamptz, date_modified timestamptz, tags jsonb,
        read_time_minutes integer, shares integer, word_count integer,
        image jsonb, images jsonb, video jsonb, related jsonb, language text,
        scraped_at timestamptz, content_hash text,
        first_seen timestamptz NOT NULL, last_seen timestamptz NOT NULL, revision integer NOT NULL DEFAULT 1,
        listed_date timestamptz, last_run bigint,
        PRIMARY KEY (article_id), UNIQUE (url)
    )""",
    "CREATE INDEX articles_state ON articles (article_id) INCLUDE (content_hash, revision,"
    " last_seen, date_modified, date_published, listed_date, last_run, url)",
    "CREATE INDEX articles_date_published ON articles (date_published)",
    """CREATE TABLE article_urls (url text COLLATE "C" PRIMARY KEY, article_id text COLLATE "C" NOT NULL)""",
    "CREATE INDEX article_urls_article_id ON article_urls (article_id)",
    """CREATE TABLE article_revisions (
    article_id text COLLATE "C" NOT NULL, revision integer NOT NULL, url text COLLATE "C" NOT NULL,
    content_hash text, date_modified timestamptz, record jsonb NOT NULL, seen_at timestamptz,
    PRIMARY KEY (article_id, revision))""",
    """CREATE TABLE crawl_runs (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, spider text NOT NULL, arguments jsonb,
    started_at timestamptz NOT NULL, finished_at timestamptz,
    items_new integer, items_updated integer, items_unchanged integer, items_dropped integer,
    requests integer, responses_by_status jsonb, errors integer, finish_reason text, coverage jsonb,
    pid integer, host text, updated_at timestamptz, result text)""",
    """CREATE TABLE sitemap_reads (
    url text PRIMARY KEY, lastmod text, etag text, last_modified text, read_at timestamptz NOT NULL)""",
    "CREATE TABLE store_schema (version integer NOT NULL)",
    "INSERT INTO store_schema (version) VALUES (2)",
)
#: The PostgreSQL store before the migrations table with the later tables of its time (commit 4d20c3f):
#: full-text search, breaking news (before ``streamed``), WARC captures, failing items; crawl_runs still
#: without ``items_seen`` and ``monitors_failed``.
PG_LATER_DDL = (
    *PG_FIRST_DDL[:-2],
    "ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', coalesce(headline, '')), 'A')"
    " || setweight(to_tsvector('english', coalesce(summary, '')), 'B')"
    " || setweight(to_tsvector('english', coalesce(tags::text, '')), 'B')"
    " || setweight(to_tsvector('english', coalesce(body, '')), 'D')) STORED",
    "CREATE INDEX articles_search ON articles USING gin (search)",
    """CREATE TABLE breaking_news (
        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, text text NOT NULL, time timestamptz NOT NULL,
        time_estimated boolean NOT NULL DEFAULT false, url text, first_seen timestamptz NOT NULL,
        last_seen timestamptz NOT NULL, article_url text, language text, text_key text NOT NULL, edits jsonb,
        search tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
    )""",
    "CREATE UNIQUE INDEX breaking_news_identity ON breaking_news (time, text_key)",
    "CREATE INDEX breaking_news_text_key ON breaking_news (text_key)",
    "CREATE INDEX breaking_news_article_url ON breaking_news (article_url)",
    "CREATE INDEX breaking_news_search ON breaking_news USING gin (search)",
    """CREATE TABLE warc_captures (
        url text COLLATE "C" NOT NULL, article_id text COLLATE "C", fetched_at timestamptz NOT NULL,
        digest text NOT NULL, warc_file text NOT NULL, warc_offset bigint NOT NULL, warc_length bigint NOT NULL,
        status integer, warc_type text NOT NULL, PRIMARY KEY (warc_file, warc_offset)
    )""",
    "CREATE INDEX warc_captures_article ON warc_captures (article_id, fetched_at)",
    "CREATE INDEX warc_captures_url ON warc_captures (url, fetched_at)",
    "CREATE INDEX warc_captures_digest ON warc_captures (digest)",
    """CREATE TABLE failing_items (
        url text COLLATE "C" PRIMARY KEY, failures integer NOT NULL, first_failed_at timestamptz NOT NULL,
        last_failed_at timestamptz NOT NULL, last_reason text, next_attempt_at timestamptz NOT NULL
    )""",
    *PG_FIRST_DDL[-2:],
)


def test_a_first_version_postgresql_store_is_brought_up_to_date(postgres_url):
    import psycopg

    paths = sorted((ROOT / "fixtures" / "expected").glob("*.json"))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in PG_FIRST_DDL:
            conn.execute(statement)
        conn.execute("INSERT INTO crawl_runs (spider, started_at, items_new) VALUES ('sitemap', %s, 1)", (T1,))
    target = StoreTarget("postgresql", postgres_url)
    with connect(target, readonly=True) as reader:  # readable before any writer migrated it
        assert reader.schema_version() == 2 and reader.runs()[0]["items_new"] == 1
    with connect(target) as store:
        assert migrations(store) == [2, 3] and store.schema_version() == POSTGRES_SCHEMA_VERSION == SCHEMA_VERSION
        assert "store_schema" not in store.tables()
        assert {"failing_items", "warc_captures", "breaking_news"} <= store.tables()
        rec = record(paths[0])
        assert store.upsert(rec, seen_at=T2, run_id=1) == "new"
        word = rec["headline"].split()[-1]
        found = store.rows("SELECT url FROM articles WHERE search @@ plainto_tsquery('english', $1)", (word,))
        assert found == [{"url": rec["url"]}]
        store.update_run(1, {"items_seen": 3})
        assert [(r["items_new"], r["items_seen"]) for r in store.runs()] == [(1, 3)]
    with connect(target) as again:  # opening it again applies nothing
        assert migrations(again) == [2, 3]


def test_a_later_postgresql_store_keeps_its_items_and_flashes(postgres_url):
    import psycopg

    paths = sorted((ROOT / "fixtures" / "expected").glob("*.json"))
    rec = record(paths[0])
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in PG_LATER_DDL:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO articles (url, article_id, headline, tags, first_seen, last_seen)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (rec["url"], rec["article_id"], rec["headline"], json.dumps(rec["tags"]), T1, T1),
        )
        conn.execute("INSERT INTO article_urls VALUES (%s, %s)", (rec["url"], rec["article_id"]))
        conn.execute(
            "INSERT INTO breaking_news (text, time, first_seen, last_seen, text_key) VALUES (%s, %s, %s, %s, %s)", FLASH
        )
        conn.execute("INSERT INTO crawl_runs (spider, started_at, items_new) VALUES ('sitemap', %s, 1)", (T1,))
    with connect(StoreTarget("postgresql", postgres_url)) as store:
        assert migrations(store) == [2, 3] and store.schema_version() == POSTGRES_SCHEMA_VERSION
        assert "store_schema" not in store.tables()
        kept = store.get(rec["url"])
        assert (kept["headline"], kept["tags"], kept["first_seen"]) == (rec["headline"], rec["tags"], T1)
        # The flash stored before the streamed column was streamed when stored.
        assert store.rows("SELECT text, streamed FROM breaking_news") == [{"text": FLASH[0], "streamed": True}]
        assert store.upsert(rec, seen_at=T2, run_id=1) == "updated"
        word = rec["headline"].split()[-1]
        found = store.rows("SELECT url FROM articles WHERE search @@ plainto_tsquery('english', $1)", (word,))
        assert found == [{"url": rec["url"]}]
        store.update_run(1, {"items_seen": 3})
        assert [(r["items_new"], r["items_seen"]) for r in store.runs()] == [(1, 3)]


def test_migrations_are_one_transaction(tmp_path):
    """A migration that fails leaves the file as it was: no table of an earlier step, no record."""
    db = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(db)
    for statement in V1_DDL:
        conn.execute(statement)
    conn.execute("CREATE TABLE article_urls (taken TEXT)")  # the second step's CREATE TABLE fails on it
    conn.commit()
    conn.close()
    with pytest.raises(sqlite3.OperationalError):
        ArticleStore(db)
    conn = sqlite3.connect(db)
    names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "store_migrations" not in names and "revisions_v2" not in names
    assert conn.execute("PRAGMA table_info(articles)").fetchall()[-1][1] == "revision"  # no column added
    conn.close()


def test_a_migration_longer_than_a_round_trip_may_wait_is_not_cut_on_a_live_server(postgres_url):
    """Migrating a big first-version store rewrites its articles table (the generated search column):
    minutes on a big archive. The server answers probes meanwhile, so the watchdog's ceiling on a round
    trip (``lock_timeout + retry_timeout``, here 0.4 s) does not cut it, or no big store could be upgraded."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in PG_FIRST_DDL:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO articles (url, article_id, headline, body, first_seen, last_seen)"
            " SELECT 'https://english.almayadeen.net/news/politics/a-' || n, 'a-' || n, 'headline ' || n,"
            " repeat('word' || n || ' ', 200), %s, %s FROM generate_series(1, 8000) AS n",
            (T1, T1),
        )
    with connect(StoreTarget("postgresql", postgres_url), busy_timeout=0.2, retry_timeout=0.2) as store:
        assert migrations(store) == [2, 3] and store.count() == 8000
        found = store.rows("SELECT url FROM articles WHERE search @@ plainto_tsquery('english', $1)", ("word7999",))
        assert found == [{"url": "https://english.almayadeen.net/news/politics/a-7999"}]
