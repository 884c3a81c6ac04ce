"""The SQLite store's tables, and its migrations: one ordered list (``MIGRATIONS``), applied at open
in one write transaction, each recorded in the ``store_migrations`` table (``model.MIGRATIONS_TABLE``).
A file from before that table counts the migrations it had in ``PRAGMA user_version`` (1: version 1's
tables, 2: keyed by ``article_id``); the third brings any such file up to date, whatever later table
or column it lacks.

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
from collections.abc import Callable

from mayadeen.record import HASHED_KEYS, content_hash, utc_timestamp
from mayadeen.store import breaking, failing, run_progress, sitemap_reads
from mayadeen.store.captures import CAPTURES_DDL
from mayadeen.store.fts import ensure_fts
from mayadeen.store.model import JSON_COLUMNS, MIGRATIONS_TABLE, MIGRATIONS_TABLE_DDL, RECORD_COLUMNS

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


#: Version 1's tables: articles and revisions keyed by url (the first migration, as that version made them).
_V1 = (
    """CREATE TABLE IF NOT EXISTS articles (
        url TEXT PRIMARY KEY,
        article_id TEXT, kind TEXT, section_group TEXT, section TEXT,
        headline TEXT, summary TEXT, body TEXT, authors TEXT, source TEXT,
        date_published TEXT, date_modified TEXT, tags TEXT,
        read_time_minutes INTEGER, shares INTEGER, word_count INTEGER,
        image TEXT, images TEXT, video TEXT, related TEXT, language TEXT,
        scraped_at TEXT, content_hash TEXT,
        first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 1
    )""",
    "CREATE INDEX IF NOT EXISTS articles_article_id ON articles (article_id)",
    "CREATE INDEX IF NOT EXISTS articles_date_published ON articles (date_published)",
    """CREATE TABLE IF NOT EXISTS article_revisions (
        url TEXT NOT NULL, revision INTEGER NOT NULL, content_hash TEXT, date_modified TEXT,
        record TEXT NOT NULL, seen_at TEXT, PRIMARY KEY (url, revision)
    )""",
    _RUNS,
)


def _version_1(conn: sqlite3.Connection) -> None:
    for statement in _V1:
        conn.execute(statement)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _up_to_date(conn: sqlite3.Connection) -> None:
    """Every later table, index and column a version 2 file may lack (added before the migrations
    table existed, so each is added only if missing)."""
    if "last_run" not in _columns(conn, "articles"):  # a file from before articles.last_run
        conn.execute("ALTER TABLE articles ADD COLUMN last_run INTEGER")
        conn.execute("DROP INDEX IF EXISTS articles_state")  # built again below, covering last_run
    present = _columns(conn, "crawl_runs")
    for name, kind in run_progress.COLUMNS.items():
        if name not in present:
            conn.execute(f"ALTER TABLE crawl_runs ADD COLUMN {name} {kind}")
    for statement in (*_INDEXES, *sitemap_reads.DDL, *CAPTURES_DDL, failing.DDL):
        conn.execute(statement)
    breaking.create_tables(conn)
    ensure_fts(conn)


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


#: The migrations, in order: (version, what it does, the function doing it in the open transaction).
MIGRATIONS: tuple[tuple[int, str, Callable[[sqlite3.Connection], None]], ...] = (
    (1, "articles, revisions and crawl runs keyed by url", _version_1),
    (2, "items keyed by article_id, with URL aliases", _from_v1),
    (3, "run progress, sitemap reads, WARC captures, failing items, breaking news, full-text search", _up_to_date),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def applied(conn: sqlite3.Connection) -> int:
    """How many of MIGRATIONS the file has had (a file from before the migrations table: its user_version)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS_TABLE,)).fetchone():
        return conn.execute(f"SELECT coalesce(max(version), 0) FROM {MIGRATIONS_TABLE}").fetchone()[0]
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, path) -> None:
    """Applies the migrations the file has not had (in an open write transaction, so one process does it)."""
    done = applied(conn)
    if done > SCHEMA_VERSION:
        raise RuntimeError(f"{path} has store schema version {done}; this code knows up to {SCHEMA_VERSION}")
    conn.execute(MIGRATIONS_TABLE_DDL)
    for version, name, step in MIGRATIONS:
        if version > done:
            step(conn)
        conn.execute(
            f"INSERT OR IGNORE INTO {MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)",
            (version, name, utc_timestamp()),
        )
