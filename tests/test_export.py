"""``scrapy export`` end to end: a crawl of the fixture mirror, exported, every file read back with its
real reader and compared with fixtures/expected; search and Datasette on the same store.

One module-scoped pair of crawls: the first store is copied as it was ("before"), then an item is
edited on the site and crawled again ("after": one revision).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from mayadeen.commands.export import Command as Export
from mayadeen.days import site_day
from mayadeen.record import content_hash, record_keys, utc_timestamp, validation_errors
from mayadeen.store.datasette import METADATA_PATH, metadata_text
from mayadeen.store.model import JSON_COLUMNS
from mayadeen.store.sqlite import ArticleStore
from tests import inprocess
from tests.conftest import ROOT, expected_records
from tests.fixture_server import FixtureServer, FixtureSite
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import CHANGED_PARAGRAPH, CHANGED_PATH, change_item
from tests.ticker_pages import STORED_FLASHES

P = "https://english.almayadeen.net"
CHANGED_URL = P + CHANGED_PATH
OLD_TEXT = "fuel shortages force pumping stations"
NEW_TEXT = "power cuts halt the pumping stations"
INTEGER_COLUMNS = {"read_time_minutes", "shares", "word_count"}
DATA_FILES = ("articles.jsonl", "articles.csv", "parquet")


@dataclass
class Stores:
    before: Path  # the store after the first crawl, copied
    after: Path  # the same store after the edited item was crawled again
    crawled: dict[str, dict]  # url -> the record the first crawl wrote to its JSON Lines feed


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> Stores:
    work = tmp_path_factory.mktemp("export")
    site = FixtureSite()
    with FixtureServer(site) as srv:
        first = crawl_in_process("sitemap", srv.url, work / "crawl")
        _copy(first.sqlite, work / "before" / "mayadeen.sqlite")
        change_item(site)
        html = site.overrides[CHANGED_PATH].body.decode("utf-8")
        assert OLD_TEXT in html
        site.override(CHANGED_PATH, html.replace(OLD_TEXT, NEW_TEXT))
        crawl_in_process("sitemap", srv.url, work / "crawl", jsonl=work / "crawl" / "run2.jsonl")
    return Stores(work / "before" / "mayadeen.sqlite", first.sqlite, {r["url"]: r for r in first.records()})


def scrapy_export_on_a_full_disk(*args: str | Path, limit_bytes: int) -> subprocess.CompletedProcess:
    """``scrapy export ARGS`` in a subprocess whose files may not grow past ``limit_bytes`` (a full disk):
    its exit status and stderr."""
    cmd = [sys.executable, "-m", "scrapy", "export", *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes,) * 2)

    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, preexec_fn=limit)


def export_in_process(*args: str | Path, check: bool = True) -> inprocess.CommandResult:
    """``scrapy export ARGS`` in process (``tests.inprocess``): what it writes and prints, its exit status
    and stderr (``log``); the process's own exit status and stderr are checked on a full disk, in a
    subprocess (``scrapy_export_on_a_full_disk``)."""
    proc = inprocess.command(Export(), ["export", *map(str, args)], inprocess.project_settings())
    if check:
        assert proc.returncode == 0, f"export failed ({proc.returncode}):\n{proc.log[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def full_export(stores, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full") / "dataset"
    proc = export_in_process(out, "--store", stores.before)
    assert "articles.jsonl" in proc.stdout and "14 items published" in proc.stdout
    return out


# --- reading the files back ---------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    """Header and records of an export's CSV: UTF-8 with a byte-order mark, the ``'`` that escapes a
    formula dropped."""
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header, records = rows[0], []
    for row in rows[1:]:
        record = {}
        for key, cell in zip(header, row, strict=True):
            if cell == "":
                record[key] = None
            elif key in JSON_COLUMNS:
                record[key] = json.loads(cell)
            elif key in INTEGER_COLUMNS:
                record[key] = int(cell)
            else:
                record[key] = cell.removeprefix("'")
        records.append(record)
    return header, records


def read_parquet(path: Path, order: tuple[str, ...] = ("date_published", "url")) -> tuple[pa.Schema, list[dict]]:
    """The schema and the records (times as text again), sorted by ``order``; the first of ``order``
    is the time that names each row's partition."""
    table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
    records = []
    for row in table.to_pylist():
        year, month = row.pop("year"), row.pop("month")
        record = {k: (utc_timestamp(v) if isinstance(v, datetime) else v) for k, v in row.items()}
        assert (year, month) == (int(record[order[0]][:4]), int(record[order[0]][5:7]))
        records.append(record)
    return table.schema, sorted(records, key=lambda r: tuple(r[k] for k in order))


