"""A run says what happened and only that: every output checked up front, a lost archive record or an
unreadable discovery source is a failure, a pause or a busy JOBDIR is no failure, signals at start-up
stop cleanly, and each spider counts in its own words."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime

import pytest
from scrapy.utils.test import get_crawler

from mayadeen.extensions.jobdir_lock import LOCK_FILE
from mayadeen.extensions.run_outcome import Thresholds, outcome
from mayadeen.store.freshness import Verdict
from mayadeen.urls import PUBLIC_URL, item_kind
from tests.conftest import ROOT, run_crawl
from tests.fixture_server import FixtureServer, FixtureSite, write_answer
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import SlowServer, crawl_command, item_paths, runs, start_crawl, stored, wait_for
from tests.test_exit_status import last_line
from tests.test_incremental import P, looked_up, store_with
from tests.test_store_off_reactor import Meanwhile

XML = "application/xml; charset=utf-8"


def summary(log: str) -> str:
    return next(line for line in reversed(log.splitlines()) if "Run summary:" in line)


# --- 1. every output checked before the first request; a lost archive record fails the run ---------


def test_a_warc_folder_that_cannot_be_made_stops_the_run_before_any_request(tmp_path):
    (tmp_path / "file.txt").write_text("a file, not a folder")
    (tmp_path / "mayadeen.sqlite").touch()  # a store from before: a new one left empty would be removed
    with FixtureServer() as srv:
        result = crawl_in_process(
            "feed", srv.url, tmp_path, check=False, settings={"MAYADEEN_WARC_DIR": str(tmp_path / "file.txt" / "warc")}
        )
        assert srv.paths() == []
    assert result.returncode == 1, result.log[-3000:]
    assert f"ERROR: MAYADEEN_WARC_DIR={tmp_path}/file.txt/warc: {tmp_path}/file.txt is not a directory" in result.log
    assert "ERROR: Run summary: spider=feed result=FAILED (archive_not_writable)" in last_line(result)
    (run,) = runs(result.sqlite)
    assert run["result"] == run["finish_reason"] == "archive_not_writable"


def test_a_warc_folder_short_of_space_stops_the_run_before_any_request(tmp_path):
    with FixtureServer() as srv:
        result = crawl_in_process(
            "feed", srv.url, tmp_path, settings={"MAYADEEN_MIN_FREE_SPACE_MB": str(10**12)}, check=False
        )
        assert srv.paths() == []
    assert result.returncode == 1
    assert "MB free on its file system, less than MAYADEEN_MIN_FREE_SPACE_MB=1e+12" in result.log
    assert "result=FAILED (archive_not_writable)" in last_line(result)


def test_archive_records_that_could_not_be_written_fail_the_run(tmp_path):
    warc = tmp_path / "warc"
    warc.mkdir()
    with FixtureServer() as srv:
        cmd, env = crawl_command("feed", srv.url, tmp_path, settings={"MAYADEEN_MIN_FREE_SPACE_MB": "0"})
        # A file system with room for a few responses only (a disk filling up during the crawl).
        shell = f"mount -t tmpfs -o size=48k tmpfs {warc} && exec " + " ".join(f"'{c}'" for c in cmd)
        proc = subprocess.run(
            ["unshare", "-m", "sh", "-c", shell], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
    line = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1, line
    assert "ERROR: Run summary: spider=feed result=FAILED (lost_archive) finish_reason=lost_archive" in line
    assert "Could not archive https://english.almayadeen.net/" in proc.stderr and "Traceback" not in proc.stderr
    (run,) = runs(tmp_path / "mayadeen.sqlite")
    assert run["result"] == "lost_archive" and run["items_new"] == 14  # the store has them all


# --- 2. a discovery source that could not be read -------------------------------------------------


def broken_rss(site: FixtureSite) -> bytes:
    """The feed with a DTD whose parameter entity declares a broken markup declaration: no parser reads it."""
    return site.body("/rss").replace(b"<rss", b"<!DOCTYPE rss [<!ENTITY % p \"<!ENTITY b 'x'\"> %p;]>\n<rss", 1)


def test_unreadable_sources_are_named_and_fail_a_run_that_found_nothing(tmp_path):
    site = FixtureSite()
    site.override("/rss", broken_rss(site), content_type="application/rss+xml")
    site.override(
        "/sitemaps/news.xml", site.body("/sitemaps/news.xml") + b"<!--" + b"x" * 3_000_000 + b"-->", content_type=XML
    )
    with FixtureServer(site) as srv:
        result = crawl_in_process("feed", srv.url, tmp_path, settings={"DOWNLOAD_MAXSIZE": "2000000"}, check=False)
    assert result.returncode == 1, result.log[-3000:]
    assert (
        "ERROR: Could not read the discovery source https://english.almayadeen.net/rss: not a feed (not XML)"
        in result.log
    )
    assert (
        "ERROR: Could not read the discovery source https://english.almayadeen.net/sitemaps/news.xml: "
        "Expected to receive" in result.log
    )
    assert "result=FAILED (source_unreadable) finish_reason=source_unreadable" in last_line(result)
    assert result.stat("mayadeen/sources/unreadable") == 2 and "Traceback" not in result.log


def test_an_rss_redirected_off_the_site_is_named_and_the_other_source_still_counts(tmp_path):
    site = FixtureSite()
    site.override("/rss", "", status=301, headers={"Location": "http://127.0.0.2:9/rss"})
    with FixtureServer(site) as srv:
        result = crawl_in_process("feed", srv.url, tmp_path, check=False)
        assert not any(p.startswith("http://127.0.0.2") for p in srv.paths())
    assert (
        "ERROR: Could not read the discovery source https://english.almayadeen.net/rss: redirected off the site"
        " to http://127.0.0.2:9/rss" in result.log
    )
    # The news sitemap listed items: the run did its work, the lost source is said.
    assert result.returncode == 0 and "result=ok" in last_line(result) and len(stored(result.sqlite)) > 0


def test_empty_sources_that_parse_are_no_error(tmp_path):
    site = FixtureSite()
    site.override(
        "/rss",
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
        content_type="application/rss+xml",
    )
    site.override(
        "/sitemaps/news.xml",
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>',
        content_type=XML,
    )
    with FixtureServer(site) as srv:
        result = crawl_in_process("feed", srv.url, tmp_path, check=False)
    assert result.returncode == 0 and " ERROR: " not in result.log
    assert "result=ok" in last_line(result) and result.stat("mayadeen/sources/unreadable") is None


# --- 3. paused and busy are said as such --------------------------------------------------------


@pytest.mark.soak  # the signal is the point; a pause resumed in process: test_resume.test_a_paused_job_…
def test_a_paused_run_says_paused_at_info_and_in_crawl_runs(tmp_path):
    with SlowServer(delay=0.3) as srv:
        proc = start_crawl(
            "sitemap", srv.url, tmp_path, settings={"JOBDIR": str(tmp_path / "job"), "CONCURRENT_REQUESTS": "1"}
        )
        wait_for(lambda: len(item_paths(srv.paths())) >= 2, timeout=120)
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=120)
    log = (tmp_path / "killed.log").read_text()
    assert code == 3, log[-3000:]
    assert "INFO: Run summary: spider=sitemap result=paused finish_reason=shutdown" in summary(log)
    assert " ERROR: " not in log and "Traceback" not in log
    assert "Monitor Finish reason" not in log and " warnings=0 " in summary(log)  # a pause is no alert
    (run,) = runs(tmp_path / "mayadeen.sqlite")
    assert (run["result"], run["finish_reason"]) == ("paused", "shutdown")


class HoldingServer(FixtureServer):
    """Holds every item page until ``release`` is set: a crawl that stays busy as long as a test needs."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def handle(self, handler, answer) -> None:
        if item_kind(PUBLIC_URL + handler.path.split("?")[0]):
            self.release.wait(timeout=600)
        try:
            write_answer(handler, answer)
        except (BrokenPipeError, ConnectionResetError):
            pass


