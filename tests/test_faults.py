"""Faults: a crawl of a misbehaving server still stores every item once, exactly right.

The fault server (tests/fault_server.py) answers a seeded share of URLs with one kind of fault on
their first one or two requests (wrong type/charset: on every request). For each kind alone, and for
all kinds together, `scrapy crawl sections` must store exactly the expected records (all of them),
each once, field for field; Retry-After must hold off every request to the site until it expires
(checked on the server's clock; with many requests at a time, only those the crawler had handed to
its downloader before it read the 429 may still arrive: they were in flight); 5xx and timeouts are retried with
growing waits; a page that keeps
failing is given up with a log line and a stats counter while the crawl goes on.

Unit tests of the components come first; the crawls run side by side (most of their time is waiting
out timeouts and pauses): a few in subprocesses, and one at a time in this process beside them (Scrapy's
engine in process: ``tests.inprocess``). Figures: `pytest tests/test_faults.py -s` prints them.
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from functools import partial

import pytest
from scrapy.http import HtmlResponse, Request, Response, TextResponse, XmlResponse
from scrapy.utils.test import get_crawler

from mayadeen.completeness import decode_content, incomplete_reason
from mayadeen.extensions.retry_after import retry_after_seconds
from mayadeen.middlewares.retry import Backoff
from mayadeen.middlewares.sniff import ContentSniffMiddleware
from mayadeen.pages.article import ArticlePage
from tests.conftest import expected_records, run_crawl
from tests.fault_server import FAULT_KINDS, FaultPlan, FaultServer
from tests.fixture_server import FixtureSite
from tests.inprocess import crawl as crawl_in_process
from tests.pause_watch import Watched, pause_watch_settings

PUBLIC = "https://english.almayadeen.net"
JSON_COLUMNS = {"authors", "tags", "image", "images", "video", "related"}
SEED = 20250804
ARTICLE = "/news/politics/why-increase-of-us-alliances-in-asia-does-not-mean-an-asian-nato-time"
GALLERY = "/in-pictures/in-pictures-hajj-pilgrims-gather-at-mount-arafat"

# Fast retries for tests: first retry after ~0.1 s, then ~0.2 s, ~0.4 s... (±25%).
BACKOFF_BASE, BACKOFF_JITTER = 0.1, 0.25
COMMON = {
    "RETRY_TIMES": "4",
    "DOWNLOAD_TIMEOUT": "1.5",
    "MAYADEEN_RETRY_BACKOFF_BASE": str(BACKOFF_BASE),
    "MAYADEEN_RETRY_BACKOFF_JITTER": str(BACKOFF_JITTER),
}
STALL_SECONDS = 2.5
# Retry-After pauses the whole site: fewer 429s, else the run is mostly waiting.
SHARE = {"429_seconds": 0.06, "429_date": 0.06}
DEFAULT_SHARE = 0.35
# All kinds together: 16 requests at a time, and a download delay (as on the live site) that the
# scheduler must wait out itself, so that no request sits in the downloader's queue when a pause begins.
ALL_TOGETHER = {"DOWNLOAD_DELAY": "0.01"}
#: A seed that serves every kind with few 429s (4 refusals, a listing's among them, none of the home
#: page: each pauses the whole site for 1-2 s; the seed before served 10, two of them the home page's).
ALL_SEED = 20251531


# --- units ------------------------------------------------------------------------------------------
def test_incomplete_bodies_are_recognised():
    page = FixtureSite().body(ARTICLE)
    assert incomplete_reason(page) is None
    assert incomplete_reason(b"") == "empty"
    assert incomplete_reason(b"  \r\n ") == "empty"
    assert incomplete_reason(page[: len(page) // 2]) == "unclosed_html"
    assert incomplete_reason(page + b"\n<!-- served in 0.1s -->\n") is None
    assert incomplete_reason(b'{"items": [1, 2') == "broken_json"
    assert incomplete_reason(b'{"items": [1, 2]}') is None
    sitemap = FixtureSite().body("/sitemaps/all.xml")
    assert incomplete_reason(sitemap) is None
    assert incomplete_reason(sitemap[: len(sitemap) - 30]) == "unclosed_xml"
    assert incomplete_reason(b"User-agent: *\nDisallow: /search\n") is None


def test_cut_gzip_streams_are_recognised():
    page = FixtureSite().body(ARTICLE)
    packed = gzip.compress(page)
    assert decode_content(packed, ["gzip"]) == (page, None)
    for cut in (11, len(packed) // 3, len(packed) - 4):
        assert decode_content(packed[:cut], ["gzip"]) == (None, "truncated_encoding")
    assert decode_content(b"not gzip at all", ["gzip"]) == (None, "broken_encoding")
    assert decode_content(packed, ["br"]) == (None, None)  # not checked


def test_retry_after_values():
    now = time.time()
    assert retry_after_seconds(b"120") == 120
    assert retry_after_seconds(b"0") == 0
    assert retry_after_seconds(formatdate(now + 30, usegmt=True), now) == pytest.approx(30, abs=1)
    assert retry_after_seconds(formatdate(now - 30, usegmt=True), now) == 0
    for bad in (b"", b"soon", b"-5", b"1.5", None):
        assert retry_after_seconds(bad) is None


def _retry_after_ext(max_wait: float):
    from types import SimpleNamespace

    from mayadeen.extensions.retry_after import RetryAfter

    holds = {}
    crawler = get_crawler(settings_dict={"MAYADEEN_RETRY_AFTER_MAX": max_wait})
    scheduler = SimpleNamespace(hold_slot=lambda key, until: holds.__setitem__(key, until))
    downloader = SimpleNamespace(get_slot_key=lambda request: "site")
    crawler.engine = SimpleNamespace(downloader=downloader, scheduler=scheduler)
    return RetryAfter(crawler), holds


@pytest.mark.parametrize(
    ("status", "header", "paused"),
    [
        (429, b"2", 2.0),
        (503, b"3", 3.0),
        (429, b"3600", 5.0),
        (429, b"soon", None),
        (500, b"2", None),
        (429, None, None),
    ],
)
def test_retry_after_holds_the_slot_in_the_scheduler_within_the_maximum(status, header, paused):
    ext, holds = _retry_after_ext(max_wait=5.0)
    request = Request(PUBLIC + "/")
    headers = {"Retry-After": header} if header is not None else {}
    before = time.time()
    ext.response_downloaded(Response(PUBLIC + "/", status=status, headers=headers), request, None)
    if paused is None:
        assert not ext.paused_until and not holds
        return
    assert holds["site"] - before == pytest.approx(paused, abs=0.5)  # a wall-clock deadline
    assert ext.stats.get_value("mayadeen/retry_after/capped") == (1 if header == b"3600" else None)


def test_backoff_grows_and_is_capped():
    backoff = Backoff(base=1.0, cap=5.0, jitter=0.0)
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    jittered = Backoff(base=1.0, cap=60.0, jitter=0.25)
    assert all(0.75 <= jittered.delay(1) <= 1.25 for _ in range(100))


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain; charset=utf-8",
        "application/octet-stream",
        "application/xml",
        "application/json",
        "image/jpeg",
        "",
        "text/html; charset=iso-8859-1",
        "text/html; charset=windows-1251",
        "text/html; charset=utf-16",
        "application/xml; charset=ascii",
    ],
)
def test_wrong_content_type_or_charset_still_extracts_right(content_type):
    from scrapy.responsetypes import responsetypes

    body = FixtureSite().body(ARTICLE)
    headers = {"Content-Type": content_type} if content_type else {}
    cls = responsetypes.from_args(headers=headers, url=PUBLIC + ARTICLE, body=body)
    response = cls(url=PUBLIC + ARTICLE, body=body, headers=headers)
    sniff = ContentSniffMiddleware(get_crawler().stats)
    fixed = sniff.process_response(Request(PUBLIC + ARTICLE), response)
    assert isinstance(fixed, HtmlResponse)
    item = dict(ArticlePage(fixed).to_item())
    want = expected_records()[PUBLIC + ARTICLE]
    assert {k: item.get(k) for k in want} == want


def test_sniff_leaves_right_answers_alone():
    sniff = ContentSniffMiddleware(get_crawler().stats)
    html = HtmlResponse(
        PUBLIC + "/", body=b"<html><body>x</body></html>", headers={"Content-Type": "text/html; charset=utf-8"}
    )
    assert sniff.process_response(Request(html.url), html) is html
    xml = XmlResponse(
        PUBLIC + "/rss", body=b"<?xml version='1.0'?><rss></rss>", headers={"Content-Type": "application/rss+xml"}
    )
    assert sniff.process_response(Request(xml.url), xml) is xml
    text = TextResponse(PUBLIC + "/robots.txt", body=b"User-agent: *", headers={"Content-Type": "text/plain"})
    assert sniff.process_response(Request(text.url), text) is text
    latin = "<html><body>caf\u00e9</body></html>".encode("latin-1")  # really latin-1: not valid UTF-8
    page = HtmlResponse(PUBLIC + "/", body=latin, headers={"Content-Type": "text/html; charset=iso-8859-1"})
    assert sniff.process_response(Request(page.url), page) is page
    binary = Response(PUBLIC + "/x.jpg", body=b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    assert sniff.process_response(Request(binary.url), binary) is binary


# --- crawls -----------------------------------------------------------------------------------------
def fault_crawl(tmp_path, plan: FaultPlan, settings: dict | None = None, name: str = "crawl", in_process=False):
    """``scrapy crawl sections`` of a fault server: in a subprocess, or ``in_process``."""
    with FaultServer(plan) as srv:
        started = time.monotonic()
        result = (crawl_in_process if in_process else run_crawl)(
            "sections",
            srv.url,
            tmp_path / name,
            args={"js": "0"},
            settings={**COMMON, **(settings or {})},
            check=False,
            timeout=240,
        )
        seconds = time.monotonic() - started
    return result, srv, seconds


def stats_value(log: str, key: str) -> int:
    match = re.search(rf"'{re.escape(key)}': (\d+)", log)
    return int(match.group(1)) if match else 0


def stored(result) -> tuple[list[dict], dict[str, dict], int]:
    """JSON Lines records, SQLite rows by url (JSON columns decoded), and the number of SQLite rows."""
    con = sqlite3.connect(result.sqlite)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM articles")]
    con.close()
    by_url = {}
    for row in rows:
        by_url[row["url"]] = {k: (json.loads(v) if k in JSON_COLUMNS and v is not None else v) for k, v in row.items()}
    return result.records(), by_url, len(rows)


def assert_all_items_exact(result, reachable: set[str], missing: frozenset[str] = frozenset()):
    expected = expected_records()
    records, rows, row_count = stored(result)
    urls = [r["url"] for r in records]
    assert len(urls) == len(set(urls)), f"stored twice: {sorted({u for u in urls if urls.count(u) > 1})}"
    assert set(urls) == reachable - missing, f"lost: {sorted(reachable - missing - set(urls))}"
    assert row_count == len(rows) == len(urls)
    assert set(rows) == set(urls)
    for rec in records:
        want = expected[rec["url"]]
        assert {k: rec[k] for k in want} == want, rec["url"]
        assert {k: rows[rec["url"]][k] for k in want} == want, rec["url"]


def retry_after_violations(srv) -> list[str]:
    """Requests that reached the server while a Retry-After it had sent was still running.

    Exact only with one request at a time: then none can be on its way when a 429 is read.
    """
    hits = srv.hits()
    out = []
    for refusal in (h for h in hits if h.until is not None):
        for hit in sorted((h for h in hits if refusal.sent < h.at < refusal.until - 0.01), key=lambda h: h.at):
            out.append(
                f"{hit.path} at +{hit.at - refusal.sent:.3f}s, before {refusal.path}'s "
                f"Retry-After ran out (+{refusal.until - refusal.sent:.3f}s)"
            )
    return out


def retry_after_violations_in_flight(srv, watched: Watched) -> list[str]:
    """Requests that reached the server during a Retry-After pause, but were handed to the crawler's
    downloader only after the crawler had read that Retry-After.

    With many requests at a time, the ones already handed to the downloader when the crawler reads a
    429 are in flight: they may reach the server during the pause (as late as a busy machine makes
    them), and cannot be called back. Each request the server saw is matched with the crawler's by
    URL and attempt.
    """
    hits = srv.hits()
    refusals_of: Counter[str] = Counter()
    out = []
    for refusal in (h for h in hits if h.until is not None):
        refusals_of[refusal.path] += 1
        read = watched.read_of(PUBLIC + refusal.path, refusals_of[refusal.path])
        if read is None:
            out.append(f"{refusal.path}: the crawler never read its 429")
            continue
        for hit in (h for h in hits if refusal.sent < h.at < refusal.until - 0.01):
            reached, read_at = watched.reached_at(PUBLIC + hit.path, hit.attempt), read["at"]
            if reached is None or reached >= read["at"]:
                out.append(
                    f"{hit.path} (attempt {hit.attempt}) handed to the downloader "
                    f"{'never' if reached is None else f'+{reached - read_at:.3f}s'} "
                    f"after {refusal.path}'s Retry-After was read"
                )
    return out


def backoff_violations(srv, kinds: set[str]) -> list[str]:
    """Retries of a faulted URL that came sooner than the backoff allows."""
    by_path: dict[str, list] = {}
    for hit in srv.hits():
        by_path.setdefault(hit.path, []).append(hit)
    out = []
    for path, hits in by_path.items():
        hits.sort(key=lambda h: h.attempt)
        for n, (before, after) in enumerate(zip(hits, hits[1:]), start=1):
            if before.fault in kinds:
                least = BACKOFF_BASE * 2 ** (n - 1) * (1 - BACKOFF_JITTER)
                if after.at - before.at < least:
                    out.append(f"{path}: retry {n} after {after.at - before.at:.3f}s < {least:.3f}s")
    return out


FIGURES: dict[str, dict] = {}

#: The faults of the issue, one crawl each (a group's kinds are mixed in its crawl; each kind's own
#: counter is checked). Kinds that pause or wait (429, stall) and retried errors (5xx) have a crawl of
#: their own: their timing is checked on the server's clock.
FAULT_GROUPS = {
    "5xx": ("500", "502", "503"),
    "429 Retry-After": ("429_seconds", "429_date"),
    "stall": ("stall",),
    "incomplete body": ("cut_body", "cut_body_unsized", "truncated_gzip", "empty_200"),
    "redirect loop, wrong type/charset": ("redirect_loop", "wrong_content_type", "wrong_charset"),
}
assert {k for kinds in FAULT_GROUPS.values() for k in kinds} == set(FAULT_KINDS)
KEEP_FAILING = {
    ARTICLE: "503",
    "/news/economy/opec-agrees-to-another-large-oil-output-hike-for-september": "cut_body_unsized",
}


def _group_run(name: str, tmp, in_process=False):
    kinds = FAULT_GROUPS[name]
    share = 0.06 if name.startswith("429") else DEFAULT_SHARE  # a 429 pauses the whole site
    plan = FaultPlan(seed=SEED, share=share, kinds=kinds, stall_seconds=STALL_SECONDS)
    # One request at a time for the Retry-After run: then not even an in-flight request may arrive
    # before a pause ends, and the check on the server's clock is exact. (Scrapy 2.19 on asyncio
    # enforces CONCURRENT_REQUESTS_PER_DOMAIN only with a download delay: without one, a slot sends
    # its whole queue at once.)
    settings = (
        {"CONCURRENT_REQUESTS_PER_DOMAIN": "1", "DOWNLOAD_DELAY": "0.001", "DOWNLOAD_DELAY_JITTER": "0"}
        if name.startswith("429")
        else {}
    )
    return fault_crawl(tmp, plan, settings, name=re.sub(r"\W+", "_", name), in_process=in_process)


#: Crawls run one after the other in this process (its log capture is global) while the three others,
#: which mostly wait out pauses and timeouts, run in subprocesses beside them (each pays ~2 s of CPU to
#: start: no more of them than the waits need).
IN_PROCESS = ("keeps failing", "redirect loop, wrong type/charset", "incomplete body", "5xx")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every crawl of this module: the longest first."""
    tmp = tmp_path_factory.mktemp("faults")
    jobs = {name: partial(_group_run, name, tmp) for name in FAULT_GROUPS}
    jobs["all together"] = partial(
        fault_crawl,
        tmp,
        FaultPlan(seed=ALL_SEED, share=0.4, kinds=FAULT_KINDS, stall_seconds=STALL_SECONDS),
        {**ALL_TOGETHER, **pause_watch_settings(tmp / "all" / "pause_watch.jsonl")},
        "all",
    )
    jobs["keeps failing"] = partial(
        fault_crawl,
        tmp,
        FaultPlan(seed=SEED, share=0.0, keep_failing=KEEP_FAILING),
        {"RETRY_TIMES": "2"},
        "keeps_failing",
    )
    order = ["429 Retry-After", "all together", "stall", *FAULT_GROUPS]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(jobs[name]) for name in dict.fromkeys(order) if name not in IN_PROCESS}
        done = {name: jobs[name](in_process=True) for name in IN_PROCESS}
        return {**done, **{name: f.result() for name, f in futures.items()}}