def assert_matches_expected(records: list[dict]) -> None:
    expected = expected_records()
    assert sorted(r["url"] for r in records) == sorted(expected)
    for record in records:
        want = expected[record["url"]]
        assert list(record) == list(record_keys())
        for key, value in want.items():
            assert record[key] == value, (record["url"], key)
        assert record["content_hash"] == content_hash(record)
        assert validation_errors(record) == []


# --- the data files -----------------------------------------------------------------------------


def test_jsonl_is_the_crawled_records_in_order(stores, full_export):
    records = read_jsonl(full_export / "articles.jsonl")
    assert_matches_expected(records)
    assert records == [stores.crawled[r["url"]] for r in records]  # same keys, same values as the crawl
    assert [(r["date_published"], r["url"]) for r in records] == sorted(
        (r["date_published"], r["url"]) for r in records
    )


def test_csv_reads_back_to_the_same_records(full_export):
    raw = (full_export / "articles.csv").read_bytes()
    assert raw.count(b"\r\n") >= 15 and b"{'url'" not in raw and b"['" not in raw
    header, records = read_csv(full_export / "articles.csv")
    assert header == list(record_keys())
    assert_matches_expected(records)
    assert records == read_jsonl(full_export / "articles.jsonl")


def test_parquet_is_typed_and_reads_back_to_the_same_records(full_export):
    schema, records = read_parquet(full_export / "parquet")
    assert_matches_expected(records)
    assert records == read_jsonl(full_export / "articles.jsonl")
    assert schema.field("tags").type == pa.list_(pa.string())
    assert schema.field("authors").type == pa.list_(pa.string())
    assert pa.types.is_struct(schema.field("image").type)
    assert [f.name for f in schema.field("image").type] == ["url", "caption", "credit"]
    assert pa.types.is_struct(schema.field("images").type.value_type)
    assert pa.types.is_struct(schema.field("related").type.value_type)
    # Parquet has no seconds unit: whole seconds as milliseconds
    assert schema.field("date_published").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("word_count").type == pa.int64() and schema.field("shares").type == pa.int64()
    months = sorted(
        p.relative_to(full_export / "parquet").parts[:2] for p in (full_export / "parquet").rglob("*.parquet")
    )
    assert months == sorted({(f"year={r['date_published'][:4]}", f"month={r['date_published'][5:7]}") for r in records})


