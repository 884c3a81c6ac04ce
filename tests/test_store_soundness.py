"""The store's soundness: a cheap look before each run, the full integrity check after a run that did
not close cleanly (or with no run on record), and on demand with ``scrapy storecheck``."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys

import pytest

from mayadeen import preflight
from mayadeen.store import soundness
from mayadeen.store.sqlite import ArticleStore
from tests import inprocess
from tests.conftest import ROOT, expected_records


def filled_store(path, *, closed_run: bool | None) -> None:
    """The 14 fixture items; a last run that closed its row (True), one whose process is gone (False), or none."""
    with ArticleStore(path) as store:
        for record in expected_records().values():
            store.upsert({**record, "content_hash": record["url"]})
        if closed_run is not None:
            run_id = store.start_run("feed")
            if closed_run:
                store.finish_run(run_id, finish_reason="finished")
            else:
                gone = subprocess.Popen([sys.executable, "-c", "pass"])
                gone.wait()
                store.claim_run(run_id)
                store.conn.execute("UPDATE crawl_runs SET pid = ? WHERE id = ?", (gone.pid, run_id))
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def damage_articles(path) -> None:
    """Overwrite the root page of the articles table (not a page the cheap look reads)."""
    con = sqlite3.connect(path)
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    (root,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'articles'").fetchone()
    con.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size : root * page_size] = b"\xa5" * page_size
    path.write_bytes(bytes(data))


def storecheck(*options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "storecheck", *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def storecheck_in_process(*options: str) -> inprocess.CommandResult:
    """``scrapy storecheck`` in this process (``tests.inprocess``); its stderr is ``log``."""
    from mayadeen.commands.storecheck import Command

    return inprocess.command(Command(), ["storecheck", *options], inprocess.project_settings())


@pytest.mark.parametrize(
    ("closed_run", "due"),
    [
        (True, None),
        (False, "did not close cleanly"),
        (None, "no crawl run on record"),
    ],
)
def test_the_full_check_is_due_only_after_an_unclosed_run_or_none(tmp_path, closed_run, due):
    path = tmp_path / "mayadeen.sqlite"
    filled_store(path, closed_run=closed_run)
    found = soundness.look(path)
    assert found.schema_version > 0
    assert found.full_check_due == due if due is None else due in found.full_check_due


def test_a_running_crawl_does_not_make_the_check_due(tmp_path):
    path = tmp_path / "mayadeen.sqlite"
    filled_store(path, closed_run=True)
    with ArticleStore(path) as store:
        run_id = store.start_run("feed")
        store.conn.execute(
            "UPDATE crawl_runs SET pid = ?, host = ? WHERE id = ?", (os.getppid(), socket.gethostname(), run_id)
        )
    assert soundness.look(path).full_check_due is None


def test_the_per_run_check_reads_the_whole_file_only_after_an_unclosed_run(tmp_path):
    clean, unclean = tmp_path / "clean.sqlite", tmp_path / "unclean.sqlite"
    filled_store(clean, closed_run=True)
    filled_store(unclean, closed_run=False)
    for path in (clean, unclean):
        damage_articles(path)
    assert preflight.store_problem(str(clean)) is None  # the pages it did not read are not its business
    problem = preflight.store_problem(str(unclean))
    assert problem.reason == "store_damaged" and not problem.store_usable
    assert "did not close cleanly; integrity_check: " in problem.message
    assert soundness.integrity_check(clean)  # the on-demand check finds it


def test_storecheck_says_ok_for_a_sound_store(tmp_path):
    path = tmp_path / "mayadeen.sqlite"
    filled_store(path, closed_run=True)
    result = storecheck("--store", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: ok (integrity_check, schema version ")


def test_storecheck_lists_the_problems_of_a_damaged_store(tmp_path):
    path = tmp_path / "mayadeen.sqlite"
    filled_store(path, closed_run=True)
    damage_articles(path)
    before = path.read_bytes()
    result = storecheck_in_process("--store", str(path), "--max-problems", "3")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{path}: damaged (") and len(lines) >= 3
    assert lines[-1] == f'recover it with: sqlite3 {path} ".recover" | sqlite3 recovered.sqlite'
    assert len(lines) - 2 <= 3
    assert path.read_bytes() == before  # read-only


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--store", "postgresql://u@127.0.0.1:5/db"), "only a SQLite store is checked here"),
        (("extra",), "takes no arguments"),
    ],
)
def test_storecheck_bad_options_exit_2(options, message):
    result = storecheck_in_process(*options)
    assert result.returncode == 2
    assert message in result.log


def test_storecheck_of_a_file_that_is_no_store_exits_1(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 50)
    result = storecheck_in_process("--store", str(path))
    assert result.returncode == 1
    assert "not a SQLite database" in result.log


def test_storecheck_of_a_missing_store_says_so_and_exits_1(tmp_path):
    path = tmp_path / "nowhere" / "mayadeen.sqlite"
    result = storecheck_in_process("--store", str(path))
    assert result.returncode == 1
    assert result.log.strip() == f"scrapy storecheck: {path}: no store there (no such file)"
    assert not path.parent.exists()  # nothing made
