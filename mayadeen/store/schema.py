"""The store's tables, and the upgrade of older files to them (``PRAGMA user_version``).

Version 2 keys every item by its CMS ``article_id`` (unique); ``url`` is its current address, and
``article_urls`` maps every URL the item was known under (address and aliases) to its id. Revisions
belong to the id. The ``articles_state`` index holds what freshness and the upsert read, so neither
walks a row's body. Upgrading a version 1 file keeps every row and every revision: rows that share an
``article_id`` (a renamed item stored twice) become one item, the latest seen one current, the others'
versions filed as its revisions and their URLs kept as aliases. The upgrade reads the whole file
once (to build the index) in one transaction.
"""

from __future__ import annotations

import json
import sqlite3

from mayadeen.record import HASHED_KEYS, content_hash
from mayadeen.store import breaking, failing, sitemap_reads
from mayadeen.store.captures import CAPTURES_DDL
from mayadeen.store.fts import ARTICLES_FTS, BREAKING_FTS, ensure_fts
from mayadeen.store.model import JSON_COLUMNS, RECORD_COLUMNS

SCHEMA_VERSION = 2

_ARTICLES = """CREATE TABLE IF NOT EXISTS articles (
        url TEXT PRIMARY KEY,
        article_id TEXT, kind TEXT, section_group TEXT, section TEXT,
        headline TEXT, summary TEXT, body TEXT, authors TEXT, source TEXT,
        date_published TEXT, date_modified TEXT, tags TEXT,
        read_time_minutes INTEGER, shares INTEGER, word_count INTEGER,
        image TEXT, images TEXT, video TEXT, related TEXT, language TEXT,
        scraped_at TEXT, content_hash TEXT,
        first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 1,
        listed_date TEXT, last_run INTEGER
    )"""
_REVISIONS = """CREATE TABLE IF NOT EXISTS {name} (
        article_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        url TEXT NOT NULL,
        content_hash TEXT,
        date_modified TEXT,
        record TEXT NOT NULL,
        seen_at TEXT,
        PRIMARY KEY (article_id, revision)
    )"""
_INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS articles_key ON articles (article_id)",
    # Covering: the upsert and freshness read only these, never the row (whose body comes first).
    "CREATE INDEX IF NOT EXISTS articles_state ON articles (article_id, content_hash, revision, last_seen,"
    " date_modified, date_published, listed_date, last_run, url)",
    "CREATE INDEX IF NOT EXISTS articles_date_published ON articles (date_published)",
    "CREATE TABLE IF NOT EXISTS article_urls (url TEXT PRIMARY KEY, article_id TEXT NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS article_urls_article_id ON article_urls (article_id)",
)
_RUNS = """CREATE TABLE IF NOT EXISTS crawl_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        spider TEXT NOT NULL,
        arguments TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        items_new INTEGER, items_updated INTEGER, items_unchanged INTEGER, items_dropped INTEGER,
        requests INTEGER,
        responses_by_status TEXT,
        errors INTEGER,
        finish_reason TEXT,
        coverage TEXT
    )"""


def create(conn: sqlite3.Connection) -> None:
    """Every table and index of the current version (in an open write transaction)."""
    conn.execute(_ARTICLES)
    conn.execute(_REVISIONS.format(name="article_revisions"))
    conn.execute(_RUNS)
    for statement in (*_INDEXES, *sitemap_reads.DDL, *CAPTURES_DDL, failing.DDL):
        conn.execute(statement)
    breaking.create_tables(conn)
    ensure_fts(conn)


#: Tables added within version 2: a file without one of them gets it (``create``) at the next open.
LATER_TABLES = ("failing_items", "warc_captures", "breaking_news", ARTICLES_FTS.name, BREAKING_FTS.name)


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether the file is at SCHEMA_VERSION with its later tables (one cheap read at open)."""
    if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        return False
    found = conn.execute(
        f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({', '.join('?' * len(LATER_TABLES))})",
        LATER_TABLES,
    ).fetchone()[0]
    return found == len(LATER_TABLES)


def migrate(conn: sqlite3.Connection, path) -> None:
    """Brings the file to SCHEMA_VERSION (in an open write transaction, so one process does it)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"{path} has store schema version {version}; this code knows up to {SCHEMA_VERSION}")
    if version == SCHEMA_VERSION:
        create(conn)  # the later tables a file lacks; an index dropped by hand is built again from the rows
        return
    has_articles = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone()
    if version == 1 and has_articles:
        _from_v1(conn)
    create(conn)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")