def test_a_busy_jobdir_is_a_warning_without_traceback(tmp_path):
    jobdir = tmp_path / "job"
    second = []

    def second_run() -> None:
        try:
            wait_for(lambda: item_paths(srv.paths()), timeout=300)
            # A subprocess: the one test of exit status 75.
            second.append(
                run_crawl("sitemap", srv.url, tmp_path / "second", settings={"JOBDIR": str(jobdir)}, check=False)
            )
        finally:
            srv.release.set()

    with HoldingServer() as srv:
        # The first run in process (it holds the JOBDIR while the second starts, from a thread of the test).
        meanwhile = Meanwhile(second_run)
        meanwhile.start()
        first = crawl_in_process(
            "sitemap", srv.url, tmp_path / "first", settings={"JOBDIR": str(jobdir), "CONCURRENT_REQUESTS": "1"}
        )
        meanwhile.check()
    (second,) = second
    assert first.returncode == 0 and second.returncode == 75
    assert f"WARNING: JOBDIR {jobdir} is in use by another crawl (pid {os.getpid()}, for " in second.log
    assert "WARNING: Run summary: spider=sitemap result=skipped (jobdir busy) finish_reason=jobdir_busy" in last_line(
        second
    )
    assert re.search(r" duration=\d+\.\ds$", last_line(second)), last_line(second)  # timed by the command
    assert "Traceback" not in second.log and "never retrieved" not in second.log and " ERROR: " not in second.log
    assert len(stored(tmp_path / "first" / "mayadeen.sqlite")) == 14  # the first run was left alone


