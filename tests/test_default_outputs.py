"""The main job's embedded default: `scrapy crawl sections` alone writes data/ (SQLite + JSON Lines)."""

import json
import os
import sqlite3
import subprocess
import sys

from scrapy.settings import Settings

from mayadeen.feeds.default_feed import DefaultFeedAddon
from tests.conftest import FAST, ROOT, expected_records
from tests.fixture_server import FixtureServer


def test_default_feed_only_without_command_line_feeds():
    settings = Settings({"MAYADEEN_JSONL_PATH": "data/articles.jsonl"})
    DefaultFeedAddon().update_settings(settings)
    assert list(settings.getdict("FEEDS")) == ["data/articles.jsonl"]

    settings = Settings({"MAYADEEN_JSONL_PATH": "data/articles.jsonl"})
    settings.set("FEEDS", {"out.jsonl": {"format": "jsonlines"}}, priority="cmdline")
    DefaultFeedAddon().update_settings(settings)
    assert list(settings.getdict("FEEDS")) == ["out.jsonl"]

    settings = Settings({"MAYADEEN_JSONL_PATH": ""})
    DefaultFeedAddon().update_settings(settings)
    assert not settings.getdict("FEEDS")


def test_plain_crawl_writes_both_outputs_under_data(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    with FixtureServer() as srv:
        cmd = [sys.executable, "-m", "scrapy", "crawl", "sections", "-a", f"base_url={srv.url}"]
        for k, v in FAST.items():
            cmd += ["-s", f"{k}={v}"]
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (tmp_path / "data" / "articles.jsonl").read_text("utf-8").splitlines()
    assert sorted(json.loads(line)["url"] for line in lines) == sorted(expected_records())
    con = sqlite3.connect(tmp_path / "data" / "mayadeen.sqlite")
    assert con.execute("SELECT count(*) FROM articles").fetchone() == (len(expected_records()),)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
