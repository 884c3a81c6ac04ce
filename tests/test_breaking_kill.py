"""A ``breaking`` crawl killed (SIGKILL) after storing the flashes of a 2,500-flash ticker and before
writing them all to its JSON Lines: the next run writes what was stored and not written, so the stream
and the store hold the same flashes (``mayadeen.breaking.stream``). The kill is soak; the quick set
makes the state a kill leaves (flashes stored, some not marked streamed nor written) and crawls in
process. The same with a batched CSV feed, whose flashes are held only once Scrapy has stored the
batch's file (``mayadeen.feeds.durable``): after a kill, every stored flash is in one of the files."""

from __future__ import annotations

import csv
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

from mayadeen.commands.crawl import Command
from tests import inprocess
from tests.conftest import ROOT, CrawlResult, crawl_argv
from tests.fixture_server import FixtureServer, FixtureSite
from tests.ticker_pages import item, with_ticker

#: Enough for a wide window between store and stream (marking them written takes seconds) and for five
#: CSV files of 500; each flash is marked in a commit of its own, so more only costs time.
FLASHES = 2_500
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


def kill_when(argv: list[str], ready, not_ready: str) -> None:
    """``scrapy ARGV`` in a subprocess, SIGKILLed as soon as ``ready()`` (polled; ``not_ready``: the
    failure when it never is)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scrapy", *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 240
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, f"the crawl ended before it was killed:\n{proc.stderr.read()[-3000:]}"
        assert ready(), not_ready
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()


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
        kill_when(argv, lambda: bool(stored(sqlite)), "the store got no flash in time")
        killed_with = len(streamed(jsonl))
        assert len(stored(sqlite)) == FLASHES and killed_with < FLASHES  # killed between store and stream
        # The next run in process: the kill is what needs a process.
        again = inprocess.crawl("breaking", srv.url, tmp_path, jsonl=jsonl, sqlite=sqlite, settings=SETTINGS)
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


BATCH = 4


def feed_argv(srv_url: str, tmp_path: Path, feed: str, settings: dict | None = None) -> list[str]:
    """A test crawl of ``breaking`` writing to ``feed`` (``PATH:FORMAT``) instead of JSON Lines."""
    sqlite = tmp_path / "mayadeen.sqlite"
    argv = crawl_argv("breaking", srv_url, tmp_path / "unused.jsonl", sqlite, tmp_path / "warc", settings=settings)
    argv[argv.index("-o") + 1] = feed
    return argv


def crawl_to(srv_url: str, tmp_path: Path, feed: str, settings: dict | None = None) -> CrawlResult:
    ran = inprocess.command(Command(), feed_argv(srv_url, tmp_path, feed, settings), inprocess.project_settings())
    return CrawlResult(ran.returncode, ran.log, tmp_path / "unused.jsonl", tmp_path / "mayadeen.sqlite", ran.stats)


def csv_flashes_of(path: Path) -> list[tuple[str, str]]:
    """``(time, text)`` of every row of a CSV file (a torn last row as it is)."""
    with path.open(encoding="utf-8", newline="") as f:
        return [(r["time"], r["text"]) for r in csv.DictReader(f)]


def csv_flashes(folder: Path) -> list[tuple[str, str]]:
    """The rows of every CSV file in ``folder``."""
    return [row for path in sorted(folder.glob("*.csv")) for row in csv_flashes_of(path)]


def json_flashes(folder: Path) -> list[tuple[str, str]]:
    """``(time, text)`` of every record of the JSON files in ``folder``."""
    files = sorted(folder.glob("*.json"))
    return [(r["time"], r["text"]) for path in files for r in json.loads(path.read_text("utf-8"))]


def test_a_flash_is_marked_written_only_once_its_batch_file_is_stored(tmp_path):
    """Batches of 4 flashes in JSON; the file of the third (2 flashes) cannot be stored (/dev/full:
    its buffered records fail at the close, as the unflushed records of a killed run are lost): the 8
    flashes of the stored files are marked written, the 2 others are written by the next run."""
    first, again = tmp_path / "first", tmp_path / "again"
    first.mkdir()
    (first / "3.json").symlink_to("/dev/full")
    settings = {"FEED_EXPORT_BATCH_ITEM_COUNT": str(BATCH)}
    with FixtureServer() as srv:
        failed = crawl_to(srv.url, tmp_path, f"{first}/%(batch_id)d.json:json", settings)
        assert failed.stat("feedexport/failed_count/KillSafeFileFeedStorage") == 1, failed.log[-3000:]
        (first / "3.json").unlink()
        held = json_flashes(first)
        result = crawl_to(srv.url, tmp_path, f"{again}/%(batch_id)d.json:json", settings)
    assert result.returncode == 0, result.log[-3000:]
    store = stored(tmp_path / "mayadeen.sqlite")
    assert len(store) == 10 and len(held) == 2 * BATCH
    assert failed.stat("mayadeen/breaking/streamed") == 2 * BATCH
    assert result.stat("mayadeen/breaking/streamed") == 2
    assert set(held) | set(json_flashes(again)) == store and not set(held) & set(json_flashes(again))


def test_a_flash_in_two_feeds_is_marked_once_both_hold_it(tmp_path):
    """A JSON Lines feed holds each flash at once, a CSV feed whose file is not stored holds none: no
    flash is marked written, and the next run writes them all again."""
    jsonl = tmp_path / "breaking.jsonl"
    with FixtureServer() as srv:
        argv = feed_argv(srv.url, tmp_path, "/dev/full:csv")
        argv += ["-o", f"{jsonl}:jsonlines"]
        ran = inprocess.command(Command(), argv, inprocess.project_settings())
        assert len(streamed(jsonl)) == 10, ran.log[-3000:]
        again = crawl_to(srv.url, tmp_path, f"{jsonl}:jsonlines")
    assert ran.stats.get("mayadeen/breaking/streamed") is None
    assert again.stat("mayadeen/breaking/streamed") == 10


@pytest.mark.soak
def test_after_a_kill_every_stored_flash_is_in_a_stored_csv_batch(tmp_path):
    """A crawl writing the 2,500-flash ticker to CSV files of 500 flashes, killed (SIGKILL) once a
    few files are written (mid-file), then a run writing to other files: every flash of the store is in a file,
    and only the files unstored at the kill are written again."""
    batch = 500
    sqlite = tmp_path / "mayadeen.sqlite"
    first, again = tmp_path / "first", tmp_path / "again"
    settings = {**SETTINGS, "FEED_EXPORT_BATCH_ITEM_COUNT": str(batch)}
    site = FixtureSite()
    site.override("/", ticker())
    with FixtureServer(site) as srv:
        argv = feed_argv(srv.url, tmp_path, f"{first}/%(batch_id)d.csv:csv", settings)
        fourth = first / "4.csv"
        # Killed in the middle of the fourth file: some of its rows flushed, others still in the buffer.
        kill_when(argv, lambda: fourth.exists() and fourth.stat().st_size > 0, "the fourth file got no row in time")
        stored_files = [p for p in first.glob("*.csv") if len(csv_flashes_of(p)) == batch]
        assert len(stored(sqlite)) == FLASHES and len(csv_flashes(first)) < FLASHES  # killed mid-stream
        result = crawl_to(srv.url, tmp_path, f"{again}/%(batch_id)d.csv:csv", settings)
    assert result.returncode == 0, result.log[-3000:]
    assert stored(sqlite) <= set(csv_flashes(first)) | set(csv_flashes(again))  # none lost
    # Written again: at most what the files not yet stored at the kill held (the one being written,
    # and the one whose marks were under way).
    assert result.stat("mayadeen/breaking/streamed") <= FLASHES - (len(stored_files) - 2) * batch
