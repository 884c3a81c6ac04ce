"""More inputs checked up front, and commands that say only what happened.

Each case is a mistake seen on the old crawler: a JOBDIR that is a file (a traceback, exit 1), JOBDIR
with Redis (a traceback), `export --section Politcs` (exit 0, empty), an export of an empty store
(exit 0, "0 items"), `-s DOWNLOAD_DELAI=0` and `-s MAYADEN_SQLITE_PATH=…` (ignored), flashes written
into the articles' file, an empty store left behind by a run that could not reach the site, and
Scrapy's banner before `crawlstatus`'s answer. Real `scrapy` subprocesses where the process is the point
(its exit status and stderr, no banner), the commands in process (``tests.inprocess``) for their other
answers; the usage errors of `scrapy crawl` in process as far as its checks go (``test_inputs.checked``:
they all stop the command at one point, whose exit through a real process is test_inputs's); a real HTTP
server that counts what it is asked, real SQLite, a real redis-server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.settings import Settings

from mayadeen import preflight
from mayadeen.empty_outputs import NewOutputs
from mayadeen.export.store_check import LISTED
from mayadeen.setting_names import unknown_names
from mayadeen.spiders.breaking import BreakingSpider
from mayadeen.store.engines import StoreTarget
from mayadeen.store.sqlite import ArticleStore
from tests import inprocess
from tests.conftest import ROOT, CrawlResult, expected_records
from tests.fixture_server import FixtureServer
from tests.inprocess import crawl as crawl_in_process
from tests.test_exit_status import closed_port_url
from tests.test_inputs import PREFIX, checked

BANNER = ("[scrapy.utils.log] INFO", "Scrapy 2.19", "Overridden settings", "Enabled extensions")


def command(*argv: str, cwd=ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    """``scrapy ARGV`` (any command) with only the project's settings."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    return subprocess.run(
        [sys.executable, "-m", "scrapy", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def in_process(*argv: str) -> inprocess.CommandResult:
    """``scrapy ARGV`` (export, reextract, crawlstatus) in this process: its exit status, stdout and stderr
    (``log``). Where the process is the point (no banner, nothing else on stderr), ``command``."""
    from mayadeen.commands import crawlstatus, export, reextract

    cmd = {"export": export, "reextract": reextract, "crawlstatus": crawlstatus}[argv[0]].Command()
    return inprocess.command(cmd, list(argv), inprocess.project_settings())


def outputs(tmp_path: Path) -> list[str]:
    return [
        "-s",
        f"MAYADEEN_SQLITE_PATH={tmp_path / 'data' / 'm.sqlite'}",
        "-s",
        f"MAYADEEN_JSONL_PATH={tmp_path / 'data' / 'a.jsonl'}",
        "-s",
        f"MAYADEEN_WARC_DIR={tmp_path / 'warc'}",
    ]


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


# --- JOBDIR ---------------------------------------------------------------------------------------


def test_a_jobdir_that_is_a_file_is_one_line_and_exit_2(tmp_path):
    jobfile = tmp_path / "job"
    jobfile.write_text("not a directory\n")
    status, stderr = checked("feed", "-a", "base_url=http://127.0.0.1:9", "-s", f"JOBDIR={jobfile}", *outputs(tmp_path))
    assert status == 2
    assert one_line(stderr) == PREFIX.format("feed") + f"-s JOBDIR={jobfile}: is a file, not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job"] and jobfile.read_text() == "not a directory\n"
    status, stderr = checked(
        "feed", "-a", "base_url=http://127.0.0.1:9", "-s", f"JOBDIR={jobfile}/state", *outputs(tmp_path)
    )
    assert (
        status == 2
        and stderr == PREFIX.format("feed") + f"-s JOBDIR={jobfile}/state: {jobfile} is a file, not a directory\n"
    )


