"""`scrapy reextract --warc`: the site's item pages out of a CC-NEWS-like WARC file, with no request.

The file is built by the test (``tests/ccnews_warc.py``): the fixture item pages among other sites'
pages, the site's host on another port, request, metadata, revisit and warcinfo records, a listing, a
redirect, non-HTML responses and a truncated last record; gzipped and plain, WARC/1.0 and 1.1. Every
fixture record must come out exact in the store, its capture indexed at the user's file and offset,
and everything else skipped and counted by reason. The command runs in process (``tests.inprocess``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from mayadeen.commands.reextract import Command as Reextract
from mayadeen.store.sqlite import ArticleStore
from tests import inprocess
from tests.ccnews_warc import build
from tests.conftest import expected_records
from tests.scheduled import stored
from tests.test_warc_archive import assert_exact


def reextract_warc(pattern: str, store: Path, *extra: str) -> inprocess.CommandResult:
    """``scrapy reextract --warc PATTERN`` in process (``tests.inprocess``): its exit status and log."""
    argv = ["reextract", "--warc", pattern, "-s", f"MAYADEEN_SQLITE_PATH={store}", "-s", "LOG_LEVEL=INFO", *extra]
    return inprocess.command(Reextract(), argv, inprocess.project_settings())


def stat(log: str, name: str) -> int | None:
    found = re.findall(rf"'{re.escape(name)}': (\d+)", log)
    return int(found[-1]) if found else None


@pytest.mark.parametrize("gzipped,version", [(True, "1.1"), (False, "1.0"), (True, "1.0"), (False, "1.1")])
def test_every_fixture_item_comes_out_of_a_ccnews_file_exactly_and_the_rest_is_counted(tmp_path, gzipped, version):
    warc = tmp_path / ("CC-NEWS-20250804123000-00001.warc" + (".gz" if gzipped else ""))
    counts = build(warc, gzipped=gzipped, version=version)
    assert (warc.read_bytes()[:2] == b"\x1f\x8b") == gzipped
    store = tmp_path / "mayadeen.sqlite"
    proc = reextract_warc(str(tmp_path / "CC-NEWS-*.warc*"), store)
    log = proc.log
    assert proc.returncode == 0, log[-4000:]
    expected = expected_records()
    assert counts["items"] == len(expected)
    assert_exact(stored(store), expected)

    # skipped and counted, by reason; nothing was requested but the archived captures
    for reason in (
        "warcinfo",
        "request",
        "metadata",
        "revisit",
        "other_host",
        "not_item",
        "status",
        "not_html",
        "truncated",
    ):
        assert stat(log, f"mayadeen/reextract/skipped/{reason}") == counts[reason], reason
    assert stat(log, "mayadeen/reextract/records") == sum(counts.values())
    assert stat(log, "downloader/request_count") == len(expected)
    assert stat(log, "mayadeen/reextract/not_archived") is None
    assert re.search(r"WARNING: .*the record at offset \d+ \(https://english\.almayadeen\.net/.*\) is truncated", log)
    assert re.search(
        rf"Read {sum(counts.values())} records from 1 WARC files: {len(expected)} responses of item"
        r" pages; skipped: .*other_host .*; items new 14, updated 0, unchanged 0",
        log,
    )

    # the capture index points at the user's file, at the records of the items
    with ArticleStore(store, readonly=True) as db:
        rows = db.rows("SELECT url, warc_file, warc_offset, warc_type FROM warc_captures")
    assert sorted(r["url"] for r in rows) == sorted(expected)
    with warc.open("rb") as stream:
        for row in rows:
            assert row["warc_file"] == str(warc.resolve()) and row["warc_type"] == "response"
            stream.seek(row["warc_offset"])
            record = next(iter(ArchiveIterator(stream)))
            assert record.rec_headers.get_header("WARC-Target-URI") == row["url"]

    # a second pass: the same captures, nothing changes; a progress line at every record
    again = reextract_warc(str(warc), store, "-s", "MAYADEEN_WARC_PROGRESS_SECONDS=0")
    assert again.returncode == 0, again.log[-4000:]
    assert stat(again.log, "mayadeen/reextract/unchanged") == len(expected)
    progress = re.findall(
        r"Read (\d+) records \([\d.]+/s\), file 1 of 1 \(CC-NEWS-[^)]+\): (\d+) item pages so far", again.log
    )
    assert [int(n) for n, _ in progress] == list(range(1, sum(counts.values()) + 1))
    assert int(progress[-1][1]) == len(expected)


def test_warc_option_refuses_what_names_no_file_and_the_archive_at_once(tmp_path):
    proc = reextract_warc(str(tmp_path / "none-*.warc.gz"), tmp_path / "s.sqlite")
    assert proc.returncode == 2 and "names no file" in proc.log
    build(tmp_path / "a.warc.gz", others=0)
    proc = reextract_warc(str(tmp_path / "a.warc.gz"), tmp_path / "s.sqlite", "--warc-dir", str(tmp_path))
    assert proc.returncode == 2 and "not both" in proc.log