@pytest.mark.parametrize("stuck_after", [None, "600"])
def test_a_jobdir_held_for_an_hour_is_said_and_fails_past_its_limit(tmp_path, stuck_after):
    """A JOBDIR whose lock another run took an hour ago: skipped (exit 75, a WARNING that says for how
    long), or with MAYADEEN_JOBDIR_STUCK_AFTER below that, a failure (the holder may be hung: exit 1, an
    ERROR, FAILED (jobdir_stuck)) so that a cron job that mails only failures says so."""
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    lock = jobdir / LOCK_FILE
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)  # held as another run holds it: its own open file
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, b"4242\n", 0)
        hour_ago = time.time() - 3600
        os.utime(lock, (hour_ago, hour_ago))
        settings = {"JOBDIR": str(jobdir), **({"MAYADEEN_JOBDIR_STUCK_AFTER": stuck_after} if stuck_after else {})}
        with FixtureServer() as srv:
            result = crawl_in_process("feed", srv.url, tmp_path, settings=settings, check=False)
            assert srv.paths() == []  # nothing fetched
    finally:
        os.close(fd)
    said = f"JOBDIR {jobdir} is in use by another crawl (pid 4242, for 1.0 h"
    if stuck_after is None:
        assert result.returncode == 75 and f"WARNING: {said}); not starting a second run of it" in result.log
        assert " ERROR: " not in result.log and "result=skipped (jobdir busy)" in last_line(result)
    else:
        assert result.returncode == 1
        assert (
            f"ERROR: {said}), longer than MAYADEEN_JOBDIR_STUCK_AFTER=600 s: it may be hung; not starting a second"
            " run of it" in result.log
        )
        assert "result=FAILED (jobdir_stuck) finish_reason=jobdir_stuck" in last_line(result)
    assert not (tmp_path / "mayadeen.sqlite").exists() or not runs(tmp_path / "mayadeen.sqlite")


# --- 4. a signal at start-up ends the run cleanly ------------------------------------------------


@pytest.mark.soak  # the signal is the point
@pytest.mark.parametrize(("jobdir", "status", "words"), [(True, 3, "paused"), (False, 1, "FAILED (shutdown)")])
def test_sigterm_during_start_up_stops_the_run_cleanly(tmp_path, jobdir, status, words):
    settings = {"JOBDIR": str(tmp_path / "job")} if jobdir else {}
    (tmp_path / "mayadeen.sqlite").touch()  # a store from before: a new one left empty would be removed
    with FixtureServer() as srv:
        cmd, env = crawl_command("feed", srv.url, tmp_path, settings=settings)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines = []
        for line in proc.stderr:  # Scrapy's first line: the crawler process is being set up, no engine yet
            lines.append(line)
            if "started (bot:" in line:
                proc.send_signal(signal.SIGTERM)
                break
        lines += proc.stderr.readlines()
        code = proc.wait(timeout=120)
        requests = srv.paths()
    log = "".join(lines)
    assert code == status, log[-3000:]
    assert f"result={words} finish_reason=shutdown" in summary(log) and "requests=0" in summary(log)
    assert requests == [] and "Traceback" not in log
    (run,) = runs(tmp_path / "mayadeen.sqlite")
    assert run["finish_reason"] == "shutdown" and run["finished_at"] is not None


# --- 5. counters in the words of each spider ------------------------------------------------------


