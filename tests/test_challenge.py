"""Cloudflare challenge pages: recognised, retried once through real headless Chromium, never stored.

Unit tests for the detection and the middleware on stored bytes; then `scrapy crawl sections` against
``ChallengeServer`` (the fixture server with challenges in front of chosen URLs).
"""

from __future__ import annotations

import re
import sqlite3
import time

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler

from mayadeen import settings as project_settings
from mayadeen.browser.challenge import ChallengeMiddleware, challenge_reason
from mayadeen.browser.confine import CONFINEMENT_KEY, PAGE_INIT_KEY, THIRD_PARTY_KEY, Confinement
from mayadeen.browser.page_actions import DOCUMENTS_KEY, Document, clear_challenge, record_documents
from mayadeen.middlewares.retry import Withheld
from tests.challenge_server import (
    CLEARANCE_COOKIE,
    CLEARANCE_TOKEN,
    CLOUDFLARE_HEADERS,
    ChallengeServer,
    challenge_answer,
    has_clearance,
    is_browser,
)
from tests.conftest import expected_records
from tests.fixture_server import FixtureSite
from tests.inprocess import crawl as crawl_in_process
from tests.test_js_listings import needs_chromium

PUBLIC = "https://english.almayadeen.net"
HEALTH = "/news/health/who-warns-of-rising-heat-related-illness-as-summer-temperatures-soar"
SPORTS = "/news/sports/saudi-arabia-confirmed-as-host-of-2034-fifa-world-cup"
SITE = FixtureSite()


# -- detection ---------------------------------------------------------------------------------------


def answer(path, mode):
    a = challenge_answer(path, mode)
    return a.status, a.headers, a.body


@pytest.mark.parametrize(
    "status, headers, body, challenge",
    [
        (*answer(HEALTH, "403"), True),
        (*answer(HEALTH, "200"), False),  # a 200 is never a challenge, whatever it holds
        (503, {"Server": "cloudflare", "CF-RAY": "1-BEY"}, answer(HEALTH, "200")[2], True),
        (403, {"cf-mitigated": "challenge"}, answer(HEALTH, "403")[2], True),
        (403, {"cf-mitigated": "challenge"}, b"", False),  # the header alone: no challenge page to run
        (200, {"Server": "cloudflare"}, SITE.body(HEALTH), False),
        # A normal page behind Cloudflare loads /cdn-cgi/challenge-platform/ scripts: not a challenge.
        (
            200,
            {"Server": "cloudflare"},
            SITE.body(HEALTH).replace(
                b"</body>", b"<script>a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js'</script></body>"
            ),
            False,
        ),
        (403, {"Server": "nginx"}, b"<html><title>403 Forbidden</title>Just a moment...</html>", False),
        (403, {"Server": "cloudflare"}, b"<html><title>403 Forbidden</title></html>", False),
        (404, {}, SITE.body("/no/such/page"), False),
        (503, {}, b"Service Unavailable", False),
    ],
    ids=[
        "403-cf",
        "200-interstitial",
        "503-cf-page",
        "cf-mitigated",
        "cf-mitigated-no-page",
        "article",
        "article-with-cf-script",
        "403-nginx",
        "403-cf-no-page",
        "404",
        "503-plain",
    ],
)
def test_challenge_reason(status, headers, body, challenge):
    from scrapy.http import Headers

    assert (challenge_reason(status, Headers(headers), body) is not None) is challenge


# -- the middleware on its own -----------------------------------------------------------------------


def middleware(tmp_path, chromium: str | None, spider_js: bool = True):
    settings = {k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()}
    if chromium is None:
        settings["MAYADEEN_CHROMIUM_PATH"] = "/nonexistent"
    else:
        exe = tmp_path / "chrome"
        exe.write_text("")
        exe.chmod(0o755)
        settings["MAYADEEN_CHROMIUM_PATH"] = str(exe)
    crawler = get_crawler(Spider, settings)
    mw = ChallengeMiddleware.from_crawler(crawler)
    mw.spider_opened(type("S", (), {"js": spider_js})())
    return mw, crawler.stats


def challenged(url=PUBLIC + HEALTH, mode="403"):
    status, headers, body = answer(url, mode)
    return HtmlResponse(url=url, status=status, headers=headers, body=body, request=Request(url))


@pytest.mark.parametrize("chromium, js", [(None, True), ("exe", False)], ids=["no-browser", "js=0"])
def test_without_browser_a_challenge_is_dropped_and_counted(tmp_path, chromium, js):
    mw, stats = middleware(tmp_path, chromium, js)
    request = Request(PUBLIC + HEALTH)
    with pytest.raises(Withheld):  # an item page is asked for again later, not given up nor filtered
        mw.process_response(request, challenged())
    assert stats.get_value("mayadeen/challenge/detected") == 1
    assert stats.get_value("mayadeen/challenge/failed") == 1