def _from_v1(conn: sqlite3.Connection) -> None:
    """Version 1 (keyed by url, revisions by url) to version 2, keeping every row and revision."""
    conn.execute("ALTER TABLE articles ADD COLUMN listed_date TEXT")
    conn.execute("ALTER TABLE articles ADD COLUMN last_run INTEGER")
    conn.execute("DROP INDEX IF EXISTS articles_article_id")
    conn.execute(_REVISIONS.format(name="revisions_v2"))
    conn.execute("CREATE TABLE article_urls (url TEXT PRIMARY KEY, article_id TEXT NOT NULL) WITHOUT ROWID")
    shared = [
        r[0]
        for r in conn.execute(
            "SELECT article_id FROM articles WHERE article_id IS NOT NULL GROUP BY article_id HAVING count(*) > 1"
        )
    ]
    conn.execute(
        "INSERT INTO revisions_v2 SELECT coalesce(a.article_id, json_extract(r.record, '$.article_id')),"
        " r.revision, lower(r.url), r.content_hash, r.date_modified, r.record, r.seen_at"
        " FROM article_revisions r LEFT JOIN articles a ON a.url = r.url"
        f" WHERE a.article_id IS NULL OR a.article_id NOT IN ({', '.join('?' * len(shared))})",
        shared,
    )
    for article_id in shared:
        _merge(conn, article_id)
    conn.execute("DROP TABLE article_revisions")
    conn.execute("ALTER TABLE revisions_v2 RENAME TO article_revisions")
    conn.execute("UPDATE OR IGNORE articles SET url = lower(url) WHERE url <> lower(url)")
    _rehash(conn)
    conn.execute("INSERT OR IGNORE INTO article_urls SELECT url, article_id FROM articles WHERE article_id IS NOT NULL")


def _rehash(conn: sqlite3.Connection) -> None:
    """Version 2 hashes tags as a set: rows whose tags were stored in another order get the new hash,
    so the first re-fetch after the upgrade is no spurious revision."""
    columns = ", ".join(HASHED_KEYS)
    for rowid, stored, *values in conn.execute(f"SELECT rowid, content_hash, {columns} FROM articles").fetchall():
        record = {k: (json.loads(v) if k in JSON_COLUMNS and v is not None else v) for k, v in zip(HASHED_KEYS, values)}
        digest = content_hash(record)
        if digest != stored:
            conn.execute("UPDATE articles SET content_hash = ? WHERE rowid = ?", (digest, rowid))


def _merge(conn: sqlite3.Connection, article_id: str) -> None:
    """The rows of one item stored under several URLs become one: the latest seen is current; every
    other version (the other rows and all their revisions) becomes a revision, oldest first."""
    columns = ", ".join(RECORD_COLUMNS)
    rows = conn.execute(
        f"SELECT {columns}, first_seen, last_seen FROM articles WHERE article_id = ? ORDER BY last_seen, revision",
        (article_id,),
    ).fetchall()
    *others, current = rows
    urls = [row[0] for row in rows]
    versions = [
        (seen, url, digest, modified, record)
        for url in urls
        for seen, digest, modified, record in conn.execute(
            "SELECT seen_at, content_hash, date_modified, record FROM article_revisions WHERE url = ?", (url,)
        )
    ]
    for row in others:
        record = {
            c: (json.loads(v) if c in JSON_COLUMNS and v is not None else v)
            for c, v in zip(RECORD_COLUMNS, row, strict=False)
        }
        versions.append(
            (
                row[-1],
                row[0],
                record["content_hash"],
                record["date_modified"],
                json.dumps(record, ensure_ascii=False, separators=(",", ":")),
            )
        )
    versions.sort(key=lambda v: v[0] or "")
    conn.executemany(
        "INSERT INTO revisions_v2 (article_id, revision, url, content_hash, date_modified, record, seen_at)"
        " VALUES (?, ?, lower(?), ?, ?, ?, ?)",
        [
            (article_id, n, url, digest, modified, record, seen)
            for n, (seen, url, digest, modified, record) in enumerate(versions, start=1)
        ],
    )
    conn.executemany("DELETE FROM articles WHERE url = ?", [(row[0],) for row in others])
    conn.execute(
        "UPDATE articles SET revision = ?, first_seen = ? WHERE url = ?",
        (len(versions) + 1, min(row[-2] for row in rows), current[0]),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO article_urls (url, article_id) VALUES (lower(?), ?)", [(url, article_id) for url in urls]
    )
