"""``scrapy status``: each spider's last run from any store, exit status 1 when a latest run failed
(a health check's question); and the run columns the monitors use reach stores made before them."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from mayadeen.monitors.status import parse_max_ages
from mayadeen.store.engines import StoreTarget, connect
from tests import inprocess
from tests.conftest import ROOT

T0, T1, T2, T3 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:40Z", "2026-01-02T00:00:00Z", "2026-01-02T00:00:30Z"
BELOW = ["shares 0% < 80%"]


def status(store_arg: str, *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "status", "--store", store_arg, *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def status_in_process(store_arg: str, *options: str) -> inprocess.CommandResult:
    """``scrapy status`` in this process (``tests.inprocess``); its stderr is ``log``. The process itself
    (nothing on stderr but the answer) is ``status``'s."""
    from mayadeen.commands.status import Command

    argv = ["status", "--store", store_arg, *options]
    return inprocess.command(Command(), argv, inprocess.project_settings())


def seed(store, *, feed_fails: bool) -> None:
    """``feed``: a good run, then two runs whose coverage fell (failed) or a good one; ``sitemap``: good."""

    def run(spider, result, started, finished, **figures):
        run_id = store.start_run(spider, {"js": False}, started_at=started)
        store.finish_run(run_id, finished_at=finished, **figures)
        store.record_result(run_id, result)

    good = {
        "finish_reason": "finished",
        "items_new": 14,
        "items_seen": 14,
        "errors": 0,
        "coverage": {"records": 14, "below_minimum": [], "fields": {"shares": 1.0, "headline": 1.0}},
    }
    bad = {
        **good,
        "finish_reason": "coverage_below_minimum",
        "coverage": {"records": 14, "below_minimum": BELOW, "fields": {"shares": 0.0, "headline": 1.0}},
        "monitors_failed": [{"monitor": "Field coverage", "message": "below", "figures": {}, "fails_run": True}],
    }
    run("feed", "ok", T0, T1, **good)
    run("sitemap", "ok", T0, T1, **good)
    if feed_fails:
        run("feed", "coverage_below_minimum", T2, T3, **bad)
        run("feed", "coverage_below_minimum", T2, T3, **bad)
    else:
        run("feed", "ok", T2, T3, **good)
    store.start_run("sitemap", {}, started_at=T3)  # under way: says nothing yet


@pytest.mark.parametrize("fails", [True, False])
def test_status_of_a_sqlite_store(tmp_path, fails):
    path = tmp_path / "mayadeen.sqlite"
    with connect(StoreTarget("sqlite", str(path))) as store:
        seed(store, feed_fails=fails)
    # The process (exit status 1, nothing on stderr) once; the good store's answer in process.
    if fails:
        text = status(str(path))
        stderr = text.stderr
    else:
        text = status_in_process(str(path))
        stderr = text.log
    assert text.returncode == (1 if fails else 0), stderr
    assert stderr == ""  # nothing but the answer: no Scrapy banner or log
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"store {path}: 0 articles, ") and lines[0].endswith(" 0 failing items")
    assert any(line.startswith("sitemap: ok (run 2, finished 2026-01-01T00:01:40Z, 100 s;") for line in lines)
    if fails:
        assert (
            "feed: COVERAGE_BELOW_MINIMUM (run 4, finished 2026-01-02T00:00:30Z, 30 s; items new 14, seen 14;"
            " errors 0)" in lines
        )
        assert "  failed runs in a row: 2" in lines and "  monitors failed: Field coverage" in lines
        assert "  coverage of shares fell from 100% to 0%" not in lines  # the last two runs are alike
        assert (
            "  coverage: run 4 14 records shares 0% < 80%; run 3 14 records shares 0% < 80%; run 1 14 records ok"
            in lines
        )
    else:
        assert any(line.startswith("feed: ok (run 3,") for line in lines)
    assert f"  running: run {5 if fails else 4}" in lines


def test_status_as_json_on_postgresql(postgres_url):
    with connect(StoreTarget("postgresql", postgres_url)) as store:
        seed(store, feed_fails=True)
        store.finish_run(
            store.start_run("feed", {}, started_at=T3),
            finished_at=T3,
            finish_reason="finished",
            coverage={"records": 3, "below_minimum": [], "fields": {"shares": 0.5, "headline": 1.0}},
        )
    answer = status_in_process(postgres_url, "--json")
    assert answer.returncode == 0, answer.log  # the latest feed run worked (it has no result: its reason says)
    report = json.loads(answer.stdout)
    feed = report["spiders"]["feed"]
    assert feed["failed"] is False and feed["failed_in_a_row"] == 0 and feed["last_run"]["result"] == "ok"
    assert feed["coverage_falling"] == {}  # shares rose from 0 to 0.5
    assert [c["run"] for c in feed["coverage_trend"]] == [6, 4, 3, 1]
    assert report["store_bytes"] > 0 and report["articles"] == 0 and report["failing_items"] == 0
    with connect(StoreTarget("postgresql", postgres_url)) as store:
        store.record_result(6, "monitors_failed")
    assert status_in_process(postgres_url).returncode == 1


def test_status_of_a_store_that_is_not_there_exits_1(tmp_path):
    answer = status_in_process(str(tmp_path / "none.sqlite"))
    assert answer.returncode == 1 and "no store at" in answer.log and answer.stdout == ""


