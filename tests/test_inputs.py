"""Inputs checked before the first request: one line, the right exit status, nothing fetched or written.

Each test is a mistake a user made on the old crawler (which then crawled the live site, exited 0
with records missing, or printed 50 lines of traceback); here `scrapy crawl` must stop before it
sends anything, with one line naming the argument or setting and what it takes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import re
import sqlite3
import subprocess
import sys

import pytest
from scrapy.settings import Settings

from mayadeen import preflight
from mayadeen import settings as project_settings
from mayadeen.commands.crawl import Command
from mayadeen.spiders.feed import FeedSpider
from mayadeen.spiders.sections import MENU_LISTINGS
from mayadeen.spiders.sitemap import SitemapSpider
from mayadeen.store.sqlite import ArticleStore
from mayadeen.validation import SETTING_CHECKS, UsageProblem
from tests.conftest import ROOT, expected_records
from tests.fixture_server import FixtureServer
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import runs

BASE = [sys.executable, "-m", "scrapy", "crawl"]
PREFIX = "scrapy crawl {}: error: "


def scrapy(*argv: str, cwd=ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    """``scrapy crawl ARGV`` with no defaults of ours: the user's exact command line."""
    env = {"PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings", "PATH": "/usr/bin:/bin"}
    return subprocess.run([*BASE, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def crawl_command_line() -> tuple[Command, argparse.ArgumentParser]:
    """The ``crawl`` command and its parser, built the way ``scrapy.cmdline`` builds them."""
    settings = Settings()
    settings.setmodule("mayadeen.settings", priority="project")
    command = Command()
    settings.setdict(command.default_settings, priority="command")
    command.settings = settings
    parser = argparse.ArgumentParser(conflict_handler="resolve")
    command.add_options(parser)
    return command, parser


def checked(*argv: str) -> tuple[int | str | None, str]:
    """``scrapy crawl ARGV`` in this process as far as its checks go: (exit status, stderr); the
    status is None when the checks pass and the crawl would start. The crawler is never made, so
    nothing can be fetched."""
    command, parser = crawl_command_line()
    opts, args = parser.parse_known_args(argv)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            command.process_options(args, opts)
    except SystemExit as stopped:
        return stopped.code, stderr.getvalue()
    return None, stderr.getvalue()


@pytest.fixture
def offline(tmp_path):
    """Outputs in tmp_path (a usage error must leave it empty)."""
    return ["-s", f"MAYADEEN_SQLITE_PATH={tmp_path / 'm.sqlite'}", "-s", f"MAYADEEN_JSONL_PATH={tmp_path / 'a.jsonl'}"]


MIRROR = ["-a", "base_url=http://127.0.0.1:9"]
USAGE_ERRORS = [
    # a malformed mirror used to be swallowed ("Disabled MirrorMiddleware") and the live site crawled
    (
        ["sections", "-a", "base_url=127.0.0.1:8000"],
        "-a base_url=127.0.0.1:8000: takes an absolute http(s) origin such as http://127.0.0.1:8000",
    ),
    (
        ["sections", "-a", "base_url=ftp://x"],
        "-a base_url=ftp://x: takes an absolute http(s) origin such as http://127.0.0.1:8000",
    ),
    (
        ["sections", "-a", "base_url=not a url"],
        "-a base_url=not a url: takes an absolute http(s) origin such as http://127.0.0.1:8000",
    ),
    (
        ["sections", "-s", "MAYADEEN_BASE_URL=ftp://x"],
        "-s MAYADEEN_BASE_URL=ftp://x: takes an absolute http(s) origin such as http://127.0.0.1:8000",
    ),
    (
        ["sections", "-a", "base_url=http://127.0.0.1:8000/mirror"],
        "-a base_url=http://127.0.0.1:8000/mirror: takes an"
        " absolute http(s) origin such as http://127.0.0.1:8000 (no path, query or user name)",
    ),
    # a log file that cannot be opened (used to be a traceback from Scrapy's logging set-up)
    (
        ["feed", *MIRROR, "-s", "LOG_FILE=/dev/null/feed.log"],
        "-s LOG_FILE=/dev/null/feed.log: /dev/null is not a directory",
    ),
    # dates and windows (used to be ~50 lines, two tracebacks and a RuntimeError from the command)
    (["sitemap", *MIRROR, "-a", "since=2025-13-45"], "-a since=2025-13-45: takes a day as YYYY-MM-DD, e.g. 2025-07-31"),
    (["sitemap", *MIRROR, "-a", "since=tomorrow"], "-a since=tomorrow: takes a day as YYYY-MM-DD, e.g. 2025-07-31"),
    (
        ["feed", *MIRROR, "-a", "since=2025-08-02", "-a", "until=2025-08-01"],
        "-a since=2025-08-02 is after -a until=2025-08-01: the window needs since <= until",
    ),
    # unknown or misspelled arguments (used to be ignored)
    (
        ["sections", *MIRROR, "-a", "foo=1"],
        "-a foo=1: spider sections has no argument foo; it takes base_url, crawl_id, full, js, restart, sections",
    ),
    (
        ["sections", *MIRROR, "-a", "sectons=news"],
        "-a sectons=news: spider sections has no argument sectons (did you"
        " mean sections?); it takes base_url, crawl_id, full, js, restart, sections",
    ),
    (
        ["sections", *MIRROR, "-a", "since=2025-07-01"],
        "-a since=2025-07-01: spider sections has no argument since;"
        " it takes base_url, crawl_id, full, js, restart, sections",
    ),
    (
        ["sections", *MIRROR, "-a", "until=2025-07-31"],
        "-a until=2025-07-31: spider sections has no argument until;"
        " it takes base_url, crawl_id, full, js, restart, sections",
    ),
    (
        ["feed", *MIRROR, "-a", "sections=news"],
        "-a sections=news: spider feed has no argument sections;"
        " it takes base_url, crawl_id, full, js, restart, since, until",
    ),
    (
        ["sections", *MIRROR, "-a", "sections=doesnotexist"],
        "-a sections=doesnotexist: doesnotexist is not a listing"
        " of the site's menu; it takes comma-separated keys of " + ", ".join(MENU_LISTINGS),
    ),
    # booleans that are not booleans (used to be taken as false)
    (["sitemap", *MIRROR, "-a", "full=maybe"], "-a full=maybe: takes 1 or 0 (also true/false, yes/no, on/off)"),
    (["sections", *MIRROR, "-a", "js=2"], "-a js=2: takes 1 or 0 (also true/false, yes/no, on/off)"),
    # settings
    (
        ["feed", *MIRROR, "-s", "MAYADEEN_RETRY_BACKOF_MAX=5"],
        "-s MAYADEEN_RETRY_BACKOF_MAX: no such setting (did you mean MAYADEEN_RETRY_BACKOFF_MAX?)",
    ),
    (
        ["feed", *MIRROR, "-s", "MAYADEEN_MAX_DROPPED_SHARE=20%"],
        "-s MAYADEEN_MAX_DROPPED_SHARE=20%: takes a number from 0 to 1",
    ),
    # one wording per range, whatever the value given (used to be "at least 0" for abc, "above 0" for 0)
    *[
        (
            ["feed", *MIRROR, "-s", f"MAYADEEN_RENDER_TIMEOUT={value}"],
            f"-s MAYADEEN_RENDER_TIMEOUT={value}: takes a number above 0",
        )
        for value in ("abc", "0", "-2")
    ],
    *[
        (
            ["feed", *MIRROR, "-s", f"MAYADEEN_JOURNAL_MAX_LINES={value}"],
            f"-s MAYADEEN_JOURNAL_MAX_LINES={value}: takes a whole number of at least 1",
        )
        for value in ("many", "0", "1.5")
    ],
    (
        ["feed", *MIRROR, "-s", "MAYADEEN_INTEGRITY_ENABLED=maybe"],
        "-s MAYADEEN_INTEGRITY_ENABLED=maybe: takes 1 or 0 (also true/false, yes/no, on/off)",
    ),
    # the site's identity is not a setting to play with: other hosts are fetched with base_url
    *[
        (
            ["feed", *MIRROR, "-s", f"MAYADEEN_PUBLIC_URL={url}"],
            f"-s MAYADEEN_PUBLIC_URL={url}: the site's identity is"
            " always https://english.almayadeen.net (every URL requested, stored and written is on it); to fetch from"
            " another host use -a base_url or MAYADEEN_BASE_URL",
        )
        for url in ("https://example.org", "https://www.english.almayadeen.net", "http://english.almayadeen.net")
    ],
    # a store URL of another kind, or broken (its value may hold a password: not repeated)
    (
        ["feed", *MIRROR, "-s", "MAYADEEN_STORE_URL=mysql://db/m"],
        "-s MAYADEEN_STORE_URL: takes sqlite:///path/to/file.sqlite or postgresql://user@host:port/database",
    ),
    (
        ["feed", *MIRROR, "-s", "MAYADEEN_STORE_URL=postgresql://u:pw@db:port/m"],
        "-s MAYADEEN_STORE_URL: takes"
        " sqlite:///path/to/file.sqlite or postgresql://user@host:port/database (the port is not a number)",
    ),
    # an unknown spider (used to be a traceback)
    (
        ["sectons"],
        "no spider named sectons (did you mean sections?); the spiders are breaking, feed, sections, sitemap",
    ),
    # no output at all: every record would have been scraped to nowhere
    (
        ["feed", *MIRROR, "-s", "MAYADEEN_SQLITE_PATH=", "-s", "MAYADEEN_JSONL_PATH="],
        "no output: MAYADEEN_STORE_URL,"
        " MAYADEEN_SQLITE_PATH and MAYADEEN_JSONL_PATH are empty and no -o/-O is given;"
        " every record would be thrown away",
    ),
]


@pytest.mark.parametrize("argv, message", USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_a_usage_error_is_one_line_and_exit_2(tmp_path, offline, argv, message):
    outputs = [] if "MAYADEEN_SQLITE_PATH=" in argv else offline
    status, stderr = checked(*argv, *outputs)
    assert status == 2, stderr
    assert stderr == PREFIX.format(argv[0]) + message + "\n"
    assert list(tmp_path.iterdir()) == []  # nothing written: no store, no JSON Lines


@pytest.mark.parametrize(
    "name", sorted(n for n, check in SETTING_CHECKS.items() if check.__qualname__.startswith("_number"))
)
def test_a_number_setting_says_the_same_range_for_any_value_it_refuses(name):
    """Not a number, below the range, above it: one sentence naming the value given and the range."""
    refusals = set()
    for value in ("abc", "-1e9", "1e9", "0", "-0.5"):
        try:
            SETTING_CHECKS[name](Settings({name: value}), name)
        except UsageProblem as problem:
            given, _, takes = str(problem).partition(": ")
            assert given == f"-s {name}={value}"
            refusals.add(takes)
    assert len(refusals) == 1 and next(iter(refusals)).startswith("takes a "), refusals


def test_crawl_help_lists_every_redis_setting_with_its_words():
    """As the docs' settings reference does (both read settings.py), and as it lists each spider's arguments."""
    _, parser = crawl_command_line()
    text = " ".join(parser.format_help().split())
    names = sorted(name for name in vars(project_settings) if name.startswith("MAYADEEN_REDIS_"))
    assert len(names) >= 4
    for name in names:
        assert f"-s {name} (default " in text, name
    assert "-s MAYADEEN_REDIS_LEASE_TTL (default 30.0): Seconds a worker's leases and budget slots live" in text


def test_good_inputs_pass_the_checks(tmp_path, offline):
    for value in ("https://english.almayadeen.net", "https://English.Almayadeen.net/"):
        assert checked("feed", *MIRROR, "-s", f"MAYADEEN_PUBLIC_URL={value}", *offline) == (None, "")
    assert checked(
        "sitemap", *MIRROR, "-a", "since=2025-07-01", "-a", "until=2025-07-31", "-a", "full=yes", *offline
    ) == (None, "")
    assert checked("sections", *MIRROR, "-a", "sections=news/politics,articles", "-a", "js=0", *offline) == (None, "")
    assert list(tmp_path.iterdir()) == []


#: Through a real ``scrapy crawl``: one line, exit 2, and nothing reaches the server. Every usage error
#: above stops the command at the same point (``process_options``: one line, then exit 2), which
#: ``checked`` runs in process for each; here a spider that exists with an argument it does not take (a
#: spider that does not exist, through a real process: test_startup_imports's usage error).
END_TO_END = [USAGE_ERRORS[9]]


@pytest.mark.parametrize("argv, message", END_TO_END, ids=[" ".join(a) for a, _ in END_TO_END])
def test_a_usage_error_of_scrapy_crawl_fetches_and_writes_nothing(tmp_path, offline, argv, message):
    with FixtureServer() as srv:
        proc = scrapy(*[f"base_url={srv.url}" if a == MIRROR[1] else a for a in argv], *offline)
        assert srv.paths() == []
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == PREFIX.format(argv[0]) + message + "\n"  # no traceback, no log: one line
    assert list(tmp_path.iterdir()) == []


def test_each_spider_says_which_date_its_window_filters():
    assert "publication" in FeedSpider.arguments["since"].help and "pubDate" in FeedSpider.arguments["until"].help
    assert "last change" in SitemapSpider.arguments["since"].help
    assert "<lastmod>" in SitemapSpider.arguments["until"].help
    _, parser = crawl_command_line()
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=10_000)  # no line breaks in YYYY-MM-DD
    shown = parser.format_help()  # ``scrapy crawl -h``
    assert (
        "-a since=YYYY-MM-DD: only items whose last change (sitemap <lastmod>) is on or after this day"
        " (Beirut time, Asia/Beirut)" in shown.split("Spider sitemap arguments", 1)[1]
    )
    assert (
        "-a until=YYYY-MM-DD: only items whose publication (RSS pubDate, news sitemap publication date) is on or"
        " before this day (Beirut time, Asia/Beirut)" in shown.split("Spider feed arguments", 1)[1]
    )
    assert "since" not in shown.split("Spider sections arguments", 1)[1].split("Spider sitemap arguments", 1)[0]


# --- environment errors: one ERROR line, the summary, a crawl_runs row where the store can take it ----


def environment_refusal(result, message: str, reason: str) -> None:
    assert result.returncode == 1
    errors = [line for line in result.log.splitlines() if " ERROR: " in line]
    assert len(errors) == 2, errors  # the problem, then the summary
    assert errors[0].endswith(message), errors[0]
    assert f"result=FAILED ({reason}) finish_reason={reason}" in errors[1] and "Run summary:" in errors[1]
    assert re.search(r" duration=\d+\.\ds$", errors[1]), errors[1]  # timed by the command
    assert "Traceback" not in result.log and "Spider opened" not in result.log


def test_an_unwritable_json_lines_path_stops_the_run_before_it_starts(tmp_path):
    directory = tmp_path / "out.jsonl"
    directory.mkdir()  # a directory where the file should be
    ArticleStore(tmp_path / "mayadeen.sqlite").close()  # an earlier run's store (a new one is not kept empty)
    with FixtureServer() as srv:
        result = crawl_in_process("feed", srv.url, tmp_path, jsonl=directory, check=False)
        assert srv.paths() == []
    environment_refusal(result, f"feed={directory}: is a directory, not a file", "feed_not_writable")
    (run,) = runs(result.sqlite)  # the store was usable: the refused run is on record
    assert run["finish_reason"] == run["result"] == "feed_not_writable" and run["items_new"] is None
    # The default feed (no -o) is checked the same way.
    settings = Settings({"MAYADEEN_JSONL_PATH": str(directory)})
    assert preflight.feed_problem(settings) == preflight.EnvironmentProblem(
        "feed_not_writable", f"feed={directory}: is a directory, not a file", True
    )


def test_a_garbage_store_is_refused_and_left_alone(tmp_path):
    sqlite = tmp_path / "mayadeen.sqlite"
    sqlite.write_bytes(b"this is not a database\n" * 100)
    with FixtureServer() as srv:
        result = crawl_in_process("feed", srv.url, tmp_path, check=False)
        assert srv.paths() == []
    environment_refusal(
        result,
        f"MAYADEEN_SQLITE_PATH={sqlite}: not a SQLite database (is it the right file? if it is"
        f' a damaged store, recover it with: sqlite3 {sqlite} ".recover" | sqlite3 recovered.sqlite)',
        "store_unusable",
    )
    assert sqlite.read_bytes() == b"this is not a database\n" * 100


def test_a_store_with_damaged_pages_is_never_written_to(tmp_path):
    sqlite = tmp_path / "mayadeen.sqlite"
    with ArticleStore(sqlite) as store:  # a store with the 14 articles
        for record in expected_records().values():
            store.upsert({**record, "content_hash": record["url"]})
    con = sqlite3.connect(sqlite)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    data = bytearray(sqlite.read_bytes())
    data[3 * page_size : 5 * page_size] = b"\xa5" * (2 * page_size)  # two pages of the articles' b-tree
    sqlite.write_bytes(bytes(data))
    before = hashlib.sha256(sqlite.read_bytes()).hexdigest()
    with FixtureServer() as srv:
        result = crawl_in_process("feed", srv.url, tmp_path, check=False)
        assert srv.paths() == []
    environment_refusal(
        result, f'recover it with: sqlite3 {sqlite} ".recover" | sqlite3 recovered.sqlite', "store_damaged"
    )
    assert "the store is damaged (no crawl run on record; integrity_check: " in result.log
    assert hashlib.sha256(sqlite.read_bytes()).hexdigest() == before  # not one byte written


def test_a_store_another_process_keeps_locked_is_one_line(tmp_path):
    """A ``sqlite3`` shell's ``BEGIN EXCLUSIVE`` left open: was a traceback per component (the first
    write's OperationalError, CoreStats, Spidermon) and a summary without figures."""
    sqlite = tmp_path / "mayadeen.sqlite"
    ArticleStore(sqlite).close()
    holder = sqlite3.connect(sqlite, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with FixtureServer() as srv:
            result = crawl_in_process(
                "feed", srv.url, tmp_path, settings={"MAYADEEN_SQLITE_BUSY_TIMEOUT": "0.2"}, check=False
            )
            assert srv.paths() == []
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    environment_refusal(
        result,
        f"MAYADEEN_SQLITE_PATH={sqlite}: another process has held the store's lock for more than 0.2 s (an"
        " open transaction: a sqlite3 shell's BEGIN, a backup); nothing was written; try again once it is"
        " released, or wait longer with -s MAYADEEN_SQLITE_BUSY_TIMEOUT=SECONDS",
        "store_busy",
    )
    with FixtureServer() as srv:  # released: the next run goes on
        assert crawl_in_process("feed", srv.url, tmp_path).returncode == 0


def test_a_read_only_data_directory_is_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with FixtureServer() as srv:
        cmd = " ".join(
            [
                *BASE,
                "feed",
                "-a",
                f"base_url={srv.url}",
                "-s",
                f"MAYADEEN_SQLITE_PATH={data}/m.sqlite",
                "-s",
                f"MAYADEEN_JSONL_PATH={data}/a.jsonl",
            ]
        )
        # A read-only bind mount: root ignores permission bits, not a read-only file system.
        proc = subprocess.run(
            [
                "unshare",
                "-m",
                "sh",
                "-c",
                f"mount --bind {data} {data} && mount -o remount,bind,ro {data} {data} && exec {cmd}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings", "PATH": "/usr/bin:/bin"},
        )
        if "mount" in proc.stderr and proc.returncode == 32:
            pytest.skip("no mount namespace here")
        assert srv.paths() == []
    result = type("R", (), {"returncode": proc.returncode, "log": proc.stderr})
    environment_refusal(
        result,
        f"MAYADEEN_SQLITE_PATH={data}/m.sqlite: cannot write in {data} (read-only or no permission)",
        "store_unusable",
    )


def test_a_jobdir_of_another_spider_is_refused_and_kept(tmp_path):
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    job = {"spider": "sections", "state": "paused", "started_at": "2025-08-04T10:00:00Z", "runs": 1}
    (jobdir / "mayadeen-job.json").write_text(json.dumps(job))
    (jobdir / "requests.queue").mkdir()
    status, stderr = checked(
        "feed", *MIRROR, "-s", f"JOBDIR={jobdir}", "-s", f"MAYADEEN_SQLITE_PATH={tmp_path / 'm.sqlite'}"
    )
    assert status == 2
    assert stderr.strip() == (
        f"scrapy crawl feed: error: -s JOBDIR={jobdir} holds a paused crawl of spider"
        f" sections, not feed: resume it with `scrapy crawl sections -s JOBDIR={jobdir}`,"
        " or give this crawl its own JOBDIR"
    )
    assert json.loads((jobdir / "mayadeen-job.json").read_text()) == job and (jobdir / "requests.queue").is_dir()


def test_saved_deadlines_are_wall_clock_times():
    # Private Scrapy internals: tests/test_public_apis.py.
    for saved_deadlines in ("middlewares/retry.py", "scheduler.py", "extensions/retry_after.py"):
        assert "monotonic" not in (ROOT / "mayadeen" / saved_deadlines).read_text("utf-8")  # wall-clock only
