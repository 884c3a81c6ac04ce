"""The embedded default: `scrapy crawl SPIDER` alone writes data/ (SQLite + JSON Lines), for each articles'
spider alike (``DefaultFeedAddon``); the feed spider here, which gets every item without a browser."""

import json
import sqlite3

from scrapy.settings import Settings

from mayadeen.feeds.default_feed import DefaultFeedAddon
from tests.conftest import expected_records
from tests.fixture_server import FixtureServer
from tests.inprocess import bare_crawl


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
    with FixtureServer() as srv:
        proc = bare_crawl("feed", srv.url, tmp_path)
    assert proc.returncode == 0, proc.log[-3000:]
    lines = (tmp_path / "data" / "articles.jsonl").read_text("utf-8").splitlines()
    assert sorted(json.loads(line)["url"] for line in lines) == sorted(expected_records())
    con = sqlite3.connect(tmp_path / "data" / "mayadeen.sqlite")
    assert con.execute("SELECT count(*) FROM articles").fetchone() == (len(expected_records()),)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
