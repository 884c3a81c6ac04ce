"""Full-text search in the store: FTS5 indexes over the articles and the breaking-news flashes.

Each index is an external-content FTS5 table: it indexes some text columns of its table by rowid and
reads the text back from that table for ``snippet()`` and ``highlight()``, so no text is stored
twice. Triggers keep it in step with every insert, update of an indexed column (a revision, an
edited flash) and delete; a store created before an index existed gets it, filled from the rows, at
the writer's next start.

``articles_fts`` covers ``headline``, ``summary``, ``body`` and ``tags`` (the JSON text; the
tokenizer skips its brackets and quotes) of ``articles``; ``breaking_fts`` the ``text`` of
``breaking_news``.

The rows must change through INSERT, UPDATE and DELETE: a row replaced by ``INSERT OR REPLACE``
fires no delete trigger (unless ``recursive_triggers`` is on) and would leave its old text indexed.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class FtsIndex:
    #: The FTS5 table.
    name: str
    #: The indexed table and its columns, in the index's column order (``snippet()`` numbers them).
    table: str
    columns: tuple[str, ...]

    def ddl(self) -> tuple[str, ...]:
        """The FTS5 table and its three triggers."""
        name, table = self.name, self.table
        columns = ", ".join(self.columns)
        new = ", ".join(f"new.{c}" for c in self.columns)
        old = ", ".join(f"old.{c}" for c in self.columns)
        return (
            f"""CREATE VIRTUAL TABLE {name} USING fts5(
                {columns}, content='{table}', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
            )""",
            f"""CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN
                INSERT INTO {name} (rowid, {columns}) VALUES (new.rowid, {new});
            END""",
            f"""CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN
                INSERT INTO {name} ({name}, rowid, {columns}) VALUES ('delete', old.rowid, {old});
            END""",
            f"""CREATE TRIGGER {name}_update AFTER UPDATE OF {columns} ON {table} BEGIN
                INSERT INTO {name} ({name}, rowid, {columns}) VALUES ('delete', old.rowid, {old});
                INSERT INTO {name} (rowid, {columns}) VALUES (new.rowid, {new});
            END""",
        )


ARTICLES_FTS = FtsIndex("articles_fts", "articles", ("headline", "summary", "body", "tags"))
BREAKING_FTS = FtsIndex("breaking_fts", "breaking_news", ("text",))
FTS_TABLE = ARTICLES_FTS.name


def ensure_fts(conn: sqlite3.Connection, index: FtsIndex = ARTICLES_FTS) -> bool:
    """Create ``index`` and its triggers unless they exist, and fill it from its table.

    Runs inside the caller's write transaction (after the table exists). Returns True when it
    created the index.
    """
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (index.name,)).fetchone()
    if exists:
        return False
    for statement in index.ddl():
        conn.execute(statement)
    conn.execute(f"INSERT INTO {index.name} ({index.name}) VALUES ('rebuild')")
    return True