def test_manifest_describes_every_file(full_export):
    import hashlib

    manifest = json.loads((full_export / "manifest.json").read_text("utf-8"))
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {str(p.relative_to(full_export)) for p in full_export.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(listed) == on_disk
    for path, entry in listed.items():
        data = (full_export / path).read_bytes()
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert listed["articles.jsonl"]["rows"] == listed["articles.csv"]["rows"] == 14
    assert listed["breaking.jsonl"]["rows"] == manifest["breaking"]["flashes"] == 10  # harvested by the crawl
    assert sum(e["rows"] for p, e in listed.items() if p.startswith("parquet/")) == 14
    assert manifest["items"] == 14 and manifest["store_schema_version"] >= 1
    assert manifest["date_published"] == {"first": "2023-08-18T18:45:00Z", "last": "2025-08-04T07:20:00Z"}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_second_export_is_byte_identical(stores, full_export, tmp_path):
    again = tmp_path / "again"
    export_in_process(again, "--store", stores.before)
    first, second = _files(full_export), _files(again)
    assert set(first) == set(second)
    for name in first:
        if name != "manifest.json":
            assert first[name] == second[name], name
    m1, m2 = (json.loads(x["manifest.json"]) for x in (first, second))
    assert {**m1, "exported_at": None, "store": None} == {**m2, "exported_at": None, "store": None}

    # --overwrite into the same directory: the same bytes again, no staging left behind
    export_in_process(again, "--store", stores.before, "--overwrite")
    assert {k: v for k, v in _files(again).items() if k != "manifest.json"} == {
        k: v for k, v in first.items() if k != "manifest.json"
    }
    assert [p.name for p in again.iterdir() if p.name.startswith(".")] == []


def _beside(store: Path) -> list[str]:
    """The store's own file and whatever SQLite keeps beside it (-wal, -shm, -journal)."""
    return sorted(p.name for p in store.parent.iterdir() if p.name.startswith(store.name))


def _headlines(out: Path) -> dict[str, str]:
    return {r["url"]: r["headline"] for r in read_jsonl(out / "articles.jsonl")}


def test_export_leaves_nothing_beside_a_store_it_only_read(stores, tmp_path):
    """No empty -wal/-shm left behind (a mode=ro connection made them and could not remove them), and
    not a byte of the store changed."""
    store = tmp_path / "store" / "mayadeen.sqlite"
    _copy(stores.before, store)
    before = store.read_bytes()
    assert _beside(store) == ["mayadeen.sqlite"]
    export_in_process(tmp_path / "out", "--store", store, "--format", "jsonl")
    assert _beside(store) == ["mayadeen.sqlite"]
    assert store.read_bytes() == before
    assert len(_headlines(tmp_path / "out")) == 14


def test_export_while_a_crawl_writes_reads_what_is_committed_and_holds_nothing_up(stores, tmp_path):
    """A crawl's connection is open, has committed a change SQLite keeps in the -wal, and holds a
    write transaction all through the export: the export neither waits for it nor sees its
    uncommitted write, the crawl then commits, and SQLite removes the -wal/-shm once the last
    connection (the crawl's) closes."""
    store = tmp_path / "store" / "mayadeen.sqlite"
    _copy(stores.before, store)
    first, second = sorted(_headlines_of(store))[:2]
    with ArticleStore(store) as crawl:
        crawl.conn.execute("UPDATE articles SET headline = 'committed' WHERE url = ?", (first,))
        assert _beside(store) == ["mayadeen.sqlite", "mayadeen.sqlite-shm", "mayadeen.sqlite-wal"]
        crawl.conn.execute("BEGIN IMMEDIATE")
        crawl.conn.execute("UPDATE articles SET headline = 'uncommitted' WHERE url = ?", (second,))
        export_in_process(tmp_path / "out", "--store", store, "--format", "jsonl")
        crawl.conn.execute("COMMIT")
    headlines = _headlines(tmp_path / "out")
    assert headlines[first] == "committed" and headlines[second] not in ("committed", "uncommitted")
    assert _beside(store) == ["mayadeen.sqlite"]
    assert _headlines_of(store)[second] == "uncommitted"


def _headlines_of(store: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(store)) as conn:
        return dict(conn.execute("SELECT url, headline FROM articles"))


def test_overwrite_with_fewer_formats_leaves_only_this_export(stores, full_export, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(full_export, out)
    (out / "notes.txt").write_text("mine")
    export_in_process(out, "--store", stores.before, "--format", "jsonl", "--kind", "video", "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "articles.jsonl",
        "croissant.json",
        "manifest.json",
        "notes.txt",
        "report.html",
    ]
    assert [r["kind"] for r in read_jsonl(out / "articles.jsonl")] == ["video", "video"]


# --- selections ---------------------------------------------------------------------------------


def _published_day(record: dict) -> date:
    return site_day(record["date_published"])  # the day --since/--until mean: Beirut's


SELECTIONS = {
    "since-until": (
        ["--since", "2025-07-01", "--until", "2025-07-31"],
        lambda r: date(2025, 7, 1) <= _published_day(r) <= date(2025, 7, 31),
    ),
    "sections-and-a-group": (
        ["--section", "Politics,opinion,Videos"],
        lambda r: r["section"] in {"Politics", "Opinion"} or r["section_group"] == "Videos",
    ),
    "kind": (["--kind", "video,gallery"], lambda r: r["kind"] in {"video", "gallery"}),
    "kind-and-since": (
        ["--kind", "article", "--since", "2025-07-31"],
        lambda r: r["kind"] == "article" and _published_day(r) >= date(2025, 7, 31),
    ),
}


@pytest.mark.parametrize("name", SELECTIONS)
def test_selection_exports_exactly_the_right_items(stores, tmp_path, name):
    args, wanted = SELECTIONS[name]
    export_in_process(tmp_path / "sel", "--store", stores.before, "--format", "jsonl,parquet", *args)
    want = sorted(u for u, r in expected_records().items() if wanted(r))
    assert 0 < len(want) < 14
    assert sorted(r["url"] for r in read_jsonl(tmp_path / "sel" / "articles.jsonl")) == want
    assert sorted(r["url"] for r in read_parquet(tmp_path / "sel" / "parquet")[1]) == want
    assert not (tmp_path / "sel" / "articles.csv").exists()


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--format", "jsonl,xml"], "--format"),
    (["--since", "2025-13-01"], "--since"),
    (["--until", "1 Aug 2025"], "--until"),
    (["--since", "2025-08-02", "--until", "2025-08-01"], "after --until"),
    (["--kind", "podcast"], "--kind"),
    (["--bogus"], "unknown option --bogus"),
    (["second-dir"], "exactly one export directory"),
])  # fmt: skip
def test_bad_options_one_line_exit_2(stores, tmp_path, args, message):
    proc = export_in_process(tmp_path / "out", "--store", stores.before, *args, check=False)
    assert proc.returncode == 2
    assert len(proc.log.strip().splitlines()) == 1 and message in proc.log
    assert not (tmp_path / "out").exists()


