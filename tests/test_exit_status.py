"""`scrapy crawl` exit status and last log line: what cron, systemd and Scrapyd see."""

import socket
import subprocess
import sys

import pytest

from mayadeen.extensions.run_outcome import Thresholds, outcome
from mayadeen.store.sqlite import ArticleStore
from tests.conftest import ROOT
from tests.fixture_server import FixtureServer, FixtureSite
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import runs, stored


def last_line(result) -> str:
    return result.log.strip().splitlines()[-1]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


# A good run through a real process (exit 0, its verdict the last line): test_startup_imports's whole crawl.


@pytest.mark.parametrize("spider", ["sitemap", "sections"])
def test_unreachable_site_exits_nonzero(tmp_path, spider):
    ArticleStore(tmp_path / "mayadeen.sqlite").close()  # an earlier run's store (a new one is not kept empty)
    # In process: a real process's exit status 1 and last line are those of the full disks (test_outcomes,
    # test_run_truth).
    result = crawl_in_process(spider, closed_port_url(), tmp_path, settings={"RETRY_TIMES": "0"}, check=False)
    assert result.returncode == 1
    assert "result=FAILED (site_unreachable) finish_reason=site_unreachable" in last_line(result)
    (run,) = runs(result.sqlite)
    assert run["finish_reason"] == "site_unreachable" and run["errors"] > 0 and run["items_new"] == 0
    # Each failed download one line naming its error, without Twisted's traceback (there were two).
    assert "Traceback (most recent call last)" not in result.log and "Connection was refused" in result.log


def test_errors_and_no_items_exit_nonzero(tmp_path):
    site = FixtureSite()
    for path in ("/rss", "/sitemaps/news.xml"):
        site.override(path, "oops", status=500, content_type="text/plain")
    with FixtureServer(site) as srv:
        # The failed sources are retried once: after a short backoff, not the default 2 s.
        result = crawl_in_process(
            "feed", srv.url, tmp_path, check=False, settings={"MAYADEEN_RETRY_BACKOFF_BASE": "0.05"}
        )
    assert result.returncode == 1  # both sources failed: named, and the run fails for it (was errors_no_items)
    assert "result=FAILED (source_unreadable) finish_reason=source_unreadable" in last_line(result)


def test_a_crawl_waits_for_another_writers_transaction(tmp_path):
    sqlite = tmp_path / "mayadeen.sqlite"
    ArticleStore(sqlite).close()
    holder = subprocess.Popen(  # another run in the middle of a write transaction for a second and a half
        [
            sys.executable,
            "-c",
            "import sys, time; from mayadeen.store.sqlite import ArticleStore;"
            " s = ArticleStore(sys.argv[1]); s.conn.execute('BEGIN IMMEDIATE'); print('writing', flush=True);"
            " time.sleep(1.5); s.conn.execute('COMMIT')",
            str(sqlite),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "writing"
    with FixtureServer() as srv:
        result = crawl_in_process("feed", srv.url, tmp_path)
    assert holder.wait(timeout=30) == 0
    assert result.returncode == 0 and "items new=14" in last_line(result)
    assert len(stored(sqlite)) == 14


@pytest.mark.parametrize(
    "stats, ok, problem",
    [
        ({"finish_reason": "finished"}, True, None),  # nothing new: fine
        ({"finish_reason": "finished", "downloader/request_count": 3}, False, "site_unreachable"),
        (
            {
                "finish_reason": "finished",
                "downloader/request_count": 3,
                "downloader/response_count": 3,
                "log_count/ERROR": 1,
            },
            False,
            "errors_no_items",
        ),
        ({"finish_reason": "finished", "log_count/ERROR": 2, "item_scraped_count": 5}, True, None),
        (
            {"finish_reason": "finished", "item_scraped_count": 7, "mayadeen/dropped/schema": 3},
            False,
            "too_many_dropped",
        ),
        ({"finish_reason": "finished", "item_scraped_count": 9, "mayadeen/dropped/missing_headline": 1}, True, None),
        ({"finish_reason": "finished", "item_scraped_count": 1, "mayadeen/dropped/duplicate_url": 9}, True, None),
        ({"finish_reason": "closespider_timeout", "item_scraped_count": 1}, True, None),
        ({"finish_reason": "shutdown", "item_scraped_count": 1}, False, "shutdown"),
        ({"finish_reason": "jobdir_busy"}, False, None),  # skipped: not a failure (tests/test_run_truth.py)
        ({"finish_reason": "too_many_dropped", "log_count/ERROR": 1}, False, "too_many_dropped"),
        ({"finish_reason": "jobdir_busy", "log_count/ERROR": 1}, False, None),
        ({"finish_reason": "closespider_timeout"}, True, None),
        ({"finish_reason": "closespider_timeout", "downloader/request_count": 2}, False, "site_unreachable"),
    ],
)
def test_outcome(stats, ok, problem):
    result = outcome(stats, Thresholds(max_dropped_share=0.2))
    assert (result.ok, result.problem) == (ok, problem)