def test_jobdir_with_redis_is_one_line_and_exit_2(tmp_path):
    status, stderr = checked(
        "sitemap",
        "-a",
        "base_url=http://127.0.0.1:9",
        "-s",
        f"JOBDIR={tmp_path / 'state'}",
        "-s",
        "MAYADEEN_REDIS_URL=redis://127.0.0.1:9/0",
        *outputs(tmp_path),
    )
    assert status == 2
    assert one_line(stderr) == PREFIX.format("sitemap") + (
        f"-s JOBDIR={tmp_path / 'state'} cannot be used with MAYADEEN_REDIS_URL: Redis holds the crawl's state"
        " (a stopped crawl is continued by starting its workers again); drop -s JOBDIR"
    )
    assert list(tmp_path.iterdir()) == []


# --- setting names --------------------------------------------------------------------------------

NEAR_MISSES = [
    ("MAYADEN_SQLITE_PATH", " (did you mean MAYADEEN_SQLITE_PATH?)"),
    ("MAYADEEEN_JSONL_PATH", " (did you mean MAYADEEN_JSONL_PATH?)"),
    ("MAYDEEN_WARC_DIR", " (did you mean MAYADEEN_WARC_DIR?)"),
    ("MAYADEENSQLITE_PATH", " (did you mean MAYADEEN_SQLITE_PATH?)"),
    ("MAYDEN_SOMETHING", ""),
]