def test_unreadable_store_one_line_exit_1(tmp_path):
    missing = export_in_process(tmp_path / "out", "--store", tmp_path / "none.sqlite", check=False)
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    junk = export_in_process(tmp_path / "out", "--store", tmp_path / "junk.sqlite", check=False)
    for proc in (missing, junk):
        assert proc.returncode == 1 and len(proc.log.strip().splitlines()) == 1, proc.log
        assert "cannot read the store" in proc.log
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_non_empty_directory_needs_overwrite(stores, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = export_in_process(out, "--store", stores.before, check=False)
    assert proc.returncode == 1 and len(proc.log.strip().splitlines()) == 1 and "--overwrite" in proc.log
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_full_disk_leaves_the_earlier_export_in_place(stores, full_export, tmp_path):
    """In a real process (the file-size limit is the process's): its exit status and its one line on
    stderr. The command's status reaches the process as Scrapy's ``cmdline`` hands on ``exitcode``, 2
    as 1, so the usage errors above run in process only."""
    out = tmp_path / "out"
    export_in_process(out, "--store", stores.before, "--format", "jsonl")
    before = _files(out)
    # The file-size limit makes a write fail as a full disk does (EFBIG instead of ENOSPC); above the
    # 32 KiB of the store's -shm file, below the 60 KB of articles.jsonl.
    proc = scrapy_export_on_a_full_disk(out, "--store", stores.before, "--overwrite", limit_bytes=40_000)
    assert proc.returncode == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "failed: File too large" in proc.stderr
    assert _files(out) == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no staging left


# --- revisions and search -----------------------------------------------------------------------


def test_with_revisions_exports_the_earlier_version(stores, tmp_path):
    out = tmp_path / "rev"
    export_in_process(out, "--store", stores.after, "--with-revisions", "--format", "jsonl,parquet")
    articles = {r["url"]: r for r in read_jsonl(out / "articles.jsonl")}
    revisions = read_jsonl(out / "revisions.jsonl")
    assert [(r["url"], r["revision"]) for r in revisions] == [(CHANGED_URL, 1)]
    old, new = revisions[0], articles[CHANGED_URL]
    assert OLD_TEXT in old["body"] and CHANGED_PARAGRAPH not in old["body"]
    assert NEW_TEXT in new["body"] and CHANGED_PARAGRAPH in new["body"] and OLD_TEXT not in new["body"]
    assert {k: old[k] for k in expected_records()[CHANGED_URL]} == expected_records()[CHANGED_URL]
    assert old["seen_at"] and validation_errors({k: old[k] for k in record_keys()}) == []
    _, parquet = read_parquet(out / "parquet_revisions")
    assert parquet == revisions
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["rows"] == {"articles": 14, "revisions": 1, "breaking": 10}


def _search(store: Path, query: str) -> list[str]:
    con = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)
    try:
        return [
            u
            for (u,) in con.execute(
                "SELECT a.url FROM articles_fts f JOIN articles a ON a.rowid = f.rowid WHERE articles_fts MATCH ?"
                " ORDER BY bm25(articles_fts)",
                (query,),
            )
        ]
    finally:
        con.close()


def _phrase(text: str) -> str:
    """Eight words from the middle of ``text`` as an FTS5 phrase."""
    words = ["".join(ch for ch in w if ch.isalnum()) for w in text.split()]
    words = [w for w in words if w]
    middle = len(words) // 2
    return '"' + " ".join(words[middle : middle + 8]) + '"'


def test_fts_phrase_finds_exactly_the_item(stores):
    for url, record in expected_records().items():
        assert _search(stores.before, _phrase(record["body"])) == [url]
    assert _search(stores.before, f'"{OLD_TEXT}"') == [CHANGED_URL]
    assert _search(stores.before, 'tags:"Popular Mobilization Forces"') == [
        P + "/news/politics/iraqs-pmf-law-seen-as-test-of-sovereignty-amid-us-objections"
    ]


def test_fts_after_a_revision_finds_the_new_text_not_the_old(stores):
    assert _search(stores.after, f'"{NEW_TEXT}"') == [CHANGED_URL]
    assert _search(stores.after, _phrase(CHANGED_PARAGRAPH)) == [CHANGED_URL]
    assert _search(stores.after, f'"{OLD_TEXT}"') == []
    con = sqlite3.connect(stores.after)
    try:  # raises when the index and the rows disagree
        con.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        con.close()