@pytest.fixture(scope="module")
def baseline():
    """The items every faulty crawl must store: every expected record, each reachable without the
    browser (a fault-free crawl stored them all; it is not run again here)."""
    return set(expected_records())


@pytest.mark.soak
@pytest.mark.parametrize("group", FAULT_GROUPS)
def test_each_fault_alone_loses_nothing(group, runs, baseline):
    result, srv, seconds = runs[group]
    served = srv.faults()
    FIGURES[group] = {"injected": sum(served.values()), "requests": len(srv.hits()), "seconds": round(seconds, 1)}
    for kind in FAULT_GROUPS[group]:
        assert served[kind] > 0, f"no {kind} fault was served"
    assert result.returncode == 0, result.log[-3000:]
    assert_all_items_exact(result, baseline)
    if group.startswith("429"):
        assert not retry_after_violations(srv)
        assert stats_value(result.log, "mayadeen/retry_after/pauses") > 0
    if group in ("5xx", "stall"):
        assert not backoff_violations(srv, set(FAULT_GROUPS[group]))
        assert stats_value(result.log, "retry/count") > 0
    kinds = set(FAULT_GROUPS[group])
    incomplete = {"cut_body_unsized": "unclosed_html", "truncated_gzip": "truncated_encoding", "empty_200": "empty"}
    for kind in kinds & set(incomplete):
        assert stats_value(result.log, "mayadeen/integrity/incomplete/" + incomplete[kind]) > 0, kind
    if "redirect_loop" in kinds:
        assert stats_value(result.log, "mayadeen/redirect_loop/detected") > 0
    if "wrong_content_type" in kinds:
        assert stats_value(result.log, "mayadeen/sniff/content_type_fixed") > 0
    if "wrong_charset" in kinds:
        assert stats_value(result.log, "mayadeen/sniff/charset_fixed") > 0


