"""Inputs checked before the first request: one line, the right exit status, nothing fetched or written.

Each test is a mistake a user made on the old crawler (which then crawled the live site, exited 0
with records missing, or printed 50 lines of traceback); here `scrapy crawl` must stop before it
sends anything, with one line naming the argument or setting and what it takes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys

import pytest

from mayadeen.spiders.feed import FeedSpider
from mayadeen.spiders.sitemap import SitemapSpider
from tests.conftest import ROOT, run_crawl
from tests.fixture_server import FixtureServer
from tests.scheduled import runs

BASE = [sys.executable, "-m", "scrapy", "crawl"]


def scrapy(*argv: str, cwd=ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    """``scrapy crawl ARGV`` with no defaults of ours: the user's exact command line."""
    env = {"PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings", "PATH": "/usr/bin:/bin"}
    return subprocess.run([*BASE, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def offline(tmp_path):
    """Outputs in tmp_path (a usage error must leave it empty)."""
    return ["-s", f"MAYADEEN_SQLITE_PATH={tmp_path / 'm.sqlite'}", "-s", f"MAYADEEN_JSONL_PATH={tmp_path / 'a.jsonl'}"]


USAGE_ERRORS = [
    # a malformed mirror used to be swallowed ("Disabled MirrorMiddleware") and the live site crawled
    (["sections", "-a", "base_url=127.0.0.1:8000"],
     "-a base_url=127.0.0.1:8000: takes an absolute http(s) origin such as http://127.0.0.1:8000"),
    (["sections", "-a", "base_url=ftp://x"], "-a base_url=ftp://x: takes an absolute http(s) origin"),
    (["sections", "-a", "base_url=not a url"], "-a base_url=not a url: takes an absolute http(s) origin"),
    (["sections", "-s", "MAYADEEN_BASE_URL=ftp://x"], "-s MAYADEEN_BASE_URL=ftp://x: takes an absolute http(s) origin"),
    (["sections", "-a", "base_url=http://127.0.0.1:8000/mirror"], "(no path, query or user name)"),
    # dates and windows (used to be ~50 lines, two tracebacks and a RuntimeError from the command)
    (["sitemap", "-a", "since=2025-13-45"], "-a since=2025-13-45: takes a day as YYYY-MM-DD, e.g. 2025-07-31"),
    (["sitemap", "-a", "since=tomorrow"], "-a since=tomorrow: takes a day as YYYY-MM-DD"),
    (["feed", "-a", "since=2025-08-02", "-a", "until=2025-08-01"],
     "-a since=2025-08-02 is after -a until=2025-08-01: the window needs since <= until"),
    # unknown or misspelled arguments (used to be ignored)
    (["sections", "-a", "foo=1"], "-a foo=1: spider sections has no argument foo; it takes base_url, full, js, sections"),
    (["sections", "-a", "sectons=news"], "-a sectons=news: spider sections has no argument sectons (did you mean sections?)"),
    (["sections", "-a", "since=2025-07-01"], "-a since=2025-07-01: spider sections has no argument since"),
    (["feed", "-a", "sections=news"], "-a sections=news: spider feed has no argument sections"),
    (["sections", "-a", "sections=doesnotexist"],
     "-a sections=doesnotexist: doesnotexist is not a listing of the site's menu; it takes comma-separated keys of news,"),
    # booleans that are not booleans (used to be taken as false)
    (["sitemap", "-a", "full=maybe"], "-a full=maybe: takes 1 or 0 (also true/false, yes/no, on/off)"),
    (["sections", "-a", "js=2"], "-a js=2: takes 1 or 0"),
    # settings
    (["feed", "-s", "MAYADEEN_RETRY_BACKOF_MAX=5"], "-s MAYADEEN_RETRY_BACKOF_MAX: no such setting (did you mean MAYADEEN_RETRY_BACKOFF_MAX?)"),
    (["feed", "-s", "MAYADEEN_MAX_DROPPED_SHARE=20%"], "-s MAYADEEN_MAX_DROPPED_SHARE=20%: takes a number from 0 to 1"),
    (["feed", "-s", "MAYADEEN_INTEGRITY_ENABLED=maybe"], "-s MAYADEEN_INTEGRITY_ENABLED=maybe: takes 1 or 0"),
    (["feed", "-s", "MAYADEEN_STORE_URL=mysql://db/m"],
     "-s MAYADEEN_STORE_URL: takes sqlite:///path/to/file.sqlite or postgresql://user@host:port/database"),
    (["feed", "-s", "MAYADEEN_STORE_URL=postgresql://u:pw@db:port/m"], "(the port is not a number)"),
    (["feed", "-s", "MAYADEEN_PUBLIC_URL=https://example.org"],
     "-s MAYADEEN_PUBLIC_URL=https://example.org: records are always written with https://english.almayadeen.net"),
    # an unknown spider (used to be a traceback)
    (["sectons"], "no spider named sectons (did you mean sections?); the spiders are breaking, feed, sections, sitemap"),
]


@pytest.mark.parametrize("argv, message", USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_a_usage_error_is_one_line_exit_2_and_nothing_is_fetched_or_written(tmp_path, offline, argv, message):
    with FixtureServer() as srv:
        mirror = [] if any(a.startswith(("base_url", "MAYADEEN_BASE_URL")) for a in argv) else ["-a", f"base_url={srv.url}"]
        if argv[0] == "sectons" or any(a.startswith("MAYADEEN_BASE_URL") for a in argv):
            mirror = []
        proc = scrapy(*argv, *mirror, *offline)
        assert srv.paths() == []
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr  # no traceback, no log: one line
    assert lines[0].startswith(f"scrapy crawl {argv[0]}: error: ") and message in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written: no store, no JSON Lines


def test_both_outputs_off_is_a_usage_error(tmp_path):
    with FixtureServer() as srv:
        proc = scrapy("feed", "-a", f"base_url={srv.url}", "-s", "MAYADEEN_SQLITE_PATH=", "-s", "MAYADEEN_JSONL_PATH=")
        assert srv.paths() == []
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("scrapy crawl feed: error: no output: MAYADEEN_STORE_URL, MAYADEEN_SQLITE_PATH and"
                                   " MAYADEEN_JSONL_PATH are empty and no -o/-O is given; every record would be thrown away")


def test_each_spider_says_which_date_its_window_filters():
    assert "publication" in FeedSpider.arguments["since"].help
    assert "last changed" in SitemapSpider.arguments["since"].help and "<lastmod>" in SitemapSpider.arguments["until"].help


# --- environment errors: one ERROR line, the summary, a crawl_runs row where the store can take it ----

def environment_refusal(result, message: str, reason: str) -> None:
    assert result.returncode == 1
    errors = [line for line in result.log.splitlines() if " ERROR: " in line]
    assert len(errors) == 2, errors  # the problem, then the summary
    assert errors[0].endswith(message), errors[0]
    assert f"result=FAILED ({reason}) finish_reason={reason}" in errors[1] and "Run summary:" in errors[1]
    assert "Traceback" not in result.log and "Spider opened" not in result.log


@pytest.mark.parametrize("how", ["setting", "-o"])
def test_an_unwritable_json_lines_path_stops_the_run_before_it_starts(tmp_path, how):
    directory = tmp_path / "out.jsonl"
    directory.mkdir()  # a directory where the file should be
    with FixtureServer() as srv:
        if how == "-o":
            result = run_crawl("feed", srv.url, tmp_path, jsonl=directory, check=False)
        else:
            proc = scrapy("feed", "-a", f"base_url={srv.url}", "-s", f"MAYADEEN_SQLITE_PATH={tmp_path / 'mayadeen.sqlite'}",
                          "-s", f"MAYADEEN_JSONL_PATH={directory}")
            result = type("R", (), {"returncode": proc.returncode, "log": proc.stderr, "sqlite": tmp_path / "mayadeen.sqlite"})
        assert srv.paths() == []
    environment_refusal(result, f"feed={directory}: is a directory, not a file", "feed_not_writable")
    (run,) = runs(result.sqlite)  # the store was usable: the refused run is on record
    assert run["finish_reason"] == run["result"] == "feed_not_writable" and run["items_new"] is None


def test_a_garbage_store_is_refused_and_left_alone(tmp_path):
    sqlite = tmp_path / "mayadeen.sqlite"
    sqlite.write_bytes(b"this is not a database\n" * 100)
    with FixtureServer() as srv:
        result = run_crawl("feed", srv.url, tmp_path, check=False)
        assert srv.paths() == []
    environment_refusal(result, f'MAYADEEN_SQLITE_PATH={sqlite}: not a SQLite database (is it the right file? if it is'
                        f' a damaged store, recover it with: sqlite3 {sqlite} ".recover" | sqlite3 recovered.sqlite)',
                        "store_unusable")
    assert sqlite.read_bytes() == b"this is not a database\n" * 100


def test_a_store_with_damaged_pages_is_never_written_to(tmp_path):
    sqlite = tmp_path / "mayadeen.sqlite"
    with FixtureServer() as srv:
        run_crawl("feed", srv.url, tmp_path)  # a store with 14 articles
    con = sqlite3.connect(sqlite)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    data = bytearray(sqlite.read_bytes())
    data[3 * page_size: 5 * page_size] = b"\xa5" * (2 * page_size)  # two pages of the articles' b-tree
    sqlite.write_bytes(bytes(data))
    before = hashlib.sha256(sqlite.read_bytes()).hexdigest()
    with FixtureServer() as srv:
        result = run_crawl("feed", srv.url, tmp_path, check=False)
        assert srv.paths() == []
    environment_refusal(result, f'recover it with: sqlite3 {sqlite} ".recover" | sqlite3 recovered.sqlite', "store_damaged")
    assert "the store is damaged (quick_check: " in result.log
    assert hashlib.sha256(sqlite.read_bytes()).hexdigest() == before  # not one byte written


def test_a_read_only_data_directory_is_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with FixtureServer() as srv:
        cmd = " ".join([*BASE, "feed", "-a", f"base_url={srv.url}", "-s", f"MAYADEEN_SQLITE_PATH={data}/m.sqlite",
                        "-s", f"MAYADEEN_JSONL_PATH={data}/a.jsonl"])
        # A read-only bind mount: root ignores permission bits, not a read-only file system.
        proc = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {data} {data} && mount -o remount,bind,ro"
                               f" {data} {data} && exec {cmd}"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={"PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings", "PATH": "/usr/bin:/bin"})
        if "mount" in proc.stderr and proc.returncode == 32:
            pytest.skip("no mount namespace here")
        assert srv.paths() == []
    result = type("R", (), {"returncode": proc.returncode, "log": proc.stderr})
    environment_refusal(result, f"MAYADEEN_SQLITE_PATH={data}/m.sqlite: cannot write in {data} (read-only or no"
                        " permission)", "store_unusable")


def test_a_jobdir_of_another_spider_is_refused_and_kept(tmp_path):
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    job = {"spider": "sections", "state": "paused", "started_at": "2025-08-04T10:00:00Z", "runs": 1}
    (jobdir / "mayadeen-job.json").write_text(json.dumps(job))
    (jobdir / "requests.queue").mkdir()
    with FixtureServer() as srv:
        proc = scrapy("feed", "-a", f"base_url={srv.url}", "-s", f"JOBDIR={jobdir}",
                      "-s", f"MAYADEEN_SQLITE_PATH={tmp_path / 'm.sqlite'}")
        assert srv.paths() == []
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"scrapy crawl feed: error: -s JOBDIR={jobdir} holds a paused crawl of spider"
                                   f" sections, not feed: resume it with `scrapy crawl sections -s JOBDIR={jobdir}`,"
                                   " or give this crawl its own JOBDIR")
    assert json.loads((jobdir / "mayadeen-job.json").read_text()) == job and (jobdir / "requests.queue").is_dir()


def test_private_scrapy_internals_are_not_used():
    source = "\n".join(p.read_text("utf-8") for p in (ROOT / "mayadeen").rglob("*.py"))
    for private in ("._set_url(", "slot.latercall", "._latercall", "engine._slot"):
        assert private not in source, private
    for saved_deadlines in ("middlewares/retry.py", "scheduler.py", "extensions/retry_after.py"):
        assert "monotonic" not in (ROOT / "mayadeen" / saved_deadlines).read_text("utf-8")  # wall-clock only
