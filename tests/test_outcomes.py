"""Exit statuses that mean one thing each, runs that lost data fail, progress an operator can see."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading

import pytest
import scrapy

from mayadeen.commands.crawl import Command as Crawl
from mayadeen.preflight import JOB_FILE
from mayadeen.store.engines import POSTGRESQL, SQLITE, StoreTarget, connect
from mayadeen.store.failing import failing
from mayadeen.urls import PUBLIC_URL, item_kind
from tests import inprocess
from tests.challenge_server import ChallengeServer
from tests.conftest import expected_records
from tests.fault_server import FaultPlan, FaultServer
from tests.fixture_server import write_answer
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import SlowServer, crawl_command, item_paths, runs, start_crawl, stored, wait_for
from tests.test_exit_status import closed_port_url, last_line
from tests.test_run_truth import HoldingServer
from tests.test_store_off_reactor import Meanwhile

ALWAYS_500 = "/news/economy/opec-agrees-to-another-large-oil-output-hike-for-september"
FAST_RETRIES = {"RETRY_TIMES": "2", "MAYADEEN_RETRY_BACKOFF_BASE": "0.1"}


def test_a_rerun_with_nothing_new_and_no_browser_exits_0(tmp_path):
    with FaultServer() as srv:
        crawl_in_process("sections", srv.url, tmp_path, args={"js": "0"})
        again = crawl_in_process(
            "sections", srv.url, tmp_path, settings={"MAYADEEN_CHROMIUM_PATH": "/nonexistent"}, check=False
        )
    assert again.returncode == 0, last_line(again)  # was 1 (errors_no_items): the hint counted as an error
    assert "result=ok" in last_line(again) and "items new=0" in last_line(again)
    assert again.stat("mayadeen/js/no_browser") == 7 and " ERROR: " not in again.log


@pytest.mark.parametrize(("spider", "engine"), [
    ("feed", SQLITE),
    # The matrix (soak): sitemap's item requests are made by Scrapy's SitemapSpider; the other engine.
    pytest.param("sitemap", SQLITE, marks=pytest.mark.soak), pytest.param("feed", POSTGRESQL, marks=pytest.mark.soak),
])  # fmt: skip
def test_one_item_that_keeps_failing_is_a_warning_remembered_and_retried_later(tmp_path, spider, engine, request):
    plan = FaultPlan(keep_failing={ALWAYS_500: "500"})
    target = (
        StoreTarget(POSTGRESQL, request.getfixturevalue("postgres_url"))
        if engine == POSTGRESQL
        else StoreTarget(SQLITE, str(tmp_path / "mayadeen.sqlite"))
    )
    settings = {**FAST_RETRIES, "MAYADEEN_STORE_URL": target.location if engine == POSTGRESQL else ""}
    with FaultServer(plan) as srv:
        first = crawl_in_process(spider, srv.url, tmp_path, settings=settings, check=False)
        n = len(srv.hits())
        second = crawl_in_process(spider, srv.url, tmp_path, settings=settings, check=False)
        second_paths = [h.path for h in srv.hits()[n:]]
        n = len(srv.hits())
        full = crawl_in_process(spider, srv.url, tmp_path, args={"full": "1"}, settings=settings, check=False)
        full_paths = [h.path for h in srv.hits()[n:]]
    assert first.returncode == 0, last_line(first)  # was 1 on every 5-minute run
    assert "given_up=1 failing=1" in last_line(first) and " ERROR: " not in first.log
    assert (
        "WARNING: Gave up on https://english.almayadeen.net" + ALWAYS_500 + " (HTTP 500); failing in 1 run(s)"
        in first.log
    )
    assert (
        "1 item(s) keep failing and are retried by later runs: https://english.almayadeen.net" + ALWAYS_500 in first.log
    )
    # The next run does not spend its retries on it before its next attempt is due.
    assert second.returncode == 0 and ALWAYS_500 not in second_paths
    assert second.stat("mayadeen/failing/deferred") == 1 and "failing=1" in last_line(second)
    # -a full=1 tries it anyway; a second failure doubles the interval.
    assert full_paths.count(ALWAYS_500) == 3 and full.returncode == 0
    with connect(target, readonly=True) as store:
        assert [(url, n) for url, n, _ in failing(store)] == [("https://english.almayadeen.net" + ALWAYS_500, 2)]


ONLY_IN_A_MONTH = "/news/sports/saudi-arabia-confirmed-as-host-of-2034-fifa-world-cup"  # not in news.xml


def test_a_failing_item_is_asked_for_again_once_due_though_its_month_is_not_read_again(tmp_path):
    settings = {**FAST_RETRIES, "MAYADEEN_STORE_URL": ""}
    with FaultServer(FaultPlan(keep_failing={ONLY_IN_A_MONTH: "500"})) as srv:
        first = crawl_in_process("sitemap", srv.url, tmp_path, settings=settings, check=False)
        n = len(srv.hits())
        second = crawl_in_process("sitemap", srv.url, tmp_path, settings=settings, check=False)
        second_paths = [h.path for h in srv.hits()[n:]]
        with sqlite3.connect(tmp_path / "mayadeen.sqlite") as db:  # its next attempt comes due
            db.execute("UPDATE failing_items SET next_attempt_at = first_failed_at")
        n = len(srv.hits())
        windowed = crawl_in_process("sitemap", srv.url, tmp_path, args={"since": "2025-07-01"}, settings=settings)
        windowed_paths = [h.path for h in srv.hits()[n:]]
        n = len(srv.hits())
        third = crawl_in_process("sitemap", srv.url, tmp_path, settings=settings, check=False)
        third_paths = [h.path for h in srv.hits()[n:]]
    assert "given_up=1" in last_line(first)
    # The months were read completely: the next runs do not read them again, and nothing lists the item.
    assert second.stat("mayadeen/sitemap/unchanged") == 7 and ONLY_IN_A_MONTH not in second_paths
    # A window takes only what its sitemaps list.
    assert ONLY_IN_A_MONTH not in windowed_paths and windowed.stat("mayadeen/failing/due") is None
    assert third.stat("mayadeen/sitemap/unchanged") == 7 and third.stat("mayadeen/failing/due") == 1
    assert third_paths.count(ONLY_IN_A_MONTH) == 3  # was 0: never asked for again
    assert "Asking again for 1 failing item(s) (due for another attempt)" in third.log


PAST = "2020-01-01T00:00:00Z"


def add_failing(store, *urls: str, failures: int = 1, due: str = PAST) -> None:
    """Rows of ``failing_items`` (due since long ago), as earlier runs that gave them up left them."""
    with sqlite3.connect(store) as db:
        for url in urls:
            db.execute("INSERT INTO failing_items VALUES (?, ?, ?, ?, 'HTTP 500', ?)", (url, failures, PAST, PAST, due))


def failing_urls(store) -> list[str]:
    with sqlite3.connect(store) as db:
        return sorted(url for (url,) in db.execute("SELECT url FROM failing_items"))


def test_a_failing_item_that_ends_any_other_way_is_forgotten_once(tmp_path):
    gone = "/news/politics/an-article-deleted-since-it-failed"  # 404
    renamed = "/news/politics/iraqs-pmf-law-a-test-of-sovereignty-amid-us-objections"  # 301 to a stored item
    listing = "/news/health/a-page-that-is-now-a-listing"
    stored_one = "/articles/analysis/red-sea-disruption-how-rerouting-reshaped-the-economics-of-global-shipping"
    store = tmp_path / "mayadeen.sqlite"
    with FaultServer() as srv:
        srv.site.override(listing, srv.site.body("/"))
        crawl_in_process("feed", srv.url, tmp_path)
        add_failing(
            store, *(PUBLIC_URL + path for path in (gone, renamed, listing)), f"{PUBLIC_URL}{stored_one}?utm_source=x"
        )
        n = len(srv.hits())
        first = crawl_in_process("feed", srv.url, tmp_path)
        first_paths = [h.path for h in srv.hits()[n:]]
        n = len(srv.hits())
        second = crawl_in_process("feed", srv.url, tmp_path)
        second_paths = [h.path for h in srv.hits()[n:]]
    assert first.stat("mayadeen/failing/due") == 4 and {gone, renamed, listing, stored_one} <= set(first_paths)
    assert first.stat("mayadeen/failing/recovered") == 4 and failing_urls(store) == []  # was all 4, asked every run
    assert (
        "/news/politics/an-article-deleted-since-it-failed is no longer failing (no item there: HTTP 404)" in first.log
    )
    assert second.stat("mayadeen/failing/due") is None and not {gone, renamed, listing, stored_one} & set(second_paths)


def test_a_full_run_asks_for_every_failing_item_listed_or_not(tmp_path):
    gone = "/news/politics/an-article-deleted-since-it-failed"  # listed nowhere any more: 404
    store = tmp_path / "mayadeen.sqlite"
    with FaultServer() as srv:
        crawl_in_process("feed", srv.url, tmp_path)
        add_failing(store, PUBLIC_URL + gone, due="2999-01-01T00:00:00Z")
        n = len(srv.hits())
        quiet = crawl_in_process("feed", srv.url, tmp_path)
        quiet_paths = [h.path for h in srv.hits()[n:]]
        full = crawl_in_process("feed", srv.url, tmp_path, args={"full": "1"})
    assert gone not in quiet_paths and quiet.stat("mayadeen/failing/due") is None  # not due
    assert full.stat("mayadeen/failing/due") == 1 and "Asking again for 1 failing item(s) (-a full=1)" in full.log
    assert failing_urls(store) == []  # asked, found gone, forgotten


def test_items_failing_again_do_not_fail_a_run_nor_its_monitors(tmp_path):
    broken = [f"/news/politics/an-old-item-that-stays-broken-{i}" for i in range(3)]
    store = tmp_path / "mayadeen.sqlite"
    with FaultServer(FaultPlan(keep_failing={path: "500" for path in broken})) as srv:
        crawl_in_process("feed", srv.url, tmp_path)
        add_failing(store, *(PUBLIC_URL + path for path in broken), failures=4)
        again = crawl_in_process("feed", srv.url, tmp_path, settings=FAST_RETRIES, check=False)
    assert again.returncode == 0, last_line(again)  # was 1: too_many_given_up, and three monitors alerting
    assert "given_up=3 failing=3" in last_line(again) and again.stat("mayadeen/failing/again") == 3
    assert again.stat("mayadeen/failing/responses/500") == 9 and again.stats["mayadeen/monitors/failed"] == ""
    assert failing_urls(store) == [PUBLIC_URL + path for path in broken]
    with sqlite3.connect(store) as db:  # each failed once more: its next attempt moved on
        assert {row for row in db.execute("SELECT failures FROM failing_items")} == {(5,)}


def test_a_failing_item_answered_403_or_a_5xx_scrapy_does_not_retry_stays_failing(tmp_path):
    answers = {status: f"/news/politics/a-failing-item-now-answered-{status}" for status in (403, 410, 501, 521)}
    store = tmp_path / "mayadeen.sqlite"
    with FaultServer() as srv:
        for status, path in answers.items():
            srv.site.override(path, f"<html><body><h1>{status}</h1></body></html>", status=status)
        crawl_in_process("feed", srv.url, tmp_path)
        add_failing(store, *(PUBLIC_URL + path for path in answers.values()))
        run = crawl_in_process("feed", srv.url, tmp_path, check=False)
    # A block or a server that is down says nothing of the item (they were all forgotten); 410: gone.
    withheld = sorted(PUBLIC_URL + answers[status] for status in (403, 501, 521))
    assert failing_urls(store) == withheld
    with sqlite3.connect(store) as db:  # still failing: their next attempts move on (they stayed due)
        assert list(db.execute("SELECT failures FROM failing_items WHERE next_attempt_at > ?", (PAST,))) == [(2,)] * 3
    # Not known breakage: their answers count (they were all taken off: a block hidden by due items).
    assert (
        run.stat("mayadeen/failing/again") is None and run.stats["mayadeen/monitors/failed"] == "Unwanted HTTP statuses"
    )
    assert f"Could not get {withheld[0]} (HTTP 403); next attempt after " in run.log


@pytest.mark.parametrize("withheld", ["challenge", "521"])
def test_an_item_withheld_on_its_first_fetch_is_remembered(tmp_path, withheld):
    """A month-only item the site withholds (a challenge page and no browser, a 5xx Scrapy does not retry)
    is asked for again later: its month, read completely, is not read again while unchanged."""
    url, store = PUBLIC_URL + ONLY_IN_A_MONTH, tmp_path / "mayadeen.sqlite"
    server = ChallengeServer(challenges={ONLY_IN_A_MONTH: "403"}) if withheld == "challenge" else FaultServer()
    with server as srv:
        if withheld == "521":
            srv.site.override(ONLY_IN_A_MONTH, "<html><body>Web server is down</body></html>", status=521)
        run = crawl_in_process("sitemap", srv.url, tmp_path, args={"js": "0"}, settings={"MAYADEEN_STORE_URL": ""})
    reason = "challenge page" if withheld == "challenge" else "HTTP 521"
    assert failing_urls(store) == [url]  # was nothing: lost until -a full=1
    assert f"Could not get {url} ({reason}); next attempt after " in run.log and "given_up=0" in last_line(run)
    assert run.stat("mayadeen/items/withheld") == 1


@pytest.mark.parametrize("run_fails", [False, True], ids=["finished", "failed"])
def test_a_failing_item_dropped_on_its_way_waits_for_its_next_attempt(tmp_path, run_fails):
    moved, store = "/news/politics/an-old-slug-now-off-the-site", tmp_path / "mayadeen.sqlite"
    with FaultServer() as srv:
        srv.site.override(moved, b"", status=301, headers={"Location": "https://elsewhere.example/x"})
        crawl_in_process("feed", srv.url, tmp_path)
        add_failing(store, PUBLIC_URL + moved)
        if run_fails:  # three listed items new again, answering 500: the run ends too_many_given_up
            broken = sorted(stored(store))[:3]
            with sqlite3.connect(store) as db:
                db.executemany("DELETE FROM articles WHERE url = ?", [(url,) for url in broken])
            for url in broken:
                srv.site.override(url[len(PUBLIC_URL) :], "<html><body>down</body></html>", status=500)
        run = crawl_in_process("feed", srv.url, tmp_path, settings=FAST_RETRIES, check=False)
    assert run.stats["finish_reason"] == ("too_many_given_up" if run_fails else "finished")
    with sqlite3.connect(store) as db:  # was due still: asked for in every run
        assert list(
            db.execute(
                "SELECT failures, next_attempt_at > ? FROM failing_items WHERE url = ?", (PAST, PUBLIC_URL + moved)
            )
        ) == [(2, 1)]
    assert f"Asked for {PUBLIC_URL}{moved}, no answer in this run; next attempt after " in run.log


def test_a_new_item_withheld_once_is_fetched_by_the_next_run_that_lists_it(tmp_path):
    store = tmp_path / "mayadeen.sqlite"
    with FaultServer() as srv:
        crawl_in_process("feed", srv.url, tmp_path)
        url = sorted(stored(store))[0]
        with sqlite3.connect(store) as db:  # new for the next run, which the site blocks
            db.execute("DELETE FROM articles WHERE url = ?", (url,))
        srv.site.override(url[len(PUBLIC_URL) :], "<html><body>Forbidden</body></html>", status=403)
        blocked = crawl_in_process("feed", srv.url, tmp_path, check=False)
        del srv.site.overrides[url[len(PUBLIC_URL) :]]  # the block is over
        crawl_in_process("feed", srv.url, tmp_path)
    assert blocked.stat("mayadeen/items/withheld") == 1 and blocked.stat("mayadeen/failing/deferred") is None
    assert url in stored(store) and failing_urls(store) == []  # was kept from it for 15 minutes, then more


def test_a_failing_item_redirected_to_a_failing_item_not_due_is_settled_by_it(tmp_path):
    moved = "/news/politics/an-old-slug-that-now-redirects"
    target = "/articles/analysis/red-sea-disruption-how-rerouting-reshaped-the-economics-of-global-shipping"
    store = tmp_path / "mayadeen.sqlite"
    with FaultServer() as srv:
        srv.site.override(moved, b"", status=301, headers={"Location": target})
        crawl_in_process("feed", srv.url, tmp_path)
        add_failing(store, PUBLIC_URL + moved)
        add_failing(store, PUBLIC_URL + target, due="2999-01-01T00:00:00Z")
        run = crawl_in_process("feed", srv.url, tmp_path)
    assert failing_urls(store) == [PUBLIC_URL + target]  # the old slug was due in every run, asked for each time
    assert f"{PUBLIC_URL}{moved} is no longer failing (redirects to {PUBLIC_URL}{target}, failing itself)" in run.log


def test_a_failing_item_redirected_to_a_broken_page_fails_again_itself(tmp_path):
    moved, broken = "/news/politics/an-old-item-moved-then-broken", "/news/politics/its-new-slug"
    store = tmp_path / "mayadeen.sqlite"
    with FaultServer(FaultPlan(keep_failing={broken: "500"})) as srv:
        srv.site.override(moved, b"", status=301, headers={"Location": broken})
        crawl_in_process("feed", srv.url, tmp_path)
        add_failing(store, PUBLIC_URL + moved, failures=4)
        run = crawl_in_process("feed", srv.url, tmp_path, settings=FAST_RETRIES, check=False)
    assert run.stat("mayadeen/failing/again") == 1 and run.returncode == 0
    with sqlite3.connect(store) as db:  # was: a new row for the new slug, the old one due in every run
        assert list(db.execute("SELECT url, failures FROM failing_items")) == [(PUBLIC_URL + moved, 5)]


def test_a_failing_item_whose_record_the_store_could_not_write_stays_failing(tmp_path, monkeypatch):
    from mayadeen.store.sqlite import ArticleStore

    url = PUBLIC_URL + "/articles/analysis/red-sea-disruption-how-rerouting-reshaped-the-economics-of-global-shipping"
    store = tmp_path / "mayadeen.sqlite"
    upsert = ArticleStore.upsert

    def refuse_it(self, record, *args, **kwargs):
        if record.get("url") == url:  # this one record cannot be written
            raise sqlite3.IntegrityError("CHECK constraint failed: a value of this record")
        return upsert(self, record, *args, **kwargs)

    with FaultServer() as srv:
        crawl_in_process("feed", srv.url, tmp_path)
        with sqlite3.connect(store) as db:
            db.execute("DELETE FROM articles WHERE url = ?", (url,))
        add_failing(store, url)
        monkeypatch.setattr(ArticleStore, "upsert", refuse_it)
        run = crawl_in_process("feed", srv.url, tmp_path, check=False)
    assert run.stat("mayadeen/lost/store") == 1 and url not in stored(store)
    assert failing_urls(store) == [url] and run.stat("mayadeen/failing/recovered") is None  # was forgotten


@pytest.mark.parametrize("kind", ["429_seconds", "503"])
def test_failing_items_that_recover_show_what_the_site_answered_first(tmp_path, kind):
    """Five due failing items answer a 429 (a 503) once, then their pages: a rate limit (a struggling
    site), not known breakage; the monitor sees it as it would for new items (it was left out)."""
    store = tmp_path / "mayadeen.sqlite"
    with FaultServer() as srv:
        crawl_in_process("feed", srv.url, tmp_path)
    urls = sorted(stored(store))[:5]
    add_failing(store, *urls)
    with FaultServer(FaultPlan(once={url[len(PUBLIC_URL) :]: kind for url in urls}, retry_after=0)) as srv:
        run = crawl_in_process("feed", srv.url, tmp_path, settings=FAST_RETRIES, check=False)
    status = "429" if kind.startswith("429") else "503"
    assert run.stat(f"downloader/response_status_count/{status}") == 5 and failing_urls(store) == []
    assert not run.stat(f"mayadeen/failing/responses/{status}")  # left out as they came, then given back
    assert run.stats["mayadeen/monitors/failed"] == "Unwanted HTTP statuses"


ALSO_ONLY_IN_A_MONTH = "/articles/opinion/trading-in-local-currencies-is-quietly-redrawing-the-map-of-global-finance"


def test_a_new_item_redirected_to_a_broken_page_is_remembered_under_its_own_url(tmp_path):
    item, store = PUBLIC_URL + ONLY_IN_A_MONTH, tmp_path / "mayadeen.sqlite"
    with FaultServer(FaultPlan(keep_failing={"/maintenance": "503"})) as srv:
        srv.site.override(ONLY_IN_A_MONTH, b"", status=302, headers={"Location": "/maintenance"})
        run = crawl_in_process("sitemap", srv.url, tmp_path, settings=FAST_RETRIES, check=False)
    assert failing_urls(store) == [item]  # was the maintenance page: no run asks for it, nor forgets it
    assert run.returncode == 0 and " ERROR: " not in run.log  # was errors_no_items: an ERROR, not a page's WARNING


def test_new_items_redirected_to_one_broken_item_page_are_remembered_under_it(tmp_path):
    page, store = "/news/politics/its-new-slug", tmp_path / "mayadeen.sqlite"
    with FaultServer(FaultPlan(keep_failing={page: "503"})) as srv:
        for path in (ONLY_IN_A_MONTH, ALSO_ONLY_IN_A_MONTH):
            srv.site.override(path, b"", status=301, headers={"Location": page})
        crawl_in_process("sitemap", srv.url, tmp_path, settings=FAST_RETRIES, check=False)
    assert failing_urls(store) == [PUBLIC_URL + page]  # the page both items lead to, asked for by later runs


@pytest.mark.parametrize("target", ["/news/politics", "/"])
def test_an_item_taken_down_to_a_listing_is_no_failing_item(tmp_path, target):
    item = "/news/politics/uk-to-recognize-palestinian-state-in-september-unless-conditions-met-starmer"
    with FaultServer() as srv:
        srv.site.override(item, b"", status=301, headers={"Location": target})
        run = crawl_in_process("sections", srv.url, tmp_path, args={"js": "0"})
    assert failing_urls(tmp_path / "mayadeen.sqlite") == [] and "warnings=0" in last_line(run)


def test_failing_items_redirected_to_one_broken_page_both_stay_failing(tmp_path):
    moved, store = "/news/politics/its-new-slug", tmp_path / "mayadeen.sqlite"
    old = [f"/news/politics/an-old-item-{name}" for name in "ab"]
    with FaultServer(FaultPlan(keep_failing={moved: "500"})) as srv:
        for path in old:
            srv.site.override(path, b"", status=301, headers={"Location": moved})
        crawl_in_process("feed", srv.url, tmp_path)
        add_failing(store, *(PUBLIC_URL + path for path in old))
        run = crawl_in_process("feed", srv.url, tmp_path, settings=FAST_RETRIES, check=False)
    assert failing_urls(store) == [PUBLIC_URL + path for path in old]  # one was "no longer failing"
    assert run.stat("mayadeen/failing/recovered") is None and run.returncode == 0


def test_a_failing_items_answers_are_left_out_as_they_come_and_given_back_if_it_recovers():
    """A run may stop (a limit, a pause) before a failing item's retries end: its 5xx are left out of the
    unwanted statuses monitor as they come (they counted until its give-up, which may never come), and
    counted after all when it recovers (a 503 a page answers through is the site's state)."""
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler

    from mayadeen.extensions.failing_items import FAILING_RESPONSES, FailingItems

    url = PUBLIC_URL + "/news/politics/a-failing-item"
    crawler = get_crawler(settings_dict={"RETRY_HTTP_CODES": [500, 503]})
    crawler.stats.open_spider()
    failing = FailingItems(crawler)
    failing.opened, failing.failing_before, failing.next_attempts = True, frozenset({url}), {url: PAST}
    request = scrapy.Request(url)
    for status in (500, 503, 403):
        failing.response_downloaded(HtmlResponse(url, status=status, request=request), request, None)
    stats = crawler.stats.get_stats
    assert {k: v for k, v in stats().items() if k.startswith(FAILING_RESPONSES)} == {
        FAILING_RESPONSES + "500": 1,
        FAILING_RESPONSES + "503": 1,  # a 403 may be a block: it counts
    }
    failing._forgotten(True, url, "stored")
    assert stats()[FAILING_RESPONSES + "500"] == 0 and stats()[FAILING_RESPONSES + "503"] == 0


def test_a_row_that_is_no_item_pages_url_is_forgotten(tmp_path):
    store = tmp_path / "mayadeen.sqlite"
    with FaultServer() as srv:
        crawl_in_process("feed", srv.url, tmp_path)
        add_failing(store, PUBLIC_URL + "/maintenance")  # as an older version recorded a redirect's target
        run = crawl_in_process("feed", srv.url, tmp_path)
    assert failing_urls(store) == [] and "/maintenance is no longer failing (not an item page's URL)" in run.log


class HoldAfter(HoldingServer):
    """Answers the first ``free`` item pages at once and holds the others until ``release``."""

    def __init__(self, free: int):
        super().__init__()
        self.free = free
        self.lock = threading.Lock()

    def handle(self, handler, answer) -> None:
        with self.lock:
            answer_now = self.free > 0 and bool(item_kind(PUBLIC_URL + handler.path.split("?")[0]))
            self.free -= answer_now
        if answer_now:
            write_answer(handler, answer)
        else:
            super().handle(handler, answer)


def _stored(path) -> int:
    """Items in the store at ``path`` (0 before the crawl has made it: not made here)."""
    try:
        return len(stored(path)) if path.exists() else 0
    except sqlite3.OperationalError:  # its tables not made yet
        return 0


@pytest.mark.soak  # the signals are the point (the second one stops the reactor: no in-process twin)
def test_a_second_ctrl_c_is_a_pause_under_jobdir_and_the_run_row_is_closed(tmp_path):
    jobdir, log = tmp_path / "job", tmp_path / "killed.log"
    with HoldAfter(free=2) as srv:
        try:
            proc = start_crawl(
                "sitemap", srv.url, tmp_path, settings={"JOBDIR": str(jobdir), "CONCURRENT_REQUESTS": "1"}
            )
            # Two items stored (a store holding none is removed as an empty output), the third held: the
            # graceful stop waits for it, so the second SIGINT always comes during that stop.
            wait_for(lambda: _stored(tmp_path / "mayadeen.sqlite") >= 2 and len(item_paths(srv.paths())) >= 3)
            os.kill(proc.pid, signal.SIGINT)
            wait_for(lambda: "shutting down gracefully" in log.read_text(), timeout=60)
            os.kill(proc.pid, signal.SIGINT)  # forced: Scrapy stops the reactor at once
            code = proc.wait(timeout=60)
        finally:
            srv.release.set()
    line = log.read_text().strip().splitlines()[-1]
    assert code == 3, line
    assert "could not start" not in line
    assert "INFO: Run summary: spider=sitemap result=paused finish_reason=forced_shutdown" in line
    (run,) = runs(tmp_path / "mayadeen.sqlite")
    assert run["finished_at"] is not None and run["result"] == "paused"  # was forced_shutdown: a pause is no failure


def test_overwrite_output_with_jobdir_appends_when_resuming(tmp_path):
    jobdir, out = tmp_path / "job", tmp_path / "out.jsonl"
    with SlowServer(delay=0) as srv:
        cmd, _ = crawl_command(
            "sitemap", srv.url, tmp_path, settings={"JOBDIR": str(jobdir), "CONCURRENT_REQUESTS": "2"}
        )
        cmd[cmd.index("-o")] = "-O"
        cmd[cmd.index("-O") + 1] = f"{out}:jsonlines"
        # Paused part-way (a CLOSESPIDER_* limit, as a SIGTERM pauses it), then the same command again.
        paused = inprocess.command(Crawl(), [*cmd[3:], "-s", "CLOSESPIDER_ITEMCOUNT=5"], inprocess.project_settings())
        assert json.loads((jobdir / JOB_FILE).read_text())["state"] == "paused", paused.log[-3000:]
        before = len(out.read_text().splitlines())
        resumed = inprocess.command(Crawl(), cmd[3:], inprocess.project_settings(), timeout=120)
    assert resumed.returncode == 0, resumed.log[-3000:]
    assert f"{out} is appended to, not overwritten (-O)" in resumed.log
    urls = [line.split('"url": "', 1)[1].split('"', 1)[0] for line in out.read_text().splitlines()]
    assert 0 < before < 14 and sorted(urls) == sorted(expected_records())  # was 10 of 14: the resume overwrote


# "-o out.jsonl" is Scrapy's format "jsonl": the same JSON Lines, and the same care (it had none).
@pytest.mark.parametrize("format_suffix", [":jsonlines", ""])
def test_records_that_could_not_be_written_fail_the_run(tmp_path, format_suffix):
    full = tmp_path / "full"
    full.mkdir()
    with FaultServer() as srv:
        cmd, env = crawl_command("feed", srv.url, tmp_path)
        cmd[cmd.index("-o") + 1] = f"{full}/out.jsonl{format_suffix}"
        # A file system with room for a few records only (a full disk).
        # The file is copied out before the mount namespace goes.
        crawl = " ".join(f"'{c}'" for c in cmd)
        copy_out = f"cp {full}/out.jsonl {tmp_path}"
        shell = f"mount -t tmpfs -o size=24k tmpfs {full} && {{ {crawl}; rc=$?; {copy_out}; exit $rc; }}"
        proc = subprocess.run(
            ["unshare", "-m", "sh", "-c", shell],
            cwd=env["PYTHONPATH"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    line = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1, line
    assert "result=FAILED (lost_records)" in line and " lost=0 " not in line and " lost_in=feed " in line
    assert proc.stderr.count("Could not write the record of") == 1 and "Traceback" not in proc.stderr
    (run,) = runs(tmp_path / "mayadeen.sqlite")
    assert run["result"] == "lost_records" and run["items_new"] == 14  # the store has them all
    # every record is either whole in the file or counted lost (a part written is lost: was counted written)
    whole = (tmp_path / "out.jsonl").read_bytes().count(b"\n")
    assert 0 < whole < 14 and f" lost={14 - whole} " in line, (whole, line)


def test_progress_is_logged_and_the_run_row_follows_the_crawl(tmp_path):
    seen = []

    def row_moves():
        try:
            con = sqlite3.connect(f"file:{tmp_path / 'mayadeen.sqlite'}?mode=ro", uri=True)
            row = con.execute("SELECT items_new, updated_at, finished_at FROM crawl_runs").fetchone()
            con.close()
        except sqlite3.Error:
            return False
        if row and row[2] is None and row[0]:
            seen.append(row)
        return len({r[0] for r in seen}) >= 2

    with SlowServer(delay=0.15) as srv:  # one item at a time: about 2 s of items, a progress line every 0.25 s
        meanwhile = Meanwhile(lambda: wait_for(row_moves, timeout=60, step=0.1))  # the row, read during the crawl
        meanwhile.start()
        result = crawl_in_process(
            "sitemap", srv.url, tmp_path, settings={"MAYADEEN_PROGRESS_INTERVAL": "0.25", "CONCURRENT_REQUESTS": "1"}
        )
        meanwhile.check()
    log = result.log
    assert "INFO: Progress: requests queued=" in log and " pages/min" in log
    assert "Crawled " not in log  # Scrapy's own line is replaced
    assert all(r[2] is None for r in seen) and seen[0][0] < seen[-1][0]  # figures while the run went on


def test_errors_name_the_mirror_that_refused(tmp_path):
    mirror = closed_port_url()
    result = crawl_in_process("feed", mirror, tmp_path, settings={"RETRY_TIMES": "0"}, check=False)
    refused = [line for line in result.log.splitlines() if "Connection was refused" in line]
    assert refused and all(f"(fetching {mirror}/" in line for line in refused)
    assert result.returncode == 1 and not result.sqlite.exists()  # nothing stored: the new store is not left empty