def test_a_challenge_is_retried_once_in_the_browser(tmp_path):
    mw, stats = middleware(tmp_path, "exe")
    request = Request(PUBLIC + HEALTH, meta={"cookiejar": 1})
    ok = HtmlResponse(url=request.url, body=SITE.body(HEALTH), request=request)
    assert mw.process_response(request, ok) is ok
    quiet = Request(PUBLIC + HEALTH, meta={"dont_challenge": True})
    assert mw.process_response(quiet, challenged()).status == 403

    retry = mw.process_response(request, challenged())
    assert isinstance(retry, Request) and retry.url == request.url and retry.dont_filter
    assert retry.meta["playwright"] is True and retry.meta["mayadeen_challenge"] == "browser"
    assert retry.meta["cookiejar"] == 1
    assert retry.meta["playwright_page_init_callback"] == "mayadeen.browser.confine.init_page"
    assert retry.meta[PAGE_INIT_KEY] == ["mayadeen.browser.page_actions.record_documents"]
    assert retry.meta[THIRD_PARTY_KEY] == ["challenges.cloudflare.com"]  # the live site: no MAYADEEN_BASE_URL
    (method,) = retry.meta["playwright_page_methods"]
    assert method.method is clear_challenge and method.args[1] is retry.meta[DOCUMENTS_KEY]
    assert stats.get_value("mayadeen/challenge/detected") == 1

    # The browser came back with the real page as the server sent it, and the clearance cookie.
    raw = SITE.body(HEALTH)
    method.result = Document(
        "http://127.0.0.1:1" + HEALTH,
        200,
        {"Content-Type": ["text/html; charset=utf-8"], "Content-Encoding": ["gzip"]},
        raw,
        [{"name": CLEARANCE_COOKIE, "value": CLEARANCE_TOKEN, "path": "/", "secure": False}],
    )
    retry.meta[CONFINEMENT_KEY] = Confinement("http://127.0.0.1:1" + HEALTH)  # as init_page sets it
    dom = HtmlResponse(url=request.url, status=403, body=b"<html>rendered DOM</html>", request=retry)
    page = mw.process_response(retry, dom)
    assert isinstance(page, HtmlResponse) and page.status == 200 and page.body == raw
    assert page.url == request.url and "challenge-solved" in page.flags
    assert b"gzip" not in page.headers.get("Content-Encoding", b"")
    assert stats.get_value("mayadeen/challenge/solved") == 1

    # The cookie goes to the next request for the site (and so into Scrapy's cookie jar), once.
    offsite = Request("https://example.org/")
    mw.process_request(offsite)
    assert not offsite.cookies
    later = Request(PUBLIC + "/news/health", cookies={"a": "b"})
    mw.process_request(later)
    assert {"name": CLEARANCE_COOKIE, "value": CLEARANCE_TOKEN, "path": "/", "secure": False} in later.cookies
    assert {"name": "a", "value": "b"} in later.cookies
    again = Request(PUBLIC + "/news")
    mw.process_request(again)
    assert not again.cookies


def test_a_challenge_that_survives_the_browser_is_dropped(tmp_path):
    mw, stats = middleware(tmp_path, "exe")
    retry = mw.process_response(Request(PUBLIC + SPORTS), challenged(PUBLIC + SPORTS))
    status, headers, body = answer(SPORTS, "never")
    retry.meta["playwright_page_methods"][0].result = Document(
        retry.url, status, {k: [v] for k, v in headers.items()}, body
    )
    with pytest.raises(IgnoreRequest):
        mw.process_response(retry, Response(retry.url, status=403, request=retry))
    nothing = mw.process_response(Request(PUBLIC + HEALTH), challenged())
    nothing.meta["playwright_page_methods"][0].result = None  # the browser got no page at all
    with pytest.raises(IgnoreRequest):
        mw.process_response(nothing, Response(nothing.url, request=nothing))
    assert stats.get_value("mayadeen/challenge/failed") == 2
    assert stats.get_value("mayadeen/challenge/solved") is None


