"""Outputs that a run created and left empty are removed at the end of that run.

Without it, a first run that cannot reach the site (the README's first command offline) leaves an
empty ``data/mayadeen.sqlite`` and ``data/articles.jsonl`` behind that look like a dataset:
``scrapy export`` would export the store as "0 items". So the ``crawl`` command notes, before the
crawl, which of its default outputs do not exist yet (``NewOutputs.before``) and, after it, removes
those this run created and left empty (``discard_empty``), then the directories it made for them if
nothing else is in them:

* the SQLite store (with its ``-wal``/``-shm`` files) when it holds nothing but this run's
  ``crawl_runs`` row: no table other than ``crawl_runs`` (and the record of its migrations) has a
  row (no item, flash, failing item, sitemap read or capture) and no other run has a row. What is
  lost is that one row; the summary line and the exit status still say what happened, and nothing
  else reads it: the next run starts a new store either way (and finds no run to mark ``killed``).
  The check and the removal happen in one write transaction, so another crawl that has filed its run
  in the new file keeps it (one that opened the file in the same instant and has not yet written
  would write to the removed file: two first runs started together on a site that cannot be
  reached). A PostgreSQL database is the user's: never removed;
* the default JSON Lines file (``mayadeen.feeds.default_feed``) when it is empty. A file named
  with ``-o``/``-O`` is the user's: kept, empty or not.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from mayadeen.feeds.default_feed import default_feed_path
from mayadeen.store.engines import SQLITE, store_target
from mayadeen.store.model import MIGRATIONS_TABLE

logger = logging.getLogger(__name__)

RUNS = "crawl_runs"


def _new(path: str) -> tuple[Path | None, list[Path]]:
    """``path`` and the directories creating it would make (innermost first), or (None, []) if it exists."""
    file = Path(path)
    if not path.strip() or file.exists():
        return None, []
    dirs, parent = [], file.absolute().parent
    while not parent.exists() and parent != parent.parent:
        dirs.append(parent)
        parent = parent.parent
    return file, dirs


class NewOutputs:
    """The store file and default feed file a run is about to create."""

    def __init__(self, store: Path | None, feed: Path | None, new_dirs: list[Path]):
        self.store, self.feed, self.new_dirs = store, feed, new_dirs

    @classmethod
    def before(cls, settings, spidercls) -> NewOutputs:
        """Noted before the run: which of its default outputs do not exist yet."""
        target = store_target(settings)
        store, store_dirs = _new(target.location) if target is not None and target.engine == SQLITE else (None, [])
        feed, feed_dirs = (None, []) if settings.getdict("FEEDS") else _new(default_feed_path(settings, spidercls))
        return cls(store, feed, sorted(set(store_dirs) | set(feed_dirs), key=lambda d: len(d.parts), reverse=True))

    def discard_empty(self, run_id: int | None) -> None:
        """Removes what this run created and left empty (``run_id``: its row in the store, if any)."""
        removed = [path for path in (self.store,) if path is not None and self._discard_store(path, run_id)]
        if self.feed is not None and self.feed.is_file() and self.feed.stat().st_size == 0:
            self.feed.unlink()
            removed.append(self.feed)
        if not removed:
            return
        for directory in self.new_dirs:  # innermost first; only those nothing else was put in
            try:
                directory.rmdir()
            except OSError:
                continue
        logger.debug(
            "Removed %s: this run created %s and wrote nothing to %s",
            " and ".join(map(str, removed)),
            *(("them", "them") if len(removed) > 1 else ("it", "it")),
        )

    @staticmethod
    def _discard_store(path: Path, run_id: int | None) -> bool:
        if not path.is_file():
            return False
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=5)
        except sqlite3.Error:
            return False
        try:
            conn.execute("BEGIN IMMEDIATE")
            if not _holds_only_run(conn, run_id):
                return False
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        except (sqlite3.Error, OSError) as exc:
            logger.warning("Could not check or remove the empty store %s: %s", path, exc)
            return False
        finally:
            conn.close()
        return True


def _holds_only_run(conn: sqlite3.Connection, run_id: int | None) -> bool:
    """Whether the store holds no row but run ``run_id``'s (full-text indexes derive from the tables)."""
    tables = {name: sql or "" for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
    virtual = [name for name, sql in tables.items() if sql.upper().startswith("CREATE VIRTUAL TABLE")]
    data = [
        name
        for name in tables
        if not name.startswith("sqlite_")
        and name not in (RUNS, MIGRATIONS_TABLE)
        and not any(name == v or name.startswith(f"{v}_") for v in virtual)
    ]
    if any(conn.execute(f'SELECT 1 FROM "{name}" LIMIT 1').fetchone() for name in data):
        return False
    return (
        RUNS not in tables
        or conn.execute(f"SELECT 1 FROM {RUNS} WHERE id IS NOT ? LIMIT 1", (run_id,)).fetchone() is None
    )