# --- the report ---------------------------------------------------------------------------------


def test_report_renders_offline_with_every_chart(full_export, tmp_path):
    from playwright.sync_api import sync_playwright

    page_html = (full_export / "report.html").read_text("utf-8")
    assert "<script" not in page_html.lower()
    requests = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/lib/chromium/chromium", headless=True)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
            context.route("**/*", lambda route: (requests.append(route.request.url), route.abort()))
            page = context.new_page()
            page.set_content(page_html, wait_until="load")
            figures = page.locator("figure.chart")
            assert figures.count() == 6
            boxes = {}
            for i in range(6):
                chart = figures.nth(i).locator("svg")
                assert chart.locator("path, use").count() > 20
                boxes[figures.nth(i).get_attribute("id")] = chart.bounding_box()
            shot = tmp_path / "report.png"
            page.screenshot(path=shot, full_page=True)
        finally:
            browser.close()
    assert list(boxes) == ["items-over-time", "top-tags", "top-authors", "body-length", "revisions", "crawl-health"]
    assert all(box["width"] > 500 and box["height"] > 100 for box in boxes.values()), boxes  # as wide as the page
    assert all(boxes[chart]["height"] > 200 for chart in ("items-over-time", "crawl-health")), boxes  # full height
    assert requests == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


# --- Datasette ----------------------------------------------------------------------------------


def test_shipped_datasette_metadata_is_generated_from_the_schema():
    assert METADATA_PATH.read_text("utf-8") == metadata_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str):
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=10) as response:
        return json.loads(response.read())


def test_datasette_answers_search_with_the_right_row(stores, tmp_path):
    store = tmp_path / "mayadeen.sqlite"  # the metadata is for a database named "mayadeen"
    _copy(stores.after, store)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
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
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get_json(f"{base}/-/versions.json")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"datasette did not start: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.2)
        found = _get_json(f"{base}/mayadeen/articles.json?_search=power+cuts+halt&_shape=array&_json=tags")
        assert [r["url"] for r in found] == [CHANGED_URL]
        assert found[0]["tags"] == expected_records()[CHANGED_URL]["tags"]
        assert _get_json(f"{base}/mayadeen/articles.json?_search={OLD_TEXT.replace(' ', '+')}&_shape=array") == []
        table = _get_json(f"{base}/mayadeen/articles.json?_size=0")
        assert {"section", "kind", "tags", "authors"} <= set(table["facet_results"])
        tags = {f["value"]: f["count"] for f in table["facet_results"]["tags"]["results"]}
        assert tags["Gaza"] == sum("Gaza" in r["tags"] for r in expected_records().values())
        flashes = _get_json(f"{base}/mayadeen/breaking_news.json?_search=%22feed+the+people%22&_shape=array")
        assert [(r["time"], r["text"]) for r in flashes] == STORED_FLASHES[:1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(
    ("formats", "loaded"),
    [
        ("jsonl,csv", 'load_dataset("json", data_files="articles.jsonl"'),
        ("csv", 'pd.read_csv("articles.csv", encoding="utf-8-sig")'),
    ],
)
def test_the_card_describes_and_loads_only_the_formats_written(stores, tmp_path, formats, loaded):
    export_in_process(tmp_path / "out", "--store", stores.before, "--format", formats)
    card = (tmp_path / "out" / "README.md").read_text("utf-8")
    assert not any(p.name.startswith("parquet") for p in (tmp_path / "out").iterdir())
    for parquet in ("part-N.parquet", "read_parquet", 'ds.dataset("parquet"', "partition columns"):
        assert parquet not in card, parquet
    assert loaded in card
    assert ("`*.jsonl`: one JSON record per line" in card) == ("jsonl" in formats)
    assert "`*.csv`: RFC 4180" in card


def test_an_export_over_an_unchanged_one_says_it_kept_its_files(stores, tmp_path):
    first = export_in_process(tmp_path / "out", "--store", stores.before, "--format", "jsonl,parquet")
    again = export_in_process(tmp_path / "out", "--store", stores.before, "--format", "jsonl,parquet", "--overwrite")
    assert "kept from the earlier export" not in first.stdout
    files = len([line for line in first.stdout.splitlines() if line.startswith(("articles", "breaking", "parquet"))])
    assert files > 3
    assert (
        again.stdout.splitlines()[-1]
        == f"{files + 3} of these files kept from the earlier export there (their rows did not change)"
    )
