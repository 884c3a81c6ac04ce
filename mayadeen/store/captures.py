"""The ``warc_captures`` table: where in the WARC archive each stored item's fetch is.

One row per archived capture of an item page (a ``response`` or a ``revisit`` record), written in the
same transaction as the item (``ArticleStore.upsert(..., also=...)``), so a stored item always has
its capture indexed and an index row always points at a whole record. The latest capture of an item
is one lookup (``latest_capture``). Files are named relative to the archive directory, so the
directory can move.
"""

from __future__ import annotations

import sqlite3
from typing import Any

#: Created with the store's other tables (``mayadeen.store.sqlite``).
CAPTURES_DDL = (
    """CREATE TABLE IF NOT EXISTS warc_captures (
        url TEXT NOT NULL,
        article_id TEXT,
        fetched_at TEXT NOT NULL,
        digest TEXT NOT NULL,
        warc_file TEXT NOT NULL,
        warc_offset INTEGER NOT NULL,
        warc_length INTEGER NOT NULL,
        status INTEGER,
        warc_type TEXT NOT NULL,
        PRIMARY KEY (warc_file, warc_offset)
    )""",
    "CREATE INDEX IF NOT EXISTS warc_captures_article ON warc_captures (article_id, fetched_at)",
    "CREATE INDEX IF NOT EXISTS warc_captures_url ON warc_captures (url, fetched_at)",
    "CREATE INDEX IF NOT EXISTS warc_captures_digest ON warc_captures (digest)",
)

_COLUMNS = ("url", "article_id", "fetched_at", "digest", "warc_file", "warc_offset", "warc_length", "status",
            "warc_type")


def index_capture(conn: sqlite3.Connection, capture, article_id: str | None) -> None:
    """Add one capture (a ``mayadeen.archive.warc.Capture``); the same record indexed again is a no-op."""
    conn.execute(
        f"INSERT OR IGNORE INTO warc_captures ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
        (capture.url, article_id, capture.fetched_at, capture.digest, capture.file, capture.offset,
         capture.length, capture.status, capture.warc_type),
    )


def latest_capture(conn: sqlite3.Connection, *, article_id: str | None = None,
                   url: str | None = None) -> dict[str, Any] | None:
    """The newest capture of an item, by ``article_id`` or by ``url``, as a column -> value dict."""
    if (article_id is None) == (url is None):
        raise ValueError("give exactly one of article_id and url")
    key, value = ("article_id", article_id) if article_id is not None else ("url", url)
    row = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM warc_captures WHERE {key} = ? ORDER BY fetched_at DESC LIMIT 1",
        (value,),
    ).fetchone()
    return dict(zip(_COLUMNS, row, strict=True)) if row else None


def archived_payload(conn: sqlite3.Connection, digest: str) -> tuple[str, str, str] | None:
    """(url, fetched_at, warc_file) of the first full ``response`` capture of a payload, or None.

    Lets a run write an identical payload as a ``revisit`` of the capture an earlier run archived.
    """
    if not _indexed(conn):
        return None
    return conn.execute(
        "SELECT url, fetched_at, warc_file FROM warc_captures WHERE digest = ? AND warc_type = 'response'"
        " ORDER BY fetched_at LIMIT 1", (digest,),
    ).fetchone()


def latest_fetches(conn: sqlite3.Connection) -> dict[str, str]:
    """url -> fetched_at of the newest indexed capture of every url (empty in a store without the table)."""
    if not _indexed(conn):
        return {}
    return dict(conn.execute("SELECT url, max(fetched_at) FROM warc_captures GROUP BY url"))


def _indexed(conn: sqlite3.Connection) -> bool:
    """Whether the store has the table (one written before it existed, opened read-only, has not)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'warc_captures'").fetchone() is not None