@pytest.mark.soak
def test_all_faults_together_lose_nothing(runs, baseline):
    result, srv, seconds = runs["all together"]
    faults = srv.faults()
    FIGURES["all together"] = {
        "injected": sum(faults.values()),
        "requests": len(srv.hits()),
        "seconds": round(seconds, 1),
        "kinds": len(faults),
    }
    assert set(faults) == set(FAULT_KINDS), f"kinds not served: {set(FAULT_KINDS) - set(faults)}"
    assert result.returncode == 0, result.log[-3000:]
    assert_all_items_exact(result, baseline)
    watched = Watched.load(result.jsonl.parent / "pause_watch.jsonl")
    assert len(watched.reads) == faults["429_seconds"] + faults["429_date"]
    assert all(read["queued"] == 0 for read in watched.reads), "a request was waiting in the downloader's queue"
    assert not retry_after_violations_in_flight(srv, watched)


@pytest.mark.soak
def test_a_page_that_keeps_failing_is_given_up_and_the_crawl_goes_on(runs, baseline):
    result, srv, seconds = runs["keeps failing"]
    lost = frozenset(PUBLIC + p for p in KEEP_FAILING)
    FIGURES["keeps failing"] = {"injected": sum(srv.faults().values()), "given up": len(lost)}
    assert result.returncode == 0, result.log[-3000:]
    assert_all_items_exact(result, baseline, missing=lost)
    for path in KEEP_FAILING:
        assert srv.paths().count(path) == 3  # the first try and RETRY_TIMES retries, then no more
    assert re.search(rf"Gave up retrying <GET {re.escape(PUBLIC + ARTICLE)}>", result.log)
    assert stats_value(result.log, "retry/max_reached") >= 1
    assert re.search(r"Dropped https://\S+opec\S+: the response stayed incomplete \(unclosed_html\)", result.log)
    assert stats_value(result.log, "mayadeen/gave_up/incomplete_response") == 1


@pytest.mark.soak
def test_print_figures():
    """Prints what the crawls above survived (run with -s), for the README's Reliability section."""
    if not FIGURES:
        pytest.skip("no fault crawl ran")
    total = sum(f["injected"] for f in FIGURES.values())
    print(f"\nfaults injected and survived: {total} in {len(FIGURES)} crawls; items lost: 0")
    for name, figures in FIGURES.items():
        print(f"  {name:20} {figures}")
