"""Waiting retries hold no download slot, do not keep a shutdown waiting, and survive a reboot.

Measured on the old crawler: backoff and Retry-After slept inside the downloader (8 sleeping retries
stopped every download; Ctrl-C waited out a 300 s Retry-After), and the deadline saved in JOBDIR was
``time.monotonic()`` (after a reboot the resumed job slept for the old machine's uptime).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.conftest import expected_records
from tests.fault_server import FaultPlan, FaultServer
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import crawl_command, item_paths, runs, stored, wait_for

#: The item a feed crawl fetches first (the scheduler's queue is last in, first out).
FIRST_RSS_ITEM = "/news/politics/why-increase-of-us-alliances-in-asia-does-not-mean-an-asian-nato-time"
ALL_ITEMS = {u.removeprefix("https://english.almayadeen.net") for u in expected_records()}


def start(spider, srv, workdir, settings, prefix=()):
    workdir.mkdir(parents=True, exist_ok=True)
    cmd, env = crawl_command(spider, srv.url, workdir, settings=settings)
    log = (workdir / "run.log").open("ab")
    return subprocess.Popen([*prefix, *cmd], cwd=env["PYTHONPATH"], env=env, stdout=log, stderr=subprocess.STDOUT)


def hits_of(srv, path):
    return [h for h in srv.hits() if h.path == path]


# A real wait of seconds (soak); in the quick set a waiting retry holding no download slot is
# test_held_requests (a Retry-After with hundreds queued).
@pytest.mark.soak
def test_a_5s_backoff_on_one_page_does_not_stop_the_others(tmp_path):
    # One request at a time in the whole crawler: a retry sleeping in the downloader would hold the
    # only slot for 5 s and nothing else could be fetched (5 s: time enough for the 13 others even on a
    # busy machine).
    plan = FaultPlan(once={FIRST_RSS_ITEM: "500"})
    settings = {
        "CONCURRENT_REQUESTS": "1",
        "CONCURRENT_REQUESTS_PER_DOMAIN": "1",
        "RETRY_TIMES": "2",
        "MAYADEEN_RETRY_BACKOFF_BASE": "5",
        "MAYADEEN_RETRY_BACKOFF_JITTER": "0",
    }
    with FaultServer(plan) as srv:
        result = crawl_in_process("feed", srv.url, tmp_path, settings=settings, timeout=120)
        failed, retried = hits_of(srv, FIRST_RSS_ITEM)
        during = [h.path for h in srv.hits() if failed.at < h.at < retried.at]
    assert failed.fault == "500" and retried.fault is None
    assert retried.at - failed.at >= 5 - 0.5  # the backoff was honoured
    assert set(item_paths(during)) == ALL_ITEMS - {FIRST_RSS_ITEM}  # every other item meanwhile
    assert result.returncode == 0 and len(stored(result.sqlite)) == 14
    assert result.stat("mayadeen/scheduler/held") == 1


@pytest.mark.soak  # the signal is the point
def test_sigterm_during_a_300s_retry_after_pauses_at_once_and_the_resume_finishes(tmp_path):
    jobdir = tmp_path / "job"
    plan = FaultPlan(once={FIRST_RSS_ITEM: "429_seconds"}, retry_after=300)
    settings = {"JOBDIR": str(jobdir), "CONCURRENT_REQUESTS_PER_DOMAIN": "1", "DOWNLOAD_DELAY": "0.001"}
    with FaultServer(plan) as srv:
        proc = start("feed", srv, tmp_path, settings)
        wait_for(lambda: hits_of(srv, FIRST_RSS_ITEM) and hits_of(srv, FIRST_RSS_ITEM)[0].sent, timeout=60)
        time.sleep(0.5)  # the crawl is now waiting out the Retry-After
        asked = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=60)
        took = time.monotonic() - asked
        paused_paths = len(srv.hits())
        log = (tmp_path / "run.log").read_text()
        assert code == 3, log[-3000:]  # paused, not failed
        assert took < 10, f"the pause took {took:.1f}s"
        assert "request(s) waiting for a retry are saved in JOBDIR" in log
        assert log.strip().splitlines()[-1].count("finish_reason=shutdown") == 1
        # Resumed: the saved deadline is still ~300 s away; a resumed job waits at most the larger cap.
        caps = {"MAYADEEN_RETRY_AFTER_MAX": "1", "MAYADEEN_RETRY_BACKOFF_MAX": "1"}
        result = crawl_in_process("feed", srv.url, tmp_path, settings={**settings, **caps})
        resumed = [h.path for h in srv.hits()[paused_paths:]]
    assert result.returncode == 0 and "resuming the job" in result.log
    assert sorted(stored(result.sqlite)) == sorted(expected_records())
    assert FIRST_RSS_ITEM in resumed
    records = [r["url"] for r in result.records()]
    assert len(records) == len(set(records)) == 14  # nothing lost, nothing exported twice


@pytest.mark.soak  # a process in a time namespace, stopped by a signal
@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_a_jobdir_resumed_after_a_reboot_finishes(tmp_path):
    """The first run sees a machine up for 100,000 s (a time namespace shifts CLOCK_MONOTONIC); the
    resume runs on the "rebooted" machine (monotonic back near zero, wall clock unchanged). A
    monotonic deadline saved in JOBDIR would make the resume wait ~100,000 s; a wall-clock one
    holds its few seconds."""
    probe = subprocess.run(["unshare", "--time", "--monotonic", "100000", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no time namespaces here: {probe.stderr.decode().strip()}")
    jobdir = tmp_path / "job"
    plan = FaultPlan(once={FIRST_RSS_ITEM: "503"})
    settings = {
        "JOBDIR": str(jobdir),
        "RETRY_TIMES": "2",
        "MAYADEEN_RETRY_BACKOFF_BASE": "4",
        "MAYADEEN_RETRY_BACKOFF_JITTER": "0",
    }
    with FaultServer(plan) as srv:
        proc = start("feed", srv, tmp_path, settings, prefix=("unshare", "--time", "--monotonic", "100000"))
        wait_for(lambda: len(item_paths([h.path for h in srv.hits()])) >= 14, timeout=60)  # all but the retry
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 3
        started = time.monotonic()
        result = crawl_in_process("feed", srv.url, tmp_path, settings=settings, timeout=60)
        took = time.monotonic() - started
        retried = hits_of(srv, FIRST_RSS_ITEM)
    assert len(retried) == 2 and retried[1].fault is None
    assert retried[1].at - retried[0].at >= 4 - 0.5  # the saved wall-clock deadline was kept
    assert took < 30 and result.returncode == 0
    assert sorted(stored(result.sqlite)) == sorted(expected_records())
    assert [r["finish_reason"] for r in runs(result.sqlite)] == ["shutdown", "finished"]
