"""``scrapy reextract``: rebuild records from the WARC archive with the current extraction, offline.

Runs a real crawl (``mayadeen.archive.spider.ReextractSpider``) whose download handler answers every
request from the archive (``mayadeen.archive.handler``): no request leaves the process. The records
go through the same downloader middlewares, item callback and item pipelines as in a crawl (enrich,
validate, dedupe, store: new revisions, ``warc_captures``, a ``crawl_runs`` row with spider
``reextract``), plus a report of what changed (``mayadeen.archive.changes``). JSON Lines go only to
``-o``/``-O``. Exit status as ``scrapy crawl``; a bad option is one line and exit 2, an archive that
does not exist or holds no WARC file one line and exit 1.

Its answer is the report, on stdout; the log shows warnings and errors only, unless a log level is
asked for (``-L INFO``, ``-s LOG_LEVEL=…``, or ``--logfile``).
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

from scrapy.exceptions import UsageError
from scrapy.settings import SETTINGS_PRIORITIES

from mayadeen.archive.changes import report
from mayadeen.archive.external import expand
from mayadeen.archive.spider import ExternalReextractSpider, ReextractSpider
from mayadeen.archive.warc import OPEN_SUFFIX, closed_files
from mayadeen.commands.crawl import EXIT_FAILED, EXIT_USAGE
from mayadeen.commands.crawl import Command as CrawlCommand
from mayadeen.days import DAY_ZONE
from mayadeen.urls import ITEM_PATTERNS, canonical_url, item_kind, tracking_params
from mayadeen.validation import UsageProblem, check_settings

HANDLER = "mayadeen.archive.handler.WarcDownloadHandler"
CHANGE_REPORT = "mayadeen.archive.changes.ChangeReport"
#: Just before the store (800): compares each record with the row it is about to replace.
CHANGE_REPORT_ORDER = 790


def _day(option: str, value: str | None) -> str:
    if not value:
        return ""
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise UsageError(f"{option} takes a day as YYYY-MM-DD, got {value!r}", print_help=False) from None


def stop(status: int, message: str) -> None:
    """One line on stderr, and the exit status: nothing was read or written."""
    print(f"scrapy reextract: {'error: ' if status == EXIT_USAGE else ''}{message}", file=sys.stderr)
    sys.exit(status)


class Command(CrawlCommand):
    lists_spider_arguments = False  # it runs its own spider, with the arguments below

    def syntax(self) -> str:
        return "[options]"

    def short_desc(self) -> str:
        return "Rebuild records from the WARC archive with the current extraction, without a request"

    def long_desc(self) -> str:
        return (
            self.short_desc() + ". Re-extracts the latest capture of every archived item page (or of those"
            " selected), stores the records as a crawl would and reports which fields changed. Exit status"
            " as 'scrapy crawl'. With --warc, reads WARC files someone else wrote (CC-NEWS) instead."
        )

    def add_options(self, parser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group("Re-extraction")
        group.add_argument("--warc-dir", metavar="DIR", help="the archive (default: MAYADEEN_WARC_DIR)")
        group.add_argument(
            "--warc",
            metavar="PATH_OR_GLOB",
            help="instead of the archive, WARC files someone else wrote (CC-NEWS: quote the glob,"
            " 'CC-NEWS-*.warc.gz'); only this site's item pages in them are read",
        )
        group.add_argument("--since", metavar="YYYY-MM-DD", help=f"captures fetched on or after this day ({DAY_ZONE})")
        group.add_argument("--until", metavar="YYYY-MM-DD", help=f"captures fetched on or before this day ({DAY_ZONE})")
        group.add_argument(
            "--url", action="append", default=[], metavar="URL", help="only this item page (may be repeated)"
        )
        group.add_argument(
            "--kind",
            action="append",
            default=[],
            choices=sorted(ITEM_PATTERNS),
            help="only items of this kind (may be repeated)",
        )

    def process_options(self, args, opts) -> None:
        super().process_options(args, opts)
        try:
            check_settings(self.settings)
            self.check_options(args, opts)
        except (UsageError, UsageProblem) as problem:
            stop(EXIT_USAGE, str(problem))
        if not opts.spargs.get("warc_files"):  # --warc files were found by check_options
            warc_dir = Path(opts.spargs["warc_dir"])
            if not warc_dir.is_dir():
                stop(EXIT_FAILED, f"no WARC archive at {warc_dir}: nothing to re-extract")
            if not closed_files(warc_dir) and not any(warc_dir.glob("*" + OPEN_SUFFIX)):
                stop(EXIT_FAILED, f"the archive {warc_dir} holds no WARC file: nothing to re-extract")
        if self.settings.getpriority("LOG_LEVEL") < SETTINGS_PRIORITIES["cmdline"] and not self.settings.get(
            "LOG_FILE"
        ):
            self.settings.set("LOG_LEVEL", "WARNING", priority="project")  # the answer is the report, on stdout

    def check_options(self, args, opts) -> None:
        """The selection into ``opts.spargs`` and the crawl's settings; UsageError for an option it cannot take."""
        if args:
            raise UsageError("reextract takes no spider: it reads the archive")
        settings = self.settings
        self.spider = ReextractSpider
        if opts.warc:
            if opts.warc_dir:
                raise UsageError("give --warc or --warc-dir, not both", print_help=False)
            files = expand(opts.warc)
            if not files:
                raise UsageError(f"--warc {opts.warc!r} names no file", print_help=False)
            self.spider = ExternalReextractSpider
            opts.spargs["warc_files"] = os.pathsep.join(map(str, files))
            warc_dir = ""
        else:
            warc_dir = (opts.warc_dir or settings.get("MAYADEEN_WARC_DIR") or "").strip()
            if not warc_dir:
                raise UsageError(
                    "no WARC archive: MAYADEEN_WARC_DIR is empty and no --warc-dir is given", print_help=False
                )
            warc_dir = str(Path(warc_dir).resolve())
        since, until = _day("--since", opts.since), _day("--until", opts.until)
        if since and until and since > until:
            raise UsageError(f"--since {since} is after --until {until}", print_help=False)
        urls = []
        for url in opts.url:
            canonical = canonical_url(url, tracking=tracking_params(settings))
            if canonical is None or item_kind(canonical) is None:
                raise UsageError(f"--url {url!r} is not an item page of the site", print_help=False)
            urls.append(canonical)
        opts.spargs.update(warc_dir=warc_dir, since=since, until=until, urls=",".join(urls), kinds=",".join(opts.kind))

        # Nothing is fetched and nothing is archived again: the archive answers every request.
        settings.set(
            "DOWNLOAD_HANDLERS",
            {"http": HANDLER, "https": HANDLER, "ftp": None, "s3": None, "file": None, "data": None},
            priority="cmdline",
        )
        settings.set("MAYADEEN_WARC_DIR", "", priority="cmdline")
        settings.set("MAYADEEN_CHROMIUM_PATH", "", priority="cmdline")
        settings.set("ROBOTSTXT_OBEY", False, priority="cmdline")
        settings.set("AUTOTHROTTLE_ENABLED", False, priority="cmdline")
        settings.set("DOWNLOAD_DELAY", 0, priority="cmdline")
        settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", settings.getint("CONCURRENT_REQUESTS"), priority="cmdline")
        settings.set("MAYADEEN_JSONL_PATH", "", priority="cmdline")  # records go only to -o/-O
        pipelines = dict(settings.getdict("ITEM_PIPELINES"))
        pipelines[CHANGE_REPORT] = CHANGE_REPORT_ORDER
        settings.set("ITEM_PIPELINES", pipelines, priority="cmdline")

    def run(self, args, opts) -> None:
        self.run_spider(self.spider, opts.spargs)
        if "finish_reason" in self.stats:
            print("\n".join(report(self.stats)))