@pytest.mark.parametrize("name, hint", NEAR_MISSES, ids=[n for n, _ in NEAR_MISSES])
def test_a_near_miss_of_the_project_prefix_is_exit_2(tmp_path, name, hint):
    status, stderr = checked(
        "feed", "-a", "base_url=http://127.0.0.1:9", "-s", f"{name}={tmp_path / 'x'}", *outputs(tmp_path)
    )
    assert status == 2
    assert (
        stderr
        == PREFIX.format("feed") + f"-s {name}: no such setting{hint}; the project's settings start with MAYADEEN_\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_names_of_scrapy_the_project_and_installed_add_ons_are_known():
    settings = Settings()
    for name in (
        "DOWNLOAD_DELAY",
        "LOG_LEVEL",
        "JOBDIR",
        "LOG_FILE",
        "MAYADEEN_WARC_DIR",
        "PLAYWRIGHT_MAX_CONTEXTS",
        "SPIDERMON_ENABLED",
        "CLOSESPIDER_ITEMCOUNT",
    ):
        settings.set(name, "1", priority="cmdline")
    settings.set("DOWNLOAD_DELAI", "1", priority="project")  # not from the command line: not ours to judge
    assert unknown_names(settings) == []
    settings.set("SCHEDULER_PERSIST", "1", priority="cmdline")  # scrapy-redis's: not a dependency
    assert unknown_names(settings) == ["SCHEDULER_PERSIST"]


@pytest.fixture(scope="module")
def crawled(tmp_path_factory) -> CrawlResult:
    """A real feed crawl of the fixtures given two misspelt settings (each a warning, then ignored): its
    log and records, its store and its WARC archive (``crawled.sqlite.parent / "warc"``), read by the
    export and reextract tests below too."""
    work = tmp_path_factory.mktemp("crawled")
    with FixtureServer() as srv:
        return crawl_in_process("feed", srv.url, work, settings={"DOWNLOAD_DELAI": "0", "CONCURENT_REQUESTS": "4"})


def test_a_setting_typo_is_a_warning_with_the_closest_name_and_the_crawl_goes_on(crawled):
    warnings = [line for line in crawled.log.splitlines() if " WARNING: " in line]
    assert [w.split(" WARNING: ", 1)[1] for w in warnings] == [
        "-s CONCURENT_REQUESTS: no such setting in Scrapy, its add-ons or this project (did you mean"
        " CONCURRENT_REQUESTS?); it is ignored",
        "-s DOWNLOAD_DELAI: no such setting in Scrapy, its add-ons or this project (did you mean DOWNLOAD_DELAY?);"
        " it is ignored",
    ]
    assert crawled.returncode == 0 and "result=ok" in crawled.log.strip().splitlines()[-1]
    assert crawled.stat("mayadeen/settings/unknown") == 2
    assert sorted(r["url"] for r in crawled.records()) == sorted(expected_records())


# --- each spider its own stream -------------------------------------------------------------------


def test_the_articles_stream_setting_on_a_breaking_run_is_exit_2(tmp_path):
    status, stderr = checked(
        "breaking",
        "-a",
        "base_url=http://127.0.0.1:9",
        "-s",
        f"MAYADEEN_JSONL_PATH={tmp_path / 'a.jsonl'}",
        "-s",
        f"MAYADEEN_SQLITE_PATH={tmp_path / 'm.sqlite'}",
    )
    assert status == 2
    assert one_line(stderr) == PREFIX.format("breaking") + (
        f"-s MAYADEEN_JSONL_PATH={tmp_path / 'a.jsonl'}: that file is for the articles' records; spider breaking"
        " writes the breaking-news flashes to MAYADEEN_BREAKING_JSONL_PATH (or to -o/-O)"
    )
    assert list(tmp_path.iterdir()) == []
    status, stderr = checked(
        "feed",
        "-a",
        "base_url=http://127.0.0.1:9",
        "-s",
        f"MAYADEEN_BREAKING_JSONL_PATH={tmp_path / 'b.jsonl'}",
        *outputs(tmp_path),
    )
    assert (
        status == 2
        and "that file is for the breaking-news flashes; spider feed writes the articles' records"
        " to MAYADEEN_JSONL_PATH (or to -o/-O)"
        in stderr
    )


def test_breaking_flashes_go_to_their_own_file_never_the_articles_one(tmp_path):
    flashes = tmp_path / "flashes.jsonl"
    with FixtureServer() as srv:
        proc = inprocess.bare_crawl(
            "breaking",
            srv.url,
            tmp_path,
            "-s",
            f"MAYADEEN_BREAKING_JSONL_PATH={flashes}",
            "-s",
            f"MAYADEEN_SQLITE_PATH={tmp_path / 'm.sqlite'}",
        )
    assert proc.returncode == 0, proc.log[-3000:]
    lines = [json.loads(line) for line in flashes.read_text("utf-8").splitlines()]
    assert len(lines) == 10 and all(set(line) >= {"time", "text"} for line in lines)
    assert not (tmp_path / "data").exists()  # data/articles.jsonl: the articles' default is not touched
    # The breaking run's feed check looks at the flashes' file, not the articles' one.
    directory = tmp_path / "dir.jsonl"
    directory.mkdir()
    settings = Settings({"MAYADEEN_JSONL_PATH": "data/articles.jsonl", "MAYADEEN_BREAKING_JSONL_PATH": str(directory)})
    assert preflight.feed_problem(settings, BreakingSpider) == preflight.EnvironmentProblem(
        "feed_not_writable", f"feed={directory}: is a directory, not a file", True
    )
    assert preflight.feed_problem(settings) is None


# --- a run that wrote nothing leaves nothing --------------------------------------------------------


def test_a_first_run_that_cannot_reach_the_site_leaves_no_empty_store(tmp_path):
    proc = inprocess.bare_crawl(  # the user's command line: default outputs, in its working directory
        "sitemap", closed_port_url(), tmp_path, "-s", "MAYADEEN_RETRY_BACKOFF_BASE=0"
    )
    assert proc.returncode == 1
    assert "result=FAILED (site_unreachable)" in proc.log.strip().splitlines()[-1]  # still the last line
    assert list(tmp_path.iterdir()) == []  # no data/mayadeen.sqlite, data/articles.jsonl, data/


def test_a_store_that_holds_anything_else_is_kept(tmp_path):
    def new_store(name: str, fill) -> tuple[NewOutputs, Path, int]:
        path = tmp_path / name / "m.sqlite"
        outputs = NewOutputs.before(Settings({"MAYADEEN_SQLITE_PATH": str(path), "MAYADEEN_JSONL_PATH": ""}), None)
        path.parent.mkdir()
        with ArticleStore(path) as store:
            run = store.start_run("feed")
            fill(store)
        return outputs, path, run

    outputs, path, run = new_store("empty", lambda store: None)
    outputs.discard_empty(run)
    assert not path.exists() and not path.parent.exists() and not Path(f"{path}-wal").exists()
    outputs, path, run = new_store("other-run", lambda store: store.start_run("sitemap"))
    outputs.discard_empty(run)
    assert path.exists()
    outputs, path, run = new_store(
        "flash",
        lambda store: store.run(
            "INSERT INTO breaking_news (time, text, text_key, first_seen, last_seen)"
            " VALUES ('2025-08-04T12:00:00Z', 'A flash', 'a flash',"
            " '2025-08-04T12:00:00Z', '2025-08-04T12:00:00Z')"
        ),
    )
    outputs.discard_empty(run)
    assert path.exists()
    existing = NewOutputs.before(Settings({"MAYADEEN_SQLITE_PATH": str(path)}), None)
    assert existing.store is None  # a store that was there before the run is never removed
    postgres = StoreTarget("postgresql", "postgresql://u@h/db")
    assert NewOutputs.before(Settings({"MAYADEEN_STORE_URL": postgres.location}), None).store is None


# --- export and reextract: checked against what exists ----------------------------------------------


def test_export_of_a_section_the_store_does_not_hold_lists_the_ones_it_does(crawled, tmp_path):
    out = tmp_path / "out"
    proc = in_process("export", str(out), "--store", str(crawled.sqlite), "--section", "Politcs")
    assert proc.returncode == 2 and proc.stdout == ""
    line = one_line(proc.log)
    assert line.startswith(
        "scrapy export: error: --section Politcs: the store holds no section or section group of"
        " that name; it holds Politics, "
    )
    assert line.endswith(" (closest first)")
    with ArticleStore(crawled.sqlite, readonly=True) as store:
        held = {n for r in store.rows("SELECT section, section_group FROM articles") for n in r.values()}
    listed = line.split("it holds ", 1)[1].removesuffix(" (closest first)").split(", ")
    more = len(held) - LISTED
    assert listed[-1].endswith(f" and {more} more")
    listed[-1] = listed[-1].removesuffix(f" and {more} more")
    assert len(listed) == LISTED and set(listed) <= held
    assert not out.exists()
    ok = command(
        "export",
        str(out),
        "--store",
        str(crawled.sqlite),
        "--section",
        "POLITICS,news",
        "--format",
        "jsonl",
    )
    assert ok.returncode == 0 and ok.stderr == ""  # any letter case, as the filter; and no banner
    assert len((out / "articles.jsonl").read_text("utf-8").splitlines()) > 0


def test_export_of_a_missing_or_empty_store_is_exit_1(tmp_path):
    out = tmp_path / "out"
    proc = in_process("export", str(out), "--store", str(tmp_path / "nothing.sqlite"))
    assert proc.returncode == 1
    assert one_line(proc.log) == (
        f"scrapy export: cannot read the store {tmp_path / 'nothing.sqlite'}: no store at {tmp_path / 'nothing.sqlite'}"
    )
    ArticleStore(tmp_path / "empty.sqlite").close()
    proc = in_process("export", str(out), "--store", str(tmp_path / "empty.sqlite"))
    assert proc.returncode == 1
    assert one_line(proc.log) == (
        f"scrapy export: the store {tmp_path / 'empty.sqlite'} holds no items and no flashes: nothing to export"
    )
    assert not out.exists() and not (tmp_path / "nothing.sqlite").exists()


def test_export_checks_setting_names_as_a_crawl_does(crawled, tmp_path):
    proc = in_process("export", str(tmp_path / "out"), "-s", f"MAYADEN_SQLITE_PATH={crawled.sqlite}")
    assert proc.returncode == 2 and not (tmp_path / "out").exists()
    assert one_line(proc.log).startswith("scrapy export: error: -s MAYADEN_SQLITE_PATH: no such setting")


def test_reextract_from_a_missing_or_empty_archive_is_exit_1(tmp_path):
    store = tmp_path / "m.sqlite"
    proc = in_process("reextract", "--warc-dir", str(tmp_path / "none"), "-s", f"MAYADEEN_SQLITE_PATH={store}")
    assert proc.returncode == 1
    assert one_line(proc.log) == f"scrapy reextract: no WARC archive at {tmp_path / 'none'}: nothing to re-extract"
    (tmp_path / "warc").mkdir()
    proc = in_process("reextract", "--warc-dir", str(tmp_path / "warc"), "-s", f"MAYADEEN_SQLITE_PATH={store}")
    assert proc.returncode == 1
    assert one_line(proc.log) == (
        f"scrapy reextract: the archive {tmp_path / 'warc'} holds no WARC file: nothing to re-extract"
    )
    proc = in_process("reextract", "--warc-dir", str(tmp_path / "warc"), "--since", "2025-13-01")
    assert proc.returncode == 2
    assert one_line(proc.log) == "scrapy reextract: error: --since takes a day as YYYY-MM-DD, got '2025-13-01'"
    proc = in_process("reextract", "--warc-dir", str(tmp_path / "warc"), "-s", f"MAYADEN_SQLITE_PATH={store}")
    assert proc.returncode == 2 and one_line(proc.log).startswith(
        "scrapy reextract: error: -s MAYADEN_SQLITE_PATH: no such setting (did you mean MAYADEEN_SQLITE_PATH?)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warc"]


# --- commands print only their answer ----------------------------------------------------------------


def test_reextract_prints_its_report_and_no_banner(crawled, tmp_path):
    proc = command(
        "reextract",
        "--warc-dir",
        str(crawled.sqlite.parent / "warc"),
        "-s",
        f"MAYADEEN_SQLITE_PATH={tmp_path / 'm.sqlite'}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "Re-extraction report: 0 records changed, 0 unchanged, 14 new; fields changed most: none\n"
    assert not any(mark in proc.stderr for mark in BANNER) and " INFO: " not in proc.stderr, proc.stderr[-3000:]
    with ArticleStore(tmp_path / "m.sqlite", readonly=True) as store:
        assert store.count() == len(expected_records())
    # Asked for, the log is there (in process: the banner above is the process's, the level the command's).
    asked = in_process(
        "reextract",
        "--warc-dir",
        str(crawled.sqlite.parent / "warc"),
        "-L",
        "INFO",
        "-s",
        f"MAYADEEN_SQLITE_PATH={tmp_path / 'm.sqlite'}",
    )
    assert asked.returncode == 0 and " INFO: " in asked.log, asked.log[-3000:]
    assert "Re-extraction report: 0 records changed, 14 unchanged, 0 new" in asked.stdout


def test_crawlstatus_prints_only_its_answer(tmp_path):
    from tests.distributed import RedisServer

    with RedisServer(tmp_path / "redis") as redis_srv:
        proc = command("crawlstatus", "sitemap", "-s", f"MAYADEEN_REDIS_URL={redis_srv.url}")
    assert proc.returncode == 0
    assert proc.stdout == "crawl sitemap/sitemap: not in Redis\n" and proc.stderr == ""
    proc = in_process("crawlstatus", "sitemap", "-s", "MAYADEEN_REDIS_URL=redis://127.0.0.1:9/0")
    assert proc.returncode == 1 and proc.stdout == ""
    assert one_line(proc.log).startswith("scrapy crawlstatus: Redis at redis://127.0.0.1:9/0: ")
    proc = in_process("crawlstatus", "sitemap")
    assert proc.returncode == 2 and one_line(proc.log) == (
        "scrapy crawlstatus: error: set MAYADEEN_REDIS_URL (e.g. -s MAYADEEN_REDIS_URL=redis://host:6379/0)"
    )
