"""The WARC archive and `scrapy reextract`: what a crawl archives, and records rebuilt from it alone.

Units first (writer, recovery of a killed run's file, capture selection), then end to end against
the fixture server: two crawls with archiving on (the second fetching everything again: revisits),
checked with warcio's own `check` and `index`; then, with the server stopped, `scrapy reextract`
into a fresh store must give every expected record exactly, in the store and in `-O` output; a
simulated parser change must become a new revision and be reported; and after a SIGKILL in the
middle of an archiving crawl the next run's archive must read cleanly and re-extract exactly.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from mayadeen.archive.background import BackgroundWriter
from mayadeen.archive.reader import load, scan, select
from mayadeen.archive.warc import OPEN_SUFFIX, Fetched, WarcWriter, recover
from mayadeen.commands.reextract import Command as Reextract
from mayadeen.days import DayWindow
from mayadeen.pages.article import ArticlePage
from mayadeen.store.captures import latest_capture
from mayadeen.store.model import JSON_COLUMNS, RECORD_COLUMNS
from mayadeen.store.sqlite import ArticleStore
from mayadeen.urls import PUBLIC_URL
from tests import inprocess
from tests.conftest import expected_records
from tests.fault_server import FaultServer
from tests.fixture_server import FixtureServer
from tests.scheduled import start_crawl, stored, wait_for

ARTICLE = PUBLIC_URL + "/news/politics/why-increase-of-us-alliances-in-asia-does-not-mean-an-asian-nato-time"
GALLERY = PUBLIC_URL + "/in-pictures/in-pictures-hajj-pilgrims-gather-at-mount-arafat"
VIDEO = PUBLIC_URL + "/videos/newsfeed/firefighters-battle-wildfires-in-syrias-latakia-countryside"
NO_JS = {"js": "0"}  # every item is also reached without the browser (Read Next, sitemap-free links)


def fetched(url: str, body: bytes, when: datetime | None = None) -> Fetched:
    return Fetched(
        url,
        when or datetime.now(UTC),
        "GET",
        [("User-Agent", "test")],
        200,
        "HTTP/1.1",
        [("Content-Type", "text/html; charset=utf-8"), ("Transfer-Encoding", "chunked")],
        body,
    )


def records_of(path: Path) -> list:
    """Every record of a WARC file: (type, target URI, headers, payload bytes)."""
    out = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            out.append(
                (
                    record.rec_type,
                    record.rec_headers.get_header("WARC-Target-URI"),
                    record.rec_headers,
                    record.content_stream().read(),
                )
            )
    return out


def warcio(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "warcio.cli", *args], capture_output=True, text=True, timeout=120)


def check_archive(directory: Path) -> list[dict]:
    """`warcio check` passes on every file; returns `warcio index` of all of them."""
    files = sorted(str(p) for p in directory.glob("*.warc.gz"))
    assert files, f"no WARC file in {directory}"
    assert not list(directory.glob("*" + OPEN_SUFFIX)), "a file was left open"
    check = warcio("check", "-v", *files)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout
    index = warcio("index", "-f", "warc-type,warc-target-uri,warc-payload-digest,http:status,offset,length", *files)
    assert index.returncode == 0, index.stderr
    return [json.loads(line) for line in index.stdout.splitlines()]


def assert_exact(rows: dict[str, dict], expected: dict[str, dict]) -> None:
    assert set(rows) == set(expected)
    for url, row in rows.items():
        for key, value in expected[url].items():
            got = json.loads(row[key]) if key in JSON_COLUMNS and row[key] is not None else row[key]
            assert got == value, f"{url}: {key}"


def reextract(warc: Path, store: Path | str, *extra: str) -> inprocess.CommandResult:
    """`scrapy reextract` in process (``tests.inprocess``) into ``store`` (a SQLite file, or a PostgreSQL URL)."""
    setting = (
        f"MAYADEEN_STORE_URL={store}" if str(store).startswith("postgresql://") else f"MAYADEEN_SQLITE_PATH={store}"
    )
    argv = ["reextract", "--warc-dir", str(warc), "-s", setting, "-L", "INFO", *extra]  # the whole log
    return inprocess.command(Reextract(), argv, inprocess.project_settings())


# --- units --------------------------------------------------------------------------------------


def test_writer_rotates_with_a_warcinfo_per_file_and_writes_revisits(tmp_path):
    writer = WarcWriter(tmp_path, "mayadeen-20250804000000-test-1", max_size=4000, info={"software": "mayadeen/t"})
    pages = [(f"{PUBLIC_URL}/news/politics/page-{i}", os.urandom(1500)) for i in range(3)]  # incompressible
    captures = [writer.write(fetched(url, body)) for url, body in pages]
    again = writer.write(fetched(pages[0][0], pages[0][1]))
    writer.close()
    assert [c.warc_type for c in captures] == ["response"] * 3 and again.warc_type == "revisit"
    assert again.digest == captures[0].digest
    files = sorted(tmp_path.glob("*.warc.gz"))
    assert len(files) >= 2 and writer.files == [f.name for f in files]
    for path in files:
        records = records_of(path)
        assert records[0][0] == "warcinfo"
        info = records[0][3].decode()
        assert "software: mayadeen/t" in info and "isPartOf: mayadeen-20250804000000-test-1" in info
        assert os.path.getsize(path) < 4000 + 3000  # closed at the first record past the limit
    revisit = [r for p in files for r in records_of(p) if r[0] == "revisit"][0]
    assert revisit[2].get_header("WARC-Profile") == "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
    assert revisit[2].get_header("WARC-Refers-To-Target-URI") == pages[0][0]
    assert revisit[2].get_header("WARC-Refers-To-Date") == captures[0].fetched_at
    check_archive(tmp_path)
    # Each capture's offset/length frame exactly one gzip member: its record.
    for capture in [*captures, again]:
        with (tmp_path / capture.file).open("rb") as f:
            f.seek(capture.offset)
            member = f.read(capture.length)
        assert gzip.decompress(member).startswith(b"WARC/1.1\r\n")
        assert f"WARC-Type: {capture.warc_type}".encode() in gzip.decompress(member)


def test_the_background_writer_keeps_the_order_waits_for_room_and_loses_nothing_on_close(tmp_path):
    writer = WarcWriter(tmp_path, "mayadeen-20250804000000-bg-1", max_size=10**9, info={"software": "mayadeen/t"})
    pages = [(f"{PUBLIC_URL}/news/politics/page-{i}", os.urandom(20_000)) for i in range(12)]
    pages.append((f"{PUBLIC_URL}/news/politics/again", pages[0][1]))  # planned after its original

    async def crawl():
        background = BackgroundWriter(writer, limit=2)
        written, room_found_with = [], []
        for url, body in pages:
            future = await background.submit(fetched(url, body))
            # room for a third fetch only once one of the two before it is written
            room_found_with.append(len(written) < 2 or any(f.done() for f in written[-2:]))
            written.append(future)
        await background.close()  # no write awaited before: close must write them all
        return [f.result() for f in written], room_found_with

    captures, room_found_with = asyncio.run(crawl())
    assert all(room_found_with)
    assert [c.url for c in captures] == [url for url, _ in pages]
    assert [c.offset for c in captures] == sorted(c.offset for c in captures)  # in the file, in order
    assert captures[-1].warc_type == "revisit" and captures[-1].digest == captures[0].digest
    (path,) = tmp_path.glob("*.warc.gz")  # closed: renamed from .open
    records = records_of(path)
    assert [r[1] for r in records if r[0] in ("response", "revisit")] == [url for url, _ in pages]
    check_archive(tmp_path)


def test_a_payload_an_earlier_run_archived_is_a_revisit_only_while_its_file_exists(tmp_path):
    earlier = WarcWriter(tmp_path, "earlier", max_size=10**9, info={"software": "t"})
    first = earlier.write(fetched(ARTICLE, b"same"))
    earlier.close()
    index = {first.digest: (first.url, first.fetched_at, first.file)}
    later = WarcWriter(tmp_path, "later", max_size=10**9, info={"software": "t"}, archived=index.get)
    assert later.write(fetched(ARTICLE, b"same")).warc_type == "revisit"
    assert later.write(fetched(ARTICLE, b"other")).warc_type == "response"
    later.close()
    (tmp_path / first.file).unlink()
    gone = WarcWriter(tmp_path, "gone", max_size=10**9, info={"software": "t"}, archived=index.get)
    assert gone.write(fetched(ARTICLE, b"same")).warc_type == "response"
    gone.close()


def test_response_headers_are_archived_as_received_but_for_the_transfer_coding(tmp_path):
    writer = WarcWriter(tmp_path, "run", max_size=10**9, info={"software": "t"})
    body = b"<html>caf\xc3\xa9</html>"
    writer.write(fetched(ARTICLE, body))
    writer.close()
    response = [r for r in records_of(next(tmp_path.glob("*.warc.gz"))) if r[0] == "response"][0]
    assert response[3] == body
    captures = list(scan(tmp_path))
    received = load(select(tmp_path, captures)[0])
    assert received.body == body and received.status == 200
    headers = dict(received.headers)
    assert "Transfer-Encoding" not in headers and headers["Content-Length"] == str(len(body))
    request = [r for r in records_of(next(tmp_path.glob("*.warc.gz"))) if r[0] == "request"][0]
    assert request[2].get_header("WARC-Concurrent-To")


def test_a_killed_runs_torn_file_is_cut_to_its_last_whole_record_and_closed(tmp_path):
    writer = WarcWriter(tmp_path, "killed", max_size=10**9, info={"software": "t"})
    for i in range(3):
        writer.write(fetched(f"{PUBLIC_URL}/news/politics/p-{i}", b"<p>%d</p>" % i * 500))
    open_file = tmp_path / (writer._name + ".open")  # the file a killed run leaves: never renamed
    whole = open_file.read_bytes()
    writer.write(fetched(f"{PUBLIC_URL}/news/politics/p-3", os.urandom(3000)))
    torn = open_file.read_bytes()
    # What a kill in the middle of the last write leaves: half of its bytes.
    os.truncate(open_file, len(whole) + (len(torn) - len(whole)) // 2)
    live = WarcWriter(tmp_path, "live", max_size=10**9, info={"software": "t"})
    live.write(fetched(f"{PUBLIC_URL}/news/politics/p-live", b"live"))
    os.close(writer._fd)  # the killed process's lock goes with it

    recovered = recover(tmp_path)
    assert recovered == [(open_file.name[: -len(".open")], (len(torn) - len(whole)) // 2)]
    assert (tmp_path / open_file.name[: -len(".open")]).read_bytes() == whole
    assert (tmp_path / (live._name + ".open")).exists(), "a file a live run holds was touched"
    live.close()
    urls = [c.url for c in scan(tmp_path)]
    assert sorted(urls) == sorted(
        [f"{PUBLIC_URL}/news/politics/p-{i}" for i in range(3)] + [f"{PUBLIC_URL}/news/politics/p-live"]
    )
    check_archive(tmp_path)


def test_selection_takes_the_latest_capture_per_page_and_resolves_revisits(tmp_path):
    writer = WarcWriter(tmp_path, "sel", max_size=10**9, info={"software": "t"})
    day1, day2 = datetime(2025, 8, 1, 10, tzinfo=UTC), datetime(2025, 8, 2, 10, tzinfo=UTC)
    writer.write(fetched(ARTICLE, b"v1", day1))
    writer.write(fetched(GALLERY, b"g", day1))
    writer.write(fetched(ARTICLE, b"v2", day2))
    writer.write(fetched(GALLERY, b"g", day2))  # identical: a revisit
    writer.write(fetched(PUBLIC_URL + "/news/politics", b"listing", day2))  # not an item page
    writer.close()
    captures = list(scan(tmp_path))
    chosen = {a.capture.url: a for a in select(tmp_path, captures)}
    assert set(chosen) == {ARTICLE, GALLERY}
    assert load(chosen[ARTICLE]).body == b"v2"
    assert chosen[GALLERY].capture.warc_type == "revisit" and load(chosen[GALLERY]).body == b"g"
    first_day = {a.capture.url: a for a in select(tmp_path, captures, window=DayWindow(until=date(2025, 8, 1)))}
    assert load(first_day[ARTICLE]).body == b"v1" and first_day[GALLERY].capture.warc_type == "response"
    assert [a.capture.url for a in select(tmp_path, captures, window=DayWindow(date(2025, 8, 3)))] == []
    assert [a.capture.url for a in select(tmp_path, captures, kinds={"gallery"})] == [GALLERY]
    assert [a.capture.url for a in select(tmp_path, captures, urls={ARTICLE})] == [ARTICLE]


def test_the_fetch_day_is_the_beirut_day(tmp_path):
    """A capture fetched at 23:30 UTC on 1 August was fetched at 02:30 on 2 August in Beirut."""
    writer = WarcWriter(tmp_path, "day", max_size=10**9, info={"software": "t"})
    writer.write(fetched(ARTICLE, b"late", datetime(2025, 8, 1, 23, 30, tzinfo=UTC)))
    writer.write(fetched(GALLERY, b"early", datetime(2025, 8, 1, 20, 59, tzinfo=UTC)))  # 23:59 in Beirut
    writer.close()
    captures = list(scan(tmp_path))

    def chosen(since=None, until=None) -> list[str]:
        return sorted(a.capture.url for a in select(tmp_path, captures, window=DayWindow(since, until)))

    aug1, aug2 = date(2025, 8, 1), date(2025, 8, 2)
    assert chosen(aug2, aug2) == [ARTICLE]
    assert chosen(aug1, aug1) == [GALLERY]
    assert chosen(until=aug1) == [GALLERY] and chosen(since=aug2) == [ARTICLE]


# --- end to end ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    """Two crawls into one store and one archive: the second fetches everything again (full=1)."""
    work = tmp_path_factory.mktemp("archived")
    with FixtureServer() as srv:
        first = inprocess.crawl(
            "sections",
            srv.url,
            work / "first",
            args=NO_JS,
            sqlite=work / "store.sqlite",
            settings={"MAYADEEN_WARC_DIR": str(work / "warc")},
        )
        second = inprocess.crawl(
            "sections",
            srv.url,
            work / "second",
            args={**NO_JS, "full": "1"},
            sqlite=work / "store.sqlite",
            settings={"MAYADEEN_WARC_DIR": str(work / "warc")},
        )
    # The server is stopped: from here on nothing can be fetched.
    return work, first, second


def test_archive_passes_warcio_check_and_lists_each_item_once_then_as_revisits(archived):
    work, first, second = archived
    index = check_archive(work / "warc")
    expected = expected_records()
    responses = [e["warc-target-uri"] for e in index if e["warc-type"] == "response"]
    revisits = [e["warc-target-uri"] for e in index if e["warc-type"] == "revisit"]
    requests = [e["warc-target-uri"] for e in index if e["warc-type"] == "request"]
    assert sorted(responses) == sorted(expected), "each item page archived once, only item pages"
    assert sorted(revisits) == sorted(expected), "the second crawl's identical fetches are revisits"
    assert sorted(requests) == sorted(responses + revisits)
    assert all(u.startswith(PUBLIC_URL + "/") for u in responses + revisits + requests), "a mirror URL was archived"
    assert {e["warc-type"] for e in index} == {"warcinfo", "response", "revisit", "request"}
    assert first.stat("mayadeen/warc/responses") == len(expected) and first.stat("mayadeen/warc/revisits") is None
    assert second.stat("mayadeen/warc/revisits") == len(expected) and second.stat("mayadeen/warc/responses") is None
    files = sorted((work / "warc").glob("*.warc.gz"))
    assert len(files) == 2 and all("-sections-" in f.name for f in files), "one file per run, named by run"
    for path in files:
        records = records_of(path)
        assert records[0][0] == "warcinfo" and b"operator-spider: sections" in records[0][3]
        for rec_type, _, headers, _ in records:
            if rec_type == "request":
                assert b"127.0.0.1" not in headers.to_bytes()


def test_index_rows_point_at_the_records_and_dates_match_the_records(archived):
    work, _, _ = archived
    expected = expected_records()
    with ArticleStore(work / "store.sqlite", readonly=True) as store:
        rows = store.conn.execute("SELECT url, article_id, warc_type, fetched_at FROM warc_captures").fetchall()
        assert sorted((u, t) for u, _, t, _ in rows) == sorted(
            [(u, "response") for u in expected] + [(u, "revisit") for u in expected]
        )
        for url, want in expected.items():
            latest = latest_capture(store, article_id=want["article_id"])
            assert latest["url"] == url and latest["warc_type"] == "revisit" and latest["status"] == 200
            assert latest == latest_capture(store, url=url)
            first_response = store.conn.execute(
                "SELECT fetched_at FROM warc_captures WHERE url = ? AND warc_type = 'response'", (url,)
            ).fetchone()
            # Unchanged content updates the row's metadata in place: scraped_at is the latest capture's
            # WARC-Date; the first capture stays the response the revisit refers to.
            assert store.get(url)["scraped_at"] == latest["fetched_at"][:19] + "Z"
            assert first_response[0] < latest["fetched_at"]
            with (work / "warc" / latest["warc_file"]).open("rb") as f:
                f.seek(latest["warc_offset"])
                record = next(iter(ArchiveIterator(f)))
                assert record.rec_headers.get_header("WARC-Target-URI") == url
                assert record.rec_headers.get_header("WARC-Date") == latest["fetched_at"]
                assert record.rec_headers.get_header("WARC-Payload-Digest") == latest["digest"]


def test_reextract_into_a_fresh_store_gives_every_record_exactly(archived):
    work, _, _ = archived
    out, fresh = work / "re" / "out.jsonl", work / "re" / "fresh.sqlite"
    out.parent.mkdir()
    out.write_text('{"stale": "line"}\n')
    proc = reextract(work / "warc", fresh, "-O", f"{out}:jsonlines")
    assert proc.returncode == 0, proc.log[-4000:]
    expected = expected_records()
    records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert sorted(r["url"] for r in records) == sorted(expected)
    for record in records:
        want = expected[record["url"]]
        assert {k: record[k] for k in want} == want, record["url"]
        assert set(record) == set(want) | {"scraped_at", "content_hash"}
    assert_exact(stored(fresh), expected)
    # The rebuilt store equals the crawled one: the same records (but scraped_at: the time of the
    # capture re-extracted, the second crawl's) and the same index of the latest captures.
    crawled = stored(work / "store.sqlite")
    for url, row in stored(fresh).items():
        assert {k: row[k] for k in RECORD_COLUMNS if k != "scraped_at"} == {
            k: crawled[url][k] for k in RECORD_COLUMNS if k != "scraped_at"
        }
    with ArticleStore(fresh, readonly=True) as store, ArticleStore(work / "store.sqlite", readonly=True) as old:
        runs = store.runs()
        assert [(r["spider"], r["items_new"], r["finish_reason"]) for r in runs] == [
            ("reextract", len(expected), "finished")
        ]
        assert runs[0]["responses_by_status"] == {"200": len(expected)}
        for url, want in expected.items():
            assert latest_capture(store, url=url) == latest_capture(old, url=url)
            assert store.get(url)["scraped_at"] == latest_capture(old, url=url)["fetched_at"][:19] + "Z"
    log = proc.log
    assert "Re-extraction report: 0 records changed, 0 unchanged, 14 new" in log
    assert "'downloader/exception_count'" not in log and "'log_count/ERROR'" not in log
    assert "mayadeen/warc/" not in log, "re-extraction archived again"


def change_the_parser(monkeypatch) -> None:
    """A simulated parser change: one item's headline and tags, another's shares (outside the content hash)."""
    extract = ArticlePage.to_item

    def fixed(self):
        item = extract(self)
        if item is not None and item["url"] == ARTICLE:
            item["headline"] = item["headline"] + " (fixed)"
            item["tags"] = item["tags"] + ["Fixed"]
        if item is not None and item["url"] == VIDEO:
            item["shares"] = (item["shares"] or 0) + 1
        return item

    monkeypatch.setattr(ArticlePage, "to_item", fixed)


def assert_parser_change_reported(proc: inprocess.CommandResult) -> None:
    assert proc.returncode == 0, proc.log[-4000:]
    [report] = re.findall(r"Re-extraction report: (.*)", proc.log)
    counts, fields = report.split("; fields changed most: ")
    assert counts == "2 records changed, 12 unchanged, 0 new"
    assert sorted(fields.split(", ")) == ["headline 1", "shares 1", "tags 1"]
    assert "Records changed only outside the content hash: 1 (updated in place, no new revision)" in proc.log


def assert_parser_change_stored(db) -> None:
    """The changed item has revision 2 (its first version filed), the shares change none."""
    expected = expected_records()
    row = db.get(ARTICLE)
    assert row["revision"] == 2
    assert row["headline"] == expected[ARTICLE]["headline"] + " (fixed)"
    assert row["tags"] == expected[ARTICLE]["tags"] + ["Fixed"]
    earlier = db.revisions(ARTICLE)
    assert [r["revision"] for r in earlier] == [1]
    assert earlier[0]["record"]["headline"] == expected[ARTICLE]["headline"]
    assert db.get(VIDEO)["revision"] == 1 and db.get(VIDEO)["shares"] == expected[VIDEO]["shares"] + 1
    assert all(db.get(u)["revision"] == 1 for u in expected if u != ARTICLE)


def test_a_parser_change_becomes_a_new_revision_and_is_reported(archived, monkeypatch):
    work, _, _ = archived
    store = work / "changed" / "store.sqlite"
    store.parent.mkdir()
    shutil.copy(work / "store.sqlite", store)
    change_the_parser(monkeypatch)
    proc = reextract(work / "warc", store)
    assert_parser_change_reported(proc)
    with ArticleStore(store, readonly=True) as db:
        assert_parser_change_stored(db)
        assert [r["spider"] for r in db.runs()] == ["sections", "sections", "reextract"]
        assert db.runs()[-1]["items_updated"] == 1 and db.runs()[-1]["items_unchanged"] == 13


def test_reextract_asks_for_no_failing_item(archived):
    """Re-extraction reads the archive: the store's failing items are the crawls' to ask for again."""
    work, _, _ = archived
    store = work / "failing" / "store.sqlite"
    store.parent.mkdir()
    shutil.copy(work / "store.sqlite", store)
    past, url = "2020-01-01T00:00:00Z", f"{PUBLIC_URL}/news/politics/x"
    with sqlite3.connect(store) as db:
        db.execute("INSERT INTO failing_items VALUES (?, 1, ?, ?, 'HTTP 500', ?)", (url, past, past, past))
    proc = reextract(work / "warc", store)
    assert proc.returncode == 0, proc.log[-4000:]
    assert "Asking again" not in proc.log and "mayadeen/failing/due" not in proc.stats  # it asked for it
    assert proc.stats.get("mayadeen/reextract/captures") == 14


def test_reextract_selects_by_url_and_kind_and_refuses_bad_options(archived):
    work, _, _ = archived
    only = work / "only" / "store.sqlite"
    only.parent.mkdir()
    proc = reextract(work / "warc", only, "--url", GALLERY + "?utm_source=x")
    assert proc.returncode == 0, proc.log[-4000:]
    assert set(stored(only)) == {GALLERY}
    proc = reextract(work / "warc", only, "--kind", "video")
    assert set(stored(only)) == {GALLERY} | {u for u, r in expected_records().items() if r["kind"] == "video"}
    proc = reextract(work / "warc", only, "--url", GALLERY, "--kind", "video")  # both apply
    assert proc.returncode == 0 and "No archived item page matches the selection" in proc.log
    bad_options = (
        ["--since", "2025-13-01"],
        ["--url", PUBLIC_URL + "/news"],
        ["--since", "2025-08-02", "--until", "2025-08-01"],
    )
    for bad in bad_options:
        proc = reextract(work / "warc", only, *bad)
        assert proc.returncode != 0 and "Re-extracting" not in proc.log, bad
    proc = reextract(work / "none", only)
    assert proc.returncode != 0 and "no WARC archive" in proc.log


def test_archiving_every_response_keeps_discovery_pages_and_still_reextracts_exactly(tmp_path):
    warc = tmp_path / "warc"
    with FixtureServer() as srv:
        crawl = inprocess.crawl(
            "sections",
            srv.url,
            tmp_path,
            args=NO_JS,
            settings={"MAYADEEN_WARC_DIR": str(warc), "MAYADEEN_WARC_ALL": "1"},
        )
    index = check_archive(warc)
    responses = [e for e in index if e["warc-type"] in ("response", "revisit")]
    assert len(responses) == crawl.stat("downloader/response_count")
    by_url = {e["warc-target-uri"]: e for e in responses}
    assert by_url[PUBLIC_URL + "/robots.txt"]["http:status"] == "200"
    assert by_url[PUBLIC_URL + "/news/politics"]["http:status"] == "200"
    assert (
        by_url[PUBLIC_URL + "/news/politics/iraqs-pmf-law-a-test-of-sovereignty-amid-us-objections"]["http:status"]
        == "301"
    )
    assert any(e["http:status"] == "404" for e in responses)
    assert all(u.startswith(PUBLIC_URL + "/") for u in by_url)
    with ArticleStore(crawl.sqlite, readonly=True) as db:
        indexed = db.conn.execute("SELECT url FROM warc_captures").fetchall()
    assert sorted(u for (u,) in indexed) == sorted(expected_records()), "only items are indexed, each once"
    proc = reextract(warc, tmp_path / "fresh.sqlite")
    assert proc.returncode == 0, proc.log[-4000:]
    assert_exact(stored(tmp_path / "fresh.sqlite"), expected_records())


# --- SIGKILL ------------------------------------------------------------------------------------


@pytest.mark.soak  # the quick set keeps the recovery: test_a_killed_runs_torn_file_is_cut_…
def test_sigkill_during_an_archiving_crawl_leaves_an_archive_that_reads_and_reextracts_exactly(tmp_path):
    work = tmp_path / "killed"
    warc, store = work / "warc", work / "mayadeen.sqlite"
    settings = {"MAYADEEN_WARC_DIR": str(warc), "CONCURRENT_REQUESTS": "2"}
    with FaultServer(delay=0.05) as srv:
        proc = start_crawl("sections", srv.url, work, args=NO_JS, settings=settings)
        try:

            def some_stored() -> bool:
                try:
                    with ArticleStore(store, readonly=True) as db:
                        return db.count() >= 3
                except (FileNotFoundError, sqlite3.Error):  # not created yet
                    return False

            wait_for(some_stored, timeout=120)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        [left_open] = warc.glob("*" + OPEN_SUFFIX)
        # A kill can fall in the middle of a write: leave half a record at the end, as that would.
        with left_open.open("ab") as f:
            f.write(gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\n" + os.urandom(2000))[:700])
        with ArticleStore(store, readonly=True) as db:
            killed_count = db.count()
        assert 3 <= killed_count < len(expected_records())
        after = inprocess.crawl("sections", srv.url, work, args=NO_JS, sqlite=store, settings=settings)
    assert after.stat("mayadeen/warc/recovered_files") == 1 and after.stat("mayadeen/warc/torn_bytes") >= 700
    assert "left open by a killed run" in after.log
    index = check_archive(warc)
    archived_urls = {e["warc-target-uri"] for e in index if e["warc-type"] in ("response", "revisit")}
    rows = stored(store)
    assert set(rows) == set(expected_records()) and set(rows) <= archived_urls

    fresh = work / "fresh.sqlite"
    proc = reextract(warc, fresh, "-O", f"{work / 're.jsonl'}:jsonlines")
    assert proc.returncode == 0, proc.log[-4000:]
    assert_exact(stored(fresh), expected_records())
    rebuilt = stored(fresh)
    for url, row in rows.items():
        assert row["content_hash"] == rebuilt[url]["content_hash"]


def test_the_reextraction_report_says_what_the_store_kept_out():
    """Records are compared before the store, which may then refuse them (an earlier version coming
    back, one lacking facts the stored version has): the report must not leave them counted as applied."""
    from mayadeen.archive.changes import report

    stats = {"mayadeen/reextract/changed": 3, "mayadeen/items/stale": 1, "mayadeen/items/degraded": 1}
    assert report(stats)[1] == (
        "Not stored: 2 of the records changed; the store kept its own version (modified later: 1;"
        " with facts the new one lacks: 1)"
    )
    assert len(report({"mayadeen/reextract/changed": 3})) == 1
