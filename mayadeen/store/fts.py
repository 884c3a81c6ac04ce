"""Full-text search over the stored articles: the FTS5 index ``articles_fts`` and its triggers.

An external-content FTS5 table: it indexes ``headline``, ``summary``, ``body`` and ``tags`` (the
JSON text; the tokenizer skips its brackets and quotes) of ``articles`` by rowid and reads the text
back from ``articles`` for ``snippet()`` and ``highlight()``, so no text is stored twice. Triggers
keep it in step with every insert, revision (an update of an indexed column) and delete; a store
created before the index had it gets it, filled from the rows, at the writer's next start.

The rows must change through INSERT, UPDATE and DELETE: a row replaced by ``INSERT OR REPLACE``
fires no delete trigger (unless ``recursive_triggers`` is on) and would leave its old text indexed.
"""

from __future__ import annotations

import sqlite3

FTS_TABLE = "articles_fts"
#: The indexed columns of ``articles``, in the index's column order (``snippet()`` numbers them).
FTS_COLUMNS = ("headline", "summary", "body", "tags")

_COLUMNS = ", ".join(FTS_COLUMNS)
_NEW = ", ".join(f"new.{c}" for c in FTS_COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in FTS_COLUMNS)

_DDL = (
    f"""CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(
        {_COLUMNS}, content='articles', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
    )""",
    f"""CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON articles BEGIN
        INSERT INTO {FTS_TABLE} (rowid, {_COLUMNS}) VALUES (new.rowid, {_NEW});
    END""",
    f"""CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON articles BEGIN
        INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, {_COLUMNS}) VALUES ('delete', old.rowid, {_OLD});
    END""",
    f"""CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF {_COLUMNS} ON articles BEGIN
        INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, {_COLUMNS}) VALUES ('delete', old.rowid, {_OLD});
        INSERT INTO {FTS_TABLE} (rowid, {_COLUMNS}) VALUES (new.rowid, {_NEW});
    END""",
)


def ensure_fts(conn: sqlite3.Connection) -> bool:
    """Create the index and its triggers unless they exist, and fill it from ``articles``.

    Runs inside the caller's write transaction (after ``articles`` exists). Returns True when it
    created the index.
    """
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS_TABLE,)).fetchone()
    if exists:
        return False
    for statement in _DDL:
        conn.execute(statement)
    conn.execute(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')")
    return True
