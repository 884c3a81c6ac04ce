"""A ``breaking`` crawl killed (SIGKILL) after storing the flashes of a 10,000-flash ticker and before
writing them all to its JSON Lines: the next run writes what was stored and not written, so the stream
and the store hold the same flashes (``mayadeen.breaking.stream``). The kill is soak; the quick set
makes the state a kill leaves (flashes stored, some not marked streamed nor written) and crawls in
process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import inprocess
from tests.conftest import ROOT, crawl_argv, run_crawl
from tests.fixture_server import FixtureServer, FixtureSite
from tests.ticker_pages import item, with_ticker

FLASHES = 10_000
SETTINGS = {"MAYADEEN_MAX_TICKER_FLASHES": str(FLASHES)}


def ticker() -> str:
    start = datetime(2025, 8, 4, tzinfo=UTC)
    return with_ticker(
        [
            item((start + timedelta(seconds=i)).isoformat(), f"Flash number {i} of a very long ticker")
            for i in range(FLASHES)
        ]
    )


def stored(sqlite) -> set[tuple[str, str]]:
    if not sqlite.exists():
        return set()
    con = sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True, timeout=30)
    try:
        return set(con.execute("SELECT time, text FROM breaking_news"))
    except sqlite3.OperationalError:  # the table is not there yet
        return set()
    finally:
        con.close()


def streamed(jsonl) -> list[tuple[str, str]]:
    if not jsonl.exists():
        return []
    lines = jsonl.read_text("utf-8").splitlines()
    return [(r["time"], r["text"]) for r in map(json.loads, lines) if r]


def test_the_next_run_streams_what_was_stored_and_not_written(tmp_path):
    jsonl, sqlite = tmp_path / "breaking.jsonl", tmp_path / "mayadeen.sqlite"
    with FixtureServer() as srv:
        first = inprocess.crawl("breaking", srv.url, tmp_path, jsonl=jsonl)
        written = streamed(jsonl)
        assert len(written) == 10 and set(written) == stored(sqlite)
        # What a kill between store and stream leaves: the last 4 flashes stored, neither written nor marked.
        jsonl.write_text("".join(line + "\n" for line in jsonl.read_text("utf-8").splitlines()[:6]), "utf-8")
        con = sqlite3.connect(sqlite)
        with con:
            last = "SELECT id FROM breaking_news ORDER BY id DESC LIMIT 4"
            con.execute(f"UPDATE breaking_news SET streamed = 0 WHERE id IN ({last})")
        con.close()
        again = inprocess.crawl("breaking", srv.url, tmp_path, jsonl=jsonl)
    assert first.stat("mayadeen/breaking/streamed") == 10
    assert again.stat("mayadeen/breaking/streamed") == 4 and again.stat("mayadeen/breaking/flashes/new") is None
    assert streamed(jsonl) == written  # the same flashes, in the same order, each once


@pytest.mark.soak
def test_after_a_kill_the_next_run_streams_what_was_stored_and_not_written(tmp_path):
    jsonl, sqlite = tmp_path / "breaking.jsonl", tmp_path / "mayadeen.sqlite"
    site = FixtureSite()
    site.override("/", ticker())
    with FixtureServer(site) as srv:
        argv = crawl_argv("breaking", srv.url, jsonl, sqlite, tmp_path / "warc", settings=SETTINGS)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "scrapy", *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 240
            while not stored(sqlite) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None, f"the crawl ended before it was killed:\n{proc.stderr.read()[-3000:]}"
            assert stored(sqlite), "the store got no flash in time"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate()
        killed_with = len(streamed(jsonl))
        assert len(stored(sqlite)) == FLASHES and killed_with < FLASHES  # killed between store and stream
        again = run_crawl("breaking", srv.url, tmp_path, jsonl=jsonl, sqlite=sqlite, settings=SETTINGS)
    lines = streamed(jsonl)
    assert set(lines) == stored(sqlite) and len(stored(sqlite)) == FLASHES
    assert len(lines) - FLASHES <= 1  # at most the flash written in the instant of the kill, twice
    assert again.stat("mayadeen/breaking/streamed") == len(lines) - killed_with  # the second run wrote the rest


def test_a_flash_the_feed_could_not_write_is_not_marked_written(tmp_path):
    """A write the JSON Lines feed lost (here /dev/full: ENOSPC, as a full disk) leaves the flash unmarked,
    so the next run writes it: the store records only what reached the stream."""
    sqlite = tmp_path / "mayadeen.sqlite"
    with FixtureServer() as srv:
        full = inprocess.crawl("breaking", srv.url, tmp_path, jsonl=Path("/dev/full"), sqlite=sqlite, check=False)
        assert full.stat("mayadeen/lost/feed") == 10, full.log[-3000:]
        con = sqlite3.connect(sqlite)
        marked = con.execute("SELECT count(*) FROM breaking_news WHERE streamed").fetchone()[0]
        con.close()
        jsonl = tmp_path / "breaking.jsonl"
        again = inprocess.crawl("breaking", srv.url, tmp_path, jsonl=jsonl, sqlite=sqlite)
    assert marked == 0
    assert again.stat("mayadeen/breaking/streamed") == 10
    assert set(streamed(jsonl)) == stored(sqlite)