def test_stores_from_before_the_monitors_get_their_run_columns(target):
    with connect(target) as store:
        run_id = store.start_run("feed", {})
        store.claim_run(run_id)
        store.write(
            lambda: [store.run(f"ALTER TABLE crawl_runs DROP COLUMN {c}") for c in ("items_seen", "monitors_failed")]
        )
        store.write(lambda: store.run("DELETE FROM store_migrations WHERE version = 3"))  # they came with it
    with connect(target) as store:  # migration 3 adds them at open
        store.finish_run(run_id, items_seen=3, monitors_failed=[{"monitor": "Errors"}])
        row = store.runs()[0]
    assert row["items_seen"] == 3 and row["monitors_failed"] == [{"monitor": "Errors"}]
    if target.engine == "sqlite":
        columns = [r[1] for r in sqlite3.connect(target.location).execute("PRAGMA table_info(crawl_runs)")]
        assert columns[-2:] == ["items_seen", "monitors_failed"]


def _run(n: int, result: str, shares: float, records: int = 14) -> dict:
    return {
        "id": n,
        "result": result,
        "finish_reason": "shutdown" if result == "paused" else "finished",
        "started_at": T0,
        "finished_at": T1,
        "coverage": {"records": records, "below_minimum": [], "fields": {"shares": shares}},
    }


def test_a_paused_run_is_no_failure_and_its_coverage_is_not_compared():
    """A run paused by SIGTERM (systemctl stop) is resumed by the next one: ``scrapy status`` exits 0
    for it, counts no failure for it, and compares coverage between whole runs only."""
    from mayadeen.monitors.status import spider_status

    paused_last = spider_status([_run(3, "paused", 0.1, 3), _run(2, "ok", 0.9), _run(1, "ok", 0.9)], 5)
    assert not paused_last["failed"] and paused_last["failed_in_a_row"] == 0
    assert paused_last["coverage_falling"] == {}  # 3 records of a paused run against a whole run
    resumed = spider_status([_run(4, "ok", 0.2), _run(3, "paused", 0.5, 3), _run(2, "ok", 0.9)], 5)
    assert resumed["coverage_falling"] == {"shares": [0.9, 0.2]}  # against run 2, not the paused run 3
    failing = spider_status([_run(3, "lost_records", 0.9), _run(2, "paused", 0.9), _run(1, "lost_records", 0.9)], 5)
    assert failing["failed"] and failing["failed_in_a_row"] == 2


def test_max_age_tells_a_schedule_that_stopped(tmp_path):
    """``--max-age SPIDER=AGE``: exit 1 for a spider whose last run finished longer ago than AGE, or that
    never finished one (its timer disabled, its machine down: no run can report that itself)."""
    path = tmp_path / "mayadeen.sqlite"
    with connect(StoreTarget("sqlite", str(path))) as store:
        seed(store, feed_fails=False)  # feed and sitemap last finished on 2 and 1 January 2026
        recent = store.start_run("feed", {}, started_at=T3)
        store.finish_run(recent, finished_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), finish_reason="finished")
    fresh = status_in_process(str(path), "--max-age", "feed=2h")
    assert fresh.returncode == 0 and "STALE" not in fresh.stdout, fresh.stdout
    stale = status_in_process(
        str(path), "--max-age", "feed=2h", "--max-age", "sitemap=14d", "--max-age", "sections=90m"
    )
    assert stale.returncode == 1
    lines = stale.stdout.splitlines()
    assert "sitemap: STALE, last run finished 2026-01-01T00:01:40Z: expected one within 14d (--max-age)" in lines
    assert "sections: STALE, no finished run: expected one within 90m (--max-age)" in lines
    assert not any(line.startswith("feed: STALE") for line in lines)
    report = json.loads(status_in_process(str(path), "--json", "--max-age", " sitemap = 1d ").stdout)
    assert report["stale"] == {"sitemap": {"max_age_seconds": 86400, "last_finished_at": "2026-01-01T00:01:40Z"}}


SPIDERS = ["feed", "sections", "sitemap"]


@pytest.mark.parametrize(
    ("texts", "parsed"),
    [(["feed=2h"], {"feed": 7200.0}), (["sitemap=1.5d", "feed=90"], {"sitemap": 129600.0, "feed": 90.0})],
)
def test_max_age_values(texts, parsed):
    assert parse_max_ages(texts, SPIDERS) == parsed


@pytest.mark.parametrize(
    ("texts", "problem"),
    [
        *(
            (["feed" + age], "takes SPIDER=AGE")
            for age in ("", "=", "=0", "=-1h", "=2w", "=2H", "=inf", "=nan", "=1e400")
        ),
        (["=2h"], "takes SPIDER=AGE"),
        (["breaking=2h"], "'breaking' is none of the spiders that record runs (feed, sections, sitemap)"),
        (["fed=2h"], "'fed' is none of the spiders"),
        (["feed=2h", "feed=1d"], "feed is given twice"),
    ],
)
def test_max_age_refuses_what_is_no_age(tmp_path, texts, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_max_ages(texts, SPIDERS)
    options = [word for text in texts for word in ("--max-age", text)]
    answer = status_in_process(str(tmp_path / "any.sqlite"), *options)
    assert answer.returncode == 2 and problem in answer.log