def test_challenge_server_modes():
    assert has_clearance({"Cookie": f"x=1; {CLEARANCE_COOKIE}={CLEARANCE_TOKEN}"})
    assert not has_clearance({"Cookie": f"{CLEARANCE_COOKIE}=wrong"}) and not has_clearance({})
    assert is_browser({"Sec-Fetch-Mode": "navigate"}) and not is_browser({"User-Agent": "mayadeen"})
    assert challenge_answer("/x", "403").headers["cf-mitigated"] == "challenge"
    assert CLOUDFLARE_HEADERS["Server"] == "cloudflare"
    assert b"document.cookie" in challenge_answer("/x", "200").body
    assert b"document.cookie" not in challenge_answer("/x", "never").body
    assert record_documents  # the init callback named in the retry's meta exists


# -- crawls ------------------------------------------------------------------------------------------


def crawl(tmp_path, challenges: dict[str, str], sections: str, check: bool = True, **settings):
    with ChallengeServer(challenges=challenges) as srv:
        started = time.monotonic()
        result = crawl_in_process(
            "sections", srv.url, tmp_path, args={"sections": sections}, settings=settings, check=check
        )
        print(f"\nchallenge crawl: {time.monotonic() - started:.1f} s")
    return result, srv, result.stat


def assert_stored_once_as_expected(result, path):
    expected = expected_records()[PUBLIC + path]
    records = [r for r in result.records() if r["url"] == PUBLIC + path]
    assert len(records) == 1
    for key, value in expected.items():
        assert records[0][key] == value, key
    con = sqlite3.connect(result.sqlite)
    assert con.execute("SELECT count(*) FROM articles WHERE url = ?", (PUBLIC + path,)).fetchone() == (1,)


def assert_no_challenge_stored(result):
    assert not any("Just a moment" in (r.get("headline") or "") for r in result.records())
    con = sqlite3.connect(result.sqlite)
    assert con.execute("SELECT count(*) FROM articles WHERE headline LIKE '%Just a moment%'").fetchone() == (0,)


@needs_chromium
def test_challenged_listing_is_solved_and_the_cookie_clears_later_plain_requests(tmp_path):
    # Both the listing and its article stand behind the challenge (403, Cloudflare headers).
    result, srv, stat = crawl(tmp_path, {"/news/health": "403", HEALTH: "403"}, "news/health")
    assert stat("mayadeen/challenge/detected") == 1
    assert stat("mayadeen/challenge/solved") == 1
    assert stat("mayadeen/challenge/failed") is None
    assert stat("playwright/page_count") == stat("playwright/page_count/closed") == 1
    hits = [
        (h.path, is_browser(h.headers), has_clearance(h.headers))
        for h in srv.requests
        if h.path in ("/news/health", HEALTH)
    ]
    assert hits == [
        ("/news/health", False, False),  # plain: challenged
        ("/news/health", True, False),  # the browser: challenged, its script sets the cookie
        ("/news/health", True, True),  # the browser's reload: the real listing
        (HEALTH, False, True),  # plain again, the browser's cookie in Scrapy's jar
    ]
    assert srv.challenged == ["/news/health", "/news/health"]
    assert_stored_once_as_expected(result, HEALTH)
    assert_no_challenge_stored(result)
    assert re.search(r"INFO: Challenge for \S+/news/health \(403, cf-mitigated: challenge\): retrying once", result.log)


@needs_chromium
def test_a_200_interstitial_is_not_rendered_and_an_unsolvable_challenge_dropped(tmp_path):
    # A 200 is never a challenge: the page goes to the spider as it is, and is never opened in the
    # browser for a challenge it might carry. It is no article: an item page without a record, which
    # the coverage check reports (the run fails, as for a changed layout).
    result, srv, stat = crawl(
        tmp_path,
        {HEALTH: "200", SPORTS: "never"},
        "news/health,news/sports",
        check=False,
        MAYADEEN_CHALLENGE_TIMEOUT="0.5",  # the wait for a page that never clears: its length changes nothing
    )
    assert result.returncode == 1 and "result=FAILED (coverage_below_minimum)" in result.log
    assert stat("mayadeen/challenge/detected") == 1
    assert stat("mayadeen/challenge/solved") is None
    assert stat("mayadeen/challenge/failed") == 1
    assert stat("playwright/page_count") == stat("playwright/page_count/closed") == 1
    assert [is_browser(h.headers) for h in srv.requests if h.path == HEALTH] == [False]
    assert PUBLIC + HEALTH not in {r["url"] for r in result.records()}
    assert PUBLIC + SPORTS not in {r["url"] for r in result.records()}
    assert_no_challenge_stored(result)
    sports = [is_browser(h.headers) for h in srv.requests if h.path == SPORTS]
    assert sports == [False, True]  # retried exactly once, in the browser
    assert re.search(
        rf"WARNING: Challenge for \S+{SPORTS}: still a challenge after the browser .*; dropped", result.log
    )
