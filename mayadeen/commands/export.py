"""``scrapy export DIR``: a dataset snapshot of the store (JSON Lines, CSV, Parquet, card, report, manifest).

The store: ``--store`` (a store URL or a SQLite file's path), else the crawl's (``MAYADEEN_STORE_URL``,
else ``MAYADEEN_SQLITE_PATH``), SQLite or PostgreSQL. Exits 0 when the export was written, 2 on bad
options or a DIR it may not write over (one line, nothing removed: a symbolic link; with
``--overwrite``, a DIR without an earlier export's manifest, or whose export files changed since;
``--section`` must name a section the store holds, and ``-s`` names are checked as for a crawl), 1
when it could not be made (the store missing, unreadable, unreachable or holding nothing, DIR not
empty without ``--overwrite``, the disk full: one line, DIR left as it was).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy.commands import ScrapyCommand

from mayadeen.days import DAY_ZONE
from mayadeen.export.datasets import FORMATS
from mayadeen.record import schema
from mayadeen.setting_names import unknown_message, unknown_names
from mayadeen.store.engines import StoreTarget, parse_store, store_target
from mayadeen.store.read import Selection
from mayadeen.validation import UsageProblem, check_settings, parse_flag

# The export's writers (pyarrow) and report (matplotlib) are imported when an export runs: Scrapy
# imports every command module for every command, and they cost a `scrapy crawl` some 0.4 s.
if TYPE_CHECKING:
    from mayadeen.export.run import ExportRequest, ExportResult

EXIT_FAILED = 1
EXIT_USAGE = 2


class BadOption(ValueError):
    """An option value that cannot be used; the message is one line."""


def _day(name: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise BadOption(f"{name} must be a day as YYYY-MM-DD, not {value!r}") from None


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _store(option: str | None, settings) -> StoreTarget:
    """The store ``--store`` names, else the crawl's; BadOption when there is none or it is not a store's name."""
    try:
        target = parse_store(option) if option is not None else store_target(settings)
    except ValueError as exc:
        raise BadOption(f"--store {exc}" if option is not None else f"MAYADEEN_STORE_URL {exc}") from None
    if target is None:
        raise BadOption("no store (MAYADEEN_STORE_URL and MAYADEEN_SQLITE_PATH are empty); give --store URL or PATH")
    return target


def add_days_options(group) -> None:
    """``--since``/``--until``: days of publication (flashes: of ``time``), inclusive, in Beirut (``mayadeen.days``)."""
    group.add_argument(
        "--since",
        metavar="YYYY-MM-DD",
        help=f"only items published (and flashes dated) on or after this day ({DAY_ZONE})",
    )
    group.add_argument(
        "--until",
        metavar="YYYY-MM-DD",
        help=f"only items published (and flashes dated) on or before this day ({DAY_ZONE})",
    )


#: What ``--store`` may name, in its help.
ANY_STORE = "sqlite:///PATH, postgresql://user@host:port/database or a SQLite file"


def add_store_option(group, engines: str = ANY_STORE) -> None:
    group.add_argument(
        "--store",
        metavar="URL|PATH",
        help=f"the store: {engines} (default: the crawl's, MAYADEEN_STORE_URL or MAYADEEN_SQLITE_PATH)",
    )


def parse_request(opts: argparse.Namespace, args: list[str], settings) -> ExportRequest:
    """The export the command line asks for (``settings``: the crawl's, for its store); BadOption
    when it cannot be one."""
    from mayadeen.export.run import ExportRequest

    unknown_options = [a for a in args if a.startswith("-")]
    if unknown_options:
        raise BadOption(f"unknown option {unknown_options[0]} (see scrapy export -h)")
    if len(args) != 1:
        raise BadOption("give exactly one export directory: scrapy export DIR")
    formats = _list(opts.format) if opts.format is not None else FORMATS
    unknown = [f for f in formats if f not in FORMATS]
    if not formats or unknown:
        raise BadOption(
            f"--format takes a comma-separated list of {', '.join(FORMATS)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    kinds = _list(opts.kind)
    known_kinds = schema()["properties"]["kind"]["enum"]
    bad_kinds = [k for k in kinds if k not in known_kinds]
    if bad_kinds:
        raise BadOption(f"--kind takes {', '.join(known_kinds)}; unknown: {', '.join(bad_kinds)}")
    if opts.kind is not None and not kinds:
        raise BadOption("--kind is empty")
    if opts.section is not None and not _list(opts.section):
        raise BadOption("--section is empty")
    try:
        escape_formulas = parse_flag(
            "-s MAYADEEN_EXPORT_CSV_ESCAPE_FORMULAS", settings.get("MAYADEEN_EXPORT_CSV_ESCAPE_FORMULAS", True)
        )
    except UsageProblem as exc:
        raise BadOption(str(exc)) from None
    since, until = _day("--since", opts.since), _day("--until", opts.until)
    if since and until and since > until:
        raise BadOption(f"--since {since} is after --until {until}")
    return ExportRequest(
        store=_store(opts.store, settings), out=Path(args[0]),
        formats=tuple(f for f in FORMATS if f in formats),
        selection=Selection(since=since, until=until, sections=_list(opts.section), kinds=kinds),
        with_revisions=opts.with_revisions, overwrite=opts.overwrite, escape_csv_formulas=escape_formulas,
        full=opts.full,
    )  # fmt: skip


def summary(result: ExportResult, out: Path) -> str:
    """The table printed at the end: rows and bytes per file, and the date range."""
    from mayadeen.export.card import flash_range

    width = max(len(f.path) for f in result.files)
    lines = [f"{'file':<{width}}  {'rows':>9}  {'bytes':>13}"]
    for f in result.files:
        rows = "" if f.rows is None else f"{f.rows:,}"
        lines.append(f"{f.path:<{width}}  {rows:>9}  {f.bytes:>13,}")
    if result.flashes is not None:
        lines.append(f"{result.flashes['flashes']:,} breaking-news flashes, {flash_range(result.flashes)} (UTC)")
    lines.append(f"{result.profile.items:,} items published {result.profile.date_range()} (UTC) in {out}")
    if result.kept:
        lines.append(f"{result.kept:,} of these files kept from the earlier export there (their rows did not change)")
    return "\n".join(lines)


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[options] DIR"

    def short_desc(self) -> str:
        return "Write a dataset snapshot of the store: JSON Lines, CSV, Parquet, a card, a report"

    def long_desc(self) -> str:
        return (
            "Write the current version of every stored item (the crawl's store, or --store) to DIR as "
            "articles.jsonl, articles.csv and hive-partitioned Parquet, and the breaking-news flashes as "
            "breaking.jsonl, breaking.csv and parquet_breaking/, with a dataset card (README.md), a "
            "report with charts (report.html), Croissant metadata (croissant.json) and manifest.json. "
            "Exits 2 on bad options, 1 when the export could not be made (DIR is then left as it was), else 0."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group(title="Export options")
        group.add_argument("--format", metavar="LIST", help=f"comma-separated, of {','.join(FORMATS)} (default: all)")
        add_days_options(group)
        group.add_argument(
            "--section",
            metavar="LIST",
            help="only these sections or section groups, e.g. Politics,Videos (and no flashes)",
        )
        group.add_argument(
            "--kind", metavar="LIST", help="only these kinds: article, video, infograph, gallery (and no flashes)"
        )
        group.add_argument(
            "--with-revisions",
            action="store_true",
            help="also every earlier version (revisions.jsonl, .csv, parquet_revisions/)",
        )
        add_store_option(group)
        group.add_argument(
            "--overwrite",
            action="store_true",
            help="replace an earlier export in DIR: only the files its manifest.json names; Parquet partitions"
            " whose rows did not change since are kept as they are",
        )
        group.add_argument("--full", action="store_true", help="with --overwrite: write every Parquet partition again")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from mayadeen.export.overwrite import RefusedDirectory
        from mayadeen.export.run import ExportError, export
        from mayadeen.export.store_check import UnknownSection, check_request

        try:
            check_settings(self.settings)
            request = parse_request(opts, args, self.settings)
            check_request(request)
        except (BadOption, UsageProblem, UnknownSection) as exc:
            print(f"scrapy export: error: {exc}", file=sys.stderr)
            self.exitcode = EXIT_USAGE
            return
        except ExportError as exc:
            print(f"scrapy export: {exc}", file=sys.stderr)
            self.exitcode = EXIT_FAILED
            return
        for name in unknown_names(self.settings):
            print(f"scrapy export: warning: {unknown_message(name)}", file=sys.stderr)
        try:
            result = export(request)
        except RefusedDirectory as exc:
            print(f"scrapy export: error: {exc}", file=sys.stderr)
            self.exitcode = EXIT_USAGE
            return
        except ExportError as exc:
            print(f"scrapy export: {exc}", file=sys.stderr)
            self.exitcode = EXIT_FAILED
            return
        print(summary(result, request.out))
