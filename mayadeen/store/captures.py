"""The ``warc_captures`` table: where in the WARC archive each stored item's fetch is.

One row per archived capture of an item page (a ``response`` or a ``revisit`` record), written in the
same transaction as the item (the store's ``upsert(..., also=...)``), so a stored item always has
its capture indexed and an index row always points at a whole record. The latest capture of an item
is one lookup (``latest_capture``). Files are named relative to the archive directory, so the
directory can move. Both engines create the table (PostgreSQL's: ``mayadeen.store.postgres_schema``).
"""

from __future__ import annotations

from typing import Any

from mayadeen.store.interface import Store, placeholders

#: SQLite's, created with the store's other tables (``mayadeen.store.schema``).
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

_COLUMNS = (
    "url",
    "article_id",
    "fetched_at",
    "digest",
    "warc_file",
    "warc_offset",
    "warc_length",
    "status",
    "warc_type",
)


def index_capture(store: Store, capture, article_id: str | None) -> None:
    """Add one capture (a ``mayadeen.archive.warc.Capture``); the same record indexed again is a no-op."""
    store.run(
        f"INSERT INTO warc_captures ({', '.join(_COLUMNS)}) VALUES ({placeholders(len(_COLUMNS))})"
        " ON CONFLICT DO NOTHING",
        (
            capture.url,
            article_id,
            capture.fetched_at,
            capture.digest,
            capture.file,
            capture.offset,
            capture.length,
            capture.status,
            capture.warc_type,
        ),
    )


def latest_capture(store: Store, *, article_id: str | None = None, url: str | None = None) -> dict[str, Any] | None:
    """The newest capture of an item, by ``article_id`` or by ``url``, as a column -> value dict."""
    if (article_id is None) == (url is None):
        raise ValueError("give exactly one of article_id and url")
    key, value = ("article_id", article_id) if article_id is not None else ("url", url)
    return store.row(
        f"SELECT {', '.join(_COLUMNS)} FROM warc_captures WHERE {key} = $1 ORDER BY fetched_at DESC LIMIT 1", (value,)
    )


def archived_payload(store: Store, digest: str) -> tuple[str, str, str] | None:
    """(url, fetched_at, warc_file) of the first full ``response`` capture of a payload, or None.

    Lets a run write an identical payload as a ``revisit`` of the capture an earlier run archived.
    """
    row = store.read(
        lambda: store.row(
            "SELECT url, fetched_at, warc_file FROM warc_captures WHERE digest = $1 AND warc_type = 'response'"
            " ORDER BY fetched_at LIMIT 1",
            (digest,),
        )
    )
    return (row["url"], row["fetched_at"], row["warc_file"]) if row else None


def latest_fetches(store: Store) -> dict[str, str]:
    """url -> fetched_at of the newest indexed capture of every url."""
    rows = store.read(lambda: store.rows("SELECT url, max(fetched_at) AS fetched_at FROM warc_captures GROUP BY url"))
    return {row["url"]: row["fetched_at"] for row in rows}
