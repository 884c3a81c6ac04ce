"""`scrapy crawl` exit status and last log line: what cron, systemd and Scrapyd see."""

import socket

import pytest

from mayadeen.extensions.run_outcome import outcome
from mayadeen.sqlite_store import ArticleStore
from tests.fixture_server import FixtureServer, FixtureSite
from tests.scheduled import crawl, item_paths, runs


def last_line(result) -> str:
    return result.log.strip().splitlines()[-1]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def test_good_run_exits_zero(tmp_path):
    with FixtureServer() as srv:
        result = crawl("feed", srv.url, tmp_path)
    assert result.returncode == 0
    line = last_line(result)
    assert "Run summary: spider=feed result=ok finish_reason=finished" in line
    assert "items new=14 updated=0 unchanged=0 dropped=0" in line and "requests=17 errors=0" in line


@pytest.mark.parametrize("spider", ["sitemap", "sections"])
def test_unreachable_site_exits_nonzero(tmp_path, spider):
    result = crawl(spider, closed_port_url(), tmp_path, check=False)
    assert result.returncode == 1
    assert "result=FAILED (site_unreachable) finish_reason=site_unreachable" in last_line(result)
    (run,) = runs(result.sqlite)
    assert run["finish_reason"] == "site_unreachable" and run["errors"] > 0 and run["items_new"] == 0


def test_errors_and_no_items_exit_nonzero(tmp_path):
    site = FixtureSite()
    for path in ("/rss", "/sitemaps/news.xml"):
        site.override(path, "oops", status=500, content_type="text/plain")
    with FixtureServer(site) as srv:
        result = crawl("feed", srv.url, tmp_path, check=False)
    assert result.returncode == 1
    assert "result=FAILED (errors_no_items) finish_reason=errors_no_items" in last_line(result)


def test_second_writer_exits_nonzero_without_fetching(tmp_path):
    sqlite = tmp_path / "mayadeen.sqlite"
    with FixtureServer() as srv, ArticleStore(sqlite):  # another crawl holds the writer lock
        result = crawl("feed", srv.url, tmp_path, check=False)
        assert item_paths(srv.paths()) == [] and "/rss" not in srv.paths()
    assert result.returncode == 1
    assert f"another crawl is writing {sqlite}" in result.log
    assert "result=FAILED (store_locked) finish_reason=store_locked" in last_line(result)


def test_store_lock_timeout_waits_for_the_other_run(tmp_path):
    import threading

    sqlite = tmp_path / "mayadeen.sqlite"
    holder = ArticleStore(sqlite)
    threading.Timer(1.0, holder.close).start()  # the other run ends after a second
    with FixtureServer() as srv:
        result = crawl("feed", srv.url, tmp_path, settings={"MAYADEEN_SQLITE_LOCK_TIMEOUT": "30"})
    assert result.returncode == 0 and "items new=14" in last_line(result)


@pytest.mark.parametrize("stats, ok, problem", [
    ({"finish_reason": "finished"}, True, None),  # nothing new: fine
    ({"finish_reason": "finished", "downloader/request_count": 3}, False, "site_unreachable"),
    ({"finish_reason": "finished", "downloader/request_count": 3, "downloader/response_count": 3,
      "log_count/ERROR": 1}, False, "errors_no_items"),
    ({"finish_reason": "finished", "log_count/ERROR": 2, "item_scraped_count": 5}, True, None),
    ({"finish_reason": "finished", "item_scraped_count": 7, "mayadeen/dropped/schema": 3}, False, "too_many_dropped"),
    ({"finish_reason": "finished", "item_scraped_count": 9, "mayadeen/dropped/missing_headline": 1}, True, None),
    ({"finish_reason": "finished", "item_scraped_count": 1, "mayadeen/dropped/duplicate_url": 9}, True, None),
    ({"finish_reason": "closespider_timeout", "item_scraped_count": 1}, True, None),
    ({"finish_reason": "shutdown", "item_scraped_count": 1}, False, "shutdown"),
    ({"finish_reason": "store_locked"}, False, "store_locked"),
    ({"finish_reason": "too_many_dropped", "log_count/ERROR": 1}, False, "too_many_dropped"),
])
def test_outcome(stats, ok, problem):
    result = outcome(stats, 0.2)
    assert (result.ok, result.problem) == (ok, problem)
