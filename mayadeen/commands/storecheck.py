"""``scrapy storecheck``: the full integrity check of the SQLite store, on demand.

A crawl reads only the store's header, schema and last run before it starts, and runs SQLite's
``PRAGMA integrity_check`` itself only after a run that did not close cleanly
(``mayadeen.store.soundness``); this command runs it whenever asked, read-only (crawls may write
meanwhile). Schedule it weekly. Exits 0 when the store is sound, 1 when it is damaged (the problems
found, at most ``--max-problems``, one a line), cannot be read or is not there, 2 on bad options.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

from scrapy.commands import ScrapyCommand

from mayadeen.commands.export import EXIT_FAILED, EXIT_USAGE, BadOption, _store, add_store_option
from mayadeen.store import soundness
from mayadeen.store.engines import SQLITE


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[--store PATH]"

    def short_desc(self) -> str:
        return "Check every page and index of the SQLite store (PRAGMA integrity_check); exit 1 if damaged"

    def long_desc(self) -> str:
        return (
            "Run SQLite's full integrity check on the store (the crawl's, or --store), read-only. A crawl "
            "runs it itself only after a run that did not close cleanly; schedule this command weekly. "
            "Exits 0 when the store is sound, 1 when it is damaged or cannot be read, 2 on bad options."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group(title="Store check options")
        add_store_option(group, engines="a SQLite file or sqlite:///PATH")
        group.add_argument(
            "--max-problems", type=int, default=20, metavar="N", help="list at most N problems (default 20)"
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        try:
            if args:
                raise BadOption("scrapy storecheck takes no arguments")
            target = _store(opts.store, self.settings)
            if target.engine != SQLITE:
                raise BadOption("only a SQLite store is checked here; PostgreSQL checks its own pages (amcheck)")
        except BadOption as exc:
            print(f"scrapy storecheck: error: {exc}", file=sys.stderr)
            self.exitcode = EXIT_USAGE
            return
        path = Path(target.location)
        if not path.exists():
            print(f"scrapy storecheck: {path}: no store there (no such file)", file=sys.stderr)
            self.exitcode = EXIT_FAILED
            return
        started = time.monotonic()
        try:
            version = soundness.look(path).schema_version
            problems = soundness.integrity_check(path, max(opts.max_problems, 1))
        except (OSError, soundness.NotSqlite, sqlite3.DatabaseError) as exc:
            print(f"scrapy storecheck: {path}: damaged or unreadable: {' '.join(str(exc).split())}", file=sys.stderr)
            self.exitcode = EXIT_FAILED
            return
        took = f"{time.monotonic() - started:.1f} s"
        if problems:
            print(f"{path}: damaged ({len(problems)} problem(s) listed, integrity_check, {took}):")
            print("\n".join(problems))
            print(f'recover it with: sqlite3 {path} ".recover" | sqlite3 recovered.sqlite')
            self.exitcode = EXIT_FAILED
            return
        print(f"{path}: ok (integrity_check, schema version {version}, {path.stat().st_size:,} bytes, {took})")
