"""`scrapy search` on both engines, and Datasette's search box with the web-search plugin: one query
language, the same answers. The fixture records are stored through the store interface; the hits come
from the command in process (``tests.inprocess``), its exit statuses and its output with nothing else on
stderr from a subprocess; Datasette is a real server on a free loopback port, queried over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from datetime import date
from pathlib import Path

import pytest

from mayadeen.commands.search import Command as Search
from mayadeen.days import site_day
from mayadeen.record import content_hash
from mayadeen.store.datasette import METADATA_PATH
from tests import inprocess
from tests.conftest import ROOT, expected_records
from tests.test_export import _free_port, _get_json

PLUGINS = ROOT / "datasette" / "plugins"
T1 = "2025-08-04T12:30:00Z"
#: A phrase OR a word, minus a word: every part of the language at once.
QUERY = '"Mount Arafat" OR water -heat'
ARAFAT = "https://english.almayadeen.net/in-pictures/in-pictures-hajj-pilgrims-gather-at-mount-arafat"
UN = "https://english.almayadeen.net/news/politics/un-warns-gaza-faces-water-crisis-looming-famine-under-israeli-siege"
WHO = "https://english.almayadeen.net/news/health/who-warns-of-rising-heat-related-illness-as-summer-temperatures-soar"


@pytest.fixture
def filled(store, target):
    """Every fixture record stored; the store's location for ``--store``."""
    for rec in expected_records().values():
        rec = {**rec, "scraped_at": T1}
        rec["content_hash"] = content_hash(rec)
        store.upsert(rec, seen_at=T1)
    store.close()
    return target.location


def scrapy_search(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "search", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def search(*args: str) -> inprocess.CommandResult:
    """``scrapy search ARGS`` in process: its exit status, stdout and stderr."""
    return inprocess.command(Search(), ["search", *args], inprocess.project_settings())


def hits(*args: str) -> list[dict]:
    """``scrapy search ARGS --json`` in process (``tests.inprocess``): its hits."""
    proc = search(*args, "--json")
    assert proc.returncode == 0, proc.log
    assert proc.log == "", "only the answer: no log"
    return json.loads(proc.stdout)


def test_search_answers_the_web_search_language_on_both_engines(filled):
    found = [h["url"] for h in hits(QUERY, "--store", filled, "--limit", "50")]
    assert ARAFAT in found and UN in found
    assert WHO not in found, "-heat excludes the heat article (it mentions water)"
    assert WHO in [h["url"] for h in hits("water", "--store", filled, "--limit", "50")]
    assert [h["url"] for h in hits(QUERY, "--store", filled, "--limit", "1")] == found[:1]
    assert hits("xylophonist", "--store", filled) == []
    text = search("famine", "--store", filled)
    assert text.returncode == 0 and text.log == ""
    assert UN in text.stdout and "[famine]" in text.stdout.lower()


@pytest.mark.parametrize("target", ["sqlite"], indirect=True)
def test_the_terminal_answer_shows_each_hit_in_three_lines_and_tags_as_names(filled):
    """A passage of the body kept its blank lines (the hit took four lines and more); one of the tags
    showed their JSON text (``["Hajj","Saudi Arabia","[Mecca]","Islam"]``)."""
    text = search("Mecca", "--store", filled).stdout
    assert "  tags: Hajj, Saudi Arabia, [Mecca], Islam\n" in text and '"]' not in text
    body = search("de-dollarization", "--store", filled).stdout.splitlines()
    assert len(body) == 3 and body[2].startswith("  …") and "[de-dollarization]" in body[2].lower()


def test_since_until_and_section_select_by_beirut_day_and_section(filled):
    records = expected_records()
    every = hits("water OR Arafat OR Gaza", "--store", filled, "--limit", "50")
    july = hits(
        "water OR Arafat OR Gaza", "--store", filled, "--limit", "50", "--since", "2025-07-01", "--until", "2025-07-31"
    )
    assert july and len(july) < len(every)
    assert {h["url"] for h in july} == {
        h["url"] for h in every if date(2025, 7, 1) <= site_day(h["date_published"]) <= date(2025, 7, 31)
    }
    politics = hits("water OR Arafat OR Gaza", "--store", filled, "--limit", "50", "--section", "politics")
    assert politics and {records[h["url"]]["section"] for h in politics} == {"Politics"}
    assert len(politics) < len(every)


def test_bad_options_exit_2_and_a_missing_store_exits_1(tmp_path):
    for bad in (
        ["x", "--since", "2025-13-01"],
        ["x", "--since", "2025-08-02", "--until", "2025-08-01"],
        ["x", "--limit", "0"],
        ["x", "--flashes", "--section", "Politics"],
        [],
    ):
        proc = search(*bad, "--store", str(tmp_path / "s.sqlite"))
        assert proc.returncode == 2 and "scrapy search: error" in proc.log, bad
    proc = search("x", "--store", str(tmp_path / "none.sqlite"))
    assert proc.returncode == 1 and "cannot read the store" in proc.log
    assert search("x", "--limit", "0").log == "scrapy search: error: --limit must be 1 or more, not 0\n"  # one line
    shown = scrapy_search("-h")  # the process: its exit status, nothing else on stderr
    assert (shown.returncode, shown.stderr) == (0, "")
    helptext = " ".join(shown.stdout.split())
    zone = "(Beirut time, Asia/Beirut)"
    assert f"--since YYYY-MM-DD only items published (and flashes dated) on or after this day {zone}" in helptext
    assert f"--until YYYY-MM-DD only items published (and flashes dated) on or before this day {zone}" in helptext


class Datasette:
    """``datasette serve`` of one SQLite file on a free loopback port, with or without the plugin."""

    def __init__(self, store: Path, plugins: bool):
        self.base = f"http://127.0.0.1:{_free_port()}"
        argv = [
            sys.executable,
            "-m",
            "datasette",
            "serve",
            str(store),
            "--metadata",
            str(METADATA_PATH),
            "-h",
            "127.0.0.1",
            "-p",
            self.base.rsplit(":", 1)[1],
        ]
        if plugins:
            argv += ["--plugins-dir", str(PLUGINS)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def __enter__(self):
        deadline = time.monotonic() + 60
        while True:
            try:
                _get_json(f"{self.base}/-/versions.json")
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"datasette did not start: {self.proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def search(self, table: str, query: str) -> list[dict]:
        q = urllib.parse.urlencode({"_search": query, "_shape": "array", "_size": "max"})
        return _get_json(f"{self.base}/mayadeen/{table}.json?{q}")


@pytest.mark.parametrize("target", ["sqlite"], indirect=True)
def test_datasette_search_box_answers_as_scrapy_search(filled):
    store = Path(filled)  # mayadeen.sqlite: the metadata's database name
    assert store.name == "mayadeen.sqlite"
    queries = (QUERY, "famine", '"looming famine"', "Gaza -siege", "water OR Arafat OR Gaza", "-", '"" OR')
    both = Datasette(store, plugins=True), Datasette(store, plugins=False)  # they start at once
    with both[0] as served, both[1] as plain:
        assert "web_search" in {p["name"].removesuffix(".py") for p in _get_json(f"{served.base}/-/plugins.json")}
        for query in queries:
            want = {h["url"] for h in hits(query, "--store", str(store), "--limit", "1000")}
            assert {r["url"] for r in served.search("articles", query)} == want, query
        assert plain.search("articles", QUERY) == []  # what the plugin changes: without it, nothing is found
