"""``scrapy status [--store URL] [--json]``: each spider's last run, for an operator or a health check.

The store: ``--store`` (a store URL or a SQLite file's path), else the crawl's (``MAYADEEN_STORE_URL``,
``MAYADEEN_SQLITE_PATH``), opened read-only. Prints only its answer (``mayadeen.monitors.status``);
exit status 1 when the latest finished run of a spider failed, when a spider named by ``--max-age
SPIDER=AGE`` has no run that finished within AGE (its schedule stopped: no run can say so itself), or
the store cannot be read; else 0.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from mayadeen.monitors.status import describe, parse_max_ages, stale_spiders, store_status
from mayadeen.store.engines import connect, parse_store, store_errors, store_target


def run_recording_spiders(settings) -> list[str]:
    """The project's spiders that record their runs in ``crawl_runs`` (not ``breaking``: its health is
    its own exit status)."""
    from scrapy.spiderloader import get_spider_loader

    from mayadeen.spiders.base import MayadeenSpider

    loader = get_spider_loader(settings)
    return sorted(name for name in loader.list() if issubclass(loader.load(name), MayadeenSpider))


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[--store URL] [--json] [--runs N] [--max-age SPIDER=AGE ...]"

    def short_desc(self) -> str:
        return (
            "Show each spider's last run, failed runs in a row, coverage trend, failing items;"
            " exit 1 if one failed, has not run within its --max-age, or the store cannot be read"
        )

    def add_options(self, parser) -> None:
        super().add_options(parser)
        parser.add_argument("--store", metavar="URL", help="a store URL or a SQLite file (default: the crawl's store)")
        parser.add_argument("--json", action="store_true", help="print the status as JSON")
        parser.add_argument("--runs", type=int, default=5, metavar="N", help="runs in the coverage trend (default 5)")
        parser.add_argument(
            "--max-age",
            action="append",
            default=[],
            metavar="SPIDER=AGE",
            help="exit 1 unless SPIDER has a run that finished within AGE (90m, 2h, 1d; repeatable)",
        )

    def run(self, args, opts) -> None:
        if args:
            raise UsageError("scrapy status takes no arguments")
        try:
            max_ages = parse_max_ages(opts.max_age, run_recording_spiders(self.settings)) if opts.max_age else {}
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        try:
            target = parse_store(opts.store) if opts.store else store_target(self.settings)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if target is None:
            raise UsageError("no store: give --store or set MAYADEEN_STORE_URL / MAYADEEN_SQLITE_PATH")
        try:
            with connect(target, readonly=True) as store:
                status = store_status(store, target, max(opts.runs, 1))
        except store_errors(target) as exc:
            print(f"store {target}: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        if max_ages:
            status["stale"] = stale_spiders(status, max_ages, datetime.now(UTC))
        print(json.dumps(status, indent=2, sort_keys=True) if opts.json else describe(status))
        self.exitcode = 1 if any(s["failed"] for s in status["spiders"].values()) or status.get("stale") else 0
