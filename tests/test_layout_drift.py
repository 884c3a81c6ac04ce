"""Layout drift: a redesigned site makes the run fail loudly, not store empty fields as success.

Every run reports its field coverage (logged, in the stats, in ``crawl_runs.coverage``); thresholds
(``MAYADEEN_COVERAGE_MIN``) turn a run below them into a failed run. The redesign is made by the test
server from the fixtures (never by editing them): every class and id renamed to a hashed name, as a
new front-end build would, and the JSON-LD removed.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from urllib.parse import urlsplit

import pytest

from mayadeen.extensions.coverage import FIELDS, Tally, present, shortfalls
from mayadeen.store.sqlite import ArticleStore
from mayadeen.urls import PUBLIC_URL, item_kind
from tests.conftest import expected_records
from tests.fixture_server import Answer, FixtureServer, write_answer
from tests.inprocess import crawl as crawl_in_process

SETTINGS: dict = {}
ARGS = {"js": "0"}


# --- units ------------------------------------------------------------------------------------------
def test_present_means_non_empty():
    assert not any(present(v) for v in (None, "", "  \n", [], {}, ()))
    assert all(present(v) for v in ("x", 0, [None], {"a": 1}, False))


def _tally(records, pages=None):
    tally = Tally()
    for rec in records:
        tally.add_record(rec, rec["kind"])
    for kind, n in (pages or {}).items():
        for _ in range(n):
            tally.add_page(kind)
    return tally.report()


def test_fixture_records_pass_the_default_thresholds():
    from mayadeen import settings

    records = list(expected_records().values())
    kinds = {}
    for rec in records:
        kinds[rec["kind"]] = kinds.get(rec["kind"], 0) + 1
    report = _tally(records, kinds)
    assert report["records"] == report["pages"] == 14
    assert report["fields"]["headline"] == 1.0 and report["fields"]["video"] == pytest.approx(2 / 14, abs=1e-4)
    assert shortfalls(report, settings.MAYADEEN_COVERAGE_MIN, min_pages=1) == []


def test_shortfalls_name_the_fields_and_respect_the_sample_size():
    records = [dict(rec, body="", tags=[]) for rec in expected_records().values()]
    report = _tally(records, {"article": 9, "video": 2, "infograph": 1, "gallery": 2})
    minimum = {"body": 1.0, "tags": 0.8, "summary": {"article": 0.8}}
    assert shortfalls(report, minimum, min_pages=10) == ["body 0% < 100%", "tags 0% < 80%"]
    # Below 100%, too few pages say nothing: tags is not judged from 14 pages with min_pages=20.
    assert shortfalls(report, minimum, min_pages=20) == ["body 0% < 100%"]


def test_pages_without_records_and_listings_without_items_fail():
    report = _tally([], {"article": 3})
    assert shortfalls(report, {}, 10) == ["record 0% (3 item pages fetched, no record extracted)"]
    empty = _tally([])
    empty["discovery"] = {"listing_pages": 5, "items_found": 0}
    assert shortfalls(empty, {}, 10) == ["item links 0 (5 home/listing pages fetched, no item found on them)"]
    empty["discovery"] = {"listing_pages": 5, "items_found": 12}  # all fresh: an incremental run
    assert shortfalls(empty, {}, 10) == []


def test_unknown_fields_in_thresholds_are_refused():
    from scrapy.utils.test import get_crawler

    from mayadeen.extensions.coverage import FieldCoverage

    with pytest.raises(ValueError, match="headlin"):
        FieldCoverage(get_crawler(settings_dict={"MAYADEEN_COVERAGE_MIN": {"headlin": 1.0}}))
    assert set(FIELDS) == set(expected_records().popitem()[1])


# --- the redesign -----------------------------------------------------------------------------------
_LD_JSON = re.compile(rb"<script[^>]*application/ld\+json[^>]*>.*?</script>", re.S | re.I)
_CLASS_OR_ID = re.compile(rb'\b(class|id)\s*=\s*"([^"]*)"', re.I)


def _hashed(token: bytes) -> bytes:
    return b"x" + hashlib.sha1(token).hexdigest()[:7].encode()


def redesign(body: bytes) -> bytes:
    """The page as a new front end would serve it: hashed class names and ids, no JSON-LD."""
    body = _LD_JSON.sub(b"", body)
    return _CLASS_OR_ID.sub(
        lambda m: m.group(1) + b'="' + b" ".join(_hashed(t) for t in m.group(2).split()) + b'"', body
    )


class RedesignServer(FixtureServer):
    """The fixture site after a redesign of its item pages (``items_only``) or of every page."""

    def __init__(self, items_only: bool):
        super().__init__()
        self.items_only = items_only

    def handle(self, handler, answer: Answer) -> None:
        path = urlsplit(handler.path).path
        if (
            answer.status == 200
            and "html" in answer.content_type
            and (not self.items_only or item_kind(PUBLIC_URL + path))
        ):
            answer = Answer(answer.status, answer.content_type, redesign(answer.body), answer.headers)
        write_answer(handler, answer)


def test_the_redesign_really_changes_the_markup():
    from tests.fixture_server import FixtureSite

    page = FixtureSite().body("/news/politics/un-warns-gaza-faces-water-crisis-looming-famine-under-israeli-siege")
    changed = redesign(page)
    assert b"application/ld+json" in page and b"application/ld+json" not in changed
    assert b'class="article-title"' in page and b'class="article-title"' not in changed
    assert b'id="article-content"' not in changed


def _last_run(sqlite_path) -> dict:
    con = sqlite3.connect(sqlite_path)
    con.row_factory = sqlite3.Row
    row = dict(con.execute("SELECT * FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone())
    con.close()
    row["coverage"] = json.loads(row["coverage"]) if row["coverage"] else None
    return row


def test_a_normal_run_stores_its_coverage_and_passes(tmp_path):
    with FixtureServer() as srv:
        result = crawl_in_process("sections", srv.url, tmp_path, args=ARGS, settings=SETTINGS)
    assert re.search(r"Field coverage over 14 records from 14 item pages: url 100%, .*headline 100%", result.log)
    run = _last_run(result.sqlite)
    assert run["finish_reason"] == "finished"
    coverage = run["coverage"]
    assert coverage["records"] == coverage["pages"] == 14 and coverage["below_minimum"] == []
    assert coverage["fields"]["body"] == 1.0 and coverage["by_kind"]["article"]["fields"]["summary"] == 1.0
    assert coverage["discovery"]["listing_pages"] > 0 and coverage["discovery"]["items_found"] >= 14


def test_redesigned_item_pages_fail_the_run_loudly(tmp_path):
    with RedesignServer(items_only=True) as srv:
        result = crawl_in_process("sections", srv.url, tmp_path, args=ARGS, settings=SETTINGS, check=False)
    assert result.returncode == 1, result.log[-3000:]
    match = re.search(
        r"ERROR: Field coverage below the minimum \(MAYADEEN_COVERAGE_MIN\): (.*?)\. Has the site", result.log
    )
    assert match, result.log[-3000:]
    failing = match.group(1)
    assert re.search(r"\bbody \d+% < 100%", failing), failing
    assert "result=FAILED (coverage_below_minimum)" in result.log
    run = _last_run(result.sqlite)
    assert run["finish_reason"] == "coverage_below_minimum"
    assert ", ".join(run["coverage"]["below_minimum"]) == failing
    assert run["coverage"]["fields"]["body"] < 1.0


def test_a_redesign_of_every_page_fails_the_run_loudly(tmp_path):
    ArticleStore(tmp_path / "mayadeen.sqlite").close()  # an earlier run's store (a new one is not kept empty)
    with RedesignServer(items_only=False) as srv:
        result = crawl_in_process("sections", srv.url, tmp_path, args=ARGS, settings=SETTINGS, check=False)
    assert result.returncode == 1, result.log[-3000:]
    assert re.search(
        r"ERROR: Field coverage below the minimum .*item links 0 \(\d+ home/listing pages fetched", result.log
    )
    assert _last_run(result.sqlite)["finish_reason"] == "coverage_below_minimum"