def test_the_breaking_summary_counts_flashes(tmp_path):
    with FixtureServer() as srv:
        first = crawl_in_process("breaking", srv.url, tmp_path, jsonl=tmp_path / "breaking.jsonl")
        second = crawl_in_process("breaking", srv.url, tmp_path, jsonl=tmp_path / "breaking.jsonl")
    assert "result=ok finish_reason=finished flashes new=10 known=0 given_up=" in last_line(first)
    assert "flashes new=0 known=10 " in last_line(second) and "items new" not in last_line(second)


def test_an_item_this_crawl_stored_is_not_counted_as_skipped(tmp_path):
    started = datetime.now(UTC).replace(microsecond=0)
    crawler = get_crawler()
    crawler.stats.open_spider()
    # Stored during this crawl (by another worker, or listed first by another source).
    with store_with(tmp_path, P + "/a", "2025-08-01T06:35:00Z", "2025-07-31T13:10:00Z") as store:
        fresh = looked_up(store, P + "/a", P + "/b", stats=crawler.stats, started=started)
        assert fresh.verdict(P + "/a", "2025-08-01T06:35:00Z") is Verdict.UNCHANGED
        assert fresh.verdict(P + "/a", "2025-08-01T06:35:00Z") is Verdict.UNCHANGED  # listed twice: counted once
        assert fresh.verdict(P + "/b", "2025-08-01T06:35:00Z") is Verdict.NEW
        earlier = looked_up(store, P + "/a", stats=crawler.stats, started=datetime(2030, 1, 1, tzinfo=UTC))
        assert earlier.verdict(P + "/a", "2025-08-01T06:35:00Z") is Verdict.UNCHANGED  # stored before the crawl
    stats = crawler.stats.get_stats()
    assert (
        stats.get("mayadeen/fresh/stored_this_crawl"),
        stats.get("mayadeen/fresh/new"),
        stats.get("mayadeen/fresh/unchanged"),
    ) == (1, 1, 1)


@pytest.mark.parametrize(
    ("stats", "paused", "result", "words"),
    [
        ({"finish_reason": "shutdown", "item_scraped_count": 1}, True, "paused", "paused"),
        ({"finish_reason": "forced_shutdown"}, True, "paused", "paused"),
        ({"finish_reason": "shutdown"}, False, "shutdown", "FAILED (shutdown)"),
        ({"finish_reason": "jobdir_busy", "log_count/WARNING": 1}, False, "skipped", "skipped (jobdir busy)"),
        (
            {"finish_reason": "finished", "item_scraped_count": 3, "mayadeen/warc/errors": 1},
            False,
            "lost_archive",
            "FAILED (lost_archive)",
        ),
        (
            {"finish_reason": "finished", "mayadeen/sources/unreadable": 1, "log_count/ERROR": 1},
            False,
            "source_unreadable",
            "FAILED (source_unreadable)",
        ),
        (
            {
                "finish_reason": "finished",
                "mayadeen/sources/unreadable": 1,
                "log_count/ERROR": 1,
                "mayadeen/fresh/unchanged": 4,
            },
            False,
            "errors_no_items",
            "FAILED (errors_no_items)",
        ),
        (
            {
                "finish_reason": "finished",
                "mayadeen/sources/unreadable": 1,
                "log_count/ERROR": 1,
                "mayadeen/fresh/new": 4,
                "item_scraped_count": 4,
            },
            False,
            "ok",
            "ok",
        ),
    ],
)
def test_outcome_words(stats, paused, result, words):
    verdict = outcome(stats, Thresholds(), paused=paused)
    assert (verdict.result, verdict.words) == (result, words)


def test_the_warning_that_an_earlier_run_was_killed_is_counted(tmp_path, fixture_server):
    # The store pipeline warns as it opens, before `spider_opened`, where Scrapy's LogCount starts counting.
    from mayadeen.store.sqlite import ArticleStore

    with ArticleStore(tmp_path / "mayadeen.sqlite") as store:
        killed = store.start_run("feed")  # a run row never finished: its process died
    run = crawl_in_process("feed", fixture_server.url, tmp_path)
    warnings = [line for line in run.log.splitlines()[:-1] if " WARNING: " in line]
    assert any(f"Crawl run {killed} " in line and "never finished" in line for line in warnings), warnings
    assert run.stat("log_count/WARNING") == len(warnings)
    assert f" warnings={len(warnings)} " in last_line(run)
