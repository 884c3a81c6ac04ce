"""``scrapy export`` of the breaking news: a `breaking` crawl of the fixture mirror, exported, every file
read back with its real reader and compared with the flashes the store holds and the ticker shows.

One module-scoped pair of `breaking` crawls into a store of flashes only (no articles): the stored
home page, then a ticker built at test time where one flash was edited, one lost its time and one
links to an article.
"""

from __future__ import annotations

import ast
import json
import re
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest
from jsonschema import Draft202012Validator

from mayadeen.record import flash_schema
from mayadeen.store.fts import BREAKING_FTS
from tests import inprocess
from tests.fixture_server import FixtureServer, FixtureSite
from tests.test_export import export_in_process, read_csv, read_jsonl, read_parquet
from tests.ticker_pages import RECORD_KEYS, STORED_FLASHES, item, stored_items, with_ticker

P = "https://english.almayadeen.net"
ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [*RECORD_KEYS, "edits"]
ORIGINAL = STORED_FLASHES[0][1]  # "Trump: We want to feed the people in Gaza, …" at 12:18Z
EDITED = ORIGINAL.replace("people in Gaza", "people of Gaza")
UNDATED = "Flash without a time: Israeli drones over Beirut."
LINKED_PATH = "/news/politics/un-warns-gaza-faces-water-crisis-looming-famine-under-israeli-siege"
LINKED = ("2025-08-04T10:05:00+03:00", "UN warns Gaza faces a water crisis")


def item_docstrings(module: str, name: str) -> dict[str, str]:
    """An item class's field docstrings, in declaration order, read from the source."""
    tree = ast.parse((ROOT / "mayadeen" / module).read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    docs = {}
    for node, following in zip(cls.body, cls.body[1:], strict=False):
        if isinstance(node, ast.Assign) and isinstance(following, ast.Expr):
            docs[node.targets[0].id] = " ".join(following.value.value.split()).replace("``", "`")
    return docs


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("breaking_export")
    site = FixtureSite()
    with FixtureServer(site) as srv:
        inprocess.crawl("breaking", srv.url, work, jsonl=work / "breaking.jsonl")
        site.override(
            "/",
            with_ticker(
                [
                    item("2025-08-04T15:18:00+03:00", EDITED),
                    item(None, UNDATED),
                    item(LINKED[0], f'<a href="{LINKED_PATH}">{LINKED[1]}</a>', raw=True),
                    *stored_items()[1:],
                ]
            ),
        )
        second = inprocess.crawl("breaking", srv.url, work, jsonl=work / "breaking.jsonl")
    assert second.stat("mayadeen/breaking/flashes/new") == 2 and second.stat("mayadeen/breaking/flashes/updated") == 1
    return second.sqlite


def stored_flashes(db: Path) -> list[dict]:
    """The breaking_news rows as export records, read with plain sqlite3, ordered by time."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM breaking_news ORDER BY time, id").fetchall()
    finally:
        con.close()
    return [
        {
            **{k: r[k] for k in RECORD_KEYS},
            "time_estimated": bool(r["time_estimated"]),
            "edits": json.loads(r["edits"] or "[]"),
        }
        for r in rows
    ]


@pytest.fixture(scope="module")
def full_export(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full") / "dataset"
    proc = export_in_process(out, "--store", store)
    assert "breaking.jsonl" in proc.stdout and "12 breaking-news flashes, 2025-08-04T07:05:00Z – " in proc.stdout
    return out


def test_flash_schema_is_the_flash_item():
    schema = flash_schema()
    Draft202012Validator.check_schema(schema)
    docs = item_docstrings("breaking/item.py", "FlashItem")
    assert list(schema["properties"]) == list(docs) == RECORD_KEYS == schema["required"]
    assert {k: p["description"] for k, p in schema["properties"].items()} == docs


def test_jsonl_is_every_stored_flash(store, full_export):
    records = read_jsonl(full_export / "breaking.jsonl")
    assert records == stored_flashes(store)
    assert all(list(r) == COLUMNS for r in records)
    by_text = {r["text"]: r for r in records}
    want = {text: time for time, text in STORED_FLASHES[1:]}
    want |= {EDITED: STORED_FLASHES[0][0], LINKED[1]: "2025-08-04T07:05:00Z"}
    assert {t: r["time"] for t, r in by_text.items() if t != UNDATED} == want
    assert by_text[EDITED]["edits"] == [ORIGINAL]
    undated = by_text[UNDATED]
    assert undated["time_estimated"] is True and undated["time"] == undated["first_seen"]
    assert by_text[LINKED[1]]["url"] == by_text[LINKED[1]]["article_url"] == P + LINKED_PATH
    assert sum(r["time_estimated"] or bool(r["edits"]) or r["url"] is not None for r in records) == 3
    validator = Draft202012Validator(flash_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    for record in records:
        assert list(validator.iter_errors({k: record[k] for k in RECORD_KEYS})) == []
    assert (full_export / "articles.jsonl").read_text() == ""  # a store of flashes only exports no items


def test_csv_reads_back_to_the_same_flashes(full_export):
    raw = (full_export / "breaking.csv").read_bytes()
    assert b",false," in raw and b",true," in raw and b"False" not in raw and b"['" not in raw
    header, rows = read_csv(full_export / "breaking.csv")
    assert header == COLUMNS
    records = [{**r, "time_estimated": json.loads(r["time_estimated"]), "edits": json.loads(r["edits"])} for r in rows]
    assert records == read_jsonl(full_export / "breaking.jsonl")


def test_parquet_is_typed_and_partitioned_by_the_month_of_time(full_export):
    root = full_export / "parquet_breaking"
    schema, records = read_parquet(root, order=("time", "text"))
    assert schema.names == [*COLUMNS, "year", "month"]
    assert schema.field("time").type == schema.field("first_seen").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("time_estimated").type == pa.bool_() and not schema.field("time_estimated").nullable
    assert schema.field("edits").type == pa.list_(pa.string())
    assert not schema.field("text").nullable and schema.field("article_url").nullable
    assert records == sorted(read_jsonl(full_export / "breaking.jsonl"), key=lambda r: (r["time"], r["text"]))
    assert (root / "year=2025" / "month=08").is_dir()


def test_manifest_and_card_describe_the_flashes(full_export):
    manifest = json.loads((full_export / "manifest.json").read_text("utf-8"))
    listed = {f["path"]: f["rows"] for f in manifest["files"]}
    assert listed["breaking.jsonl"] == listed["breaking.csv"] == manifest["rows"]["breaking"] == 12
    assert sum(n for p, n in listed.items() if p.startswith("parquet_breaking/")) == 12
    summary = manifest["breaking"]
    assert {k: summary[k] for k in ("flashes", "linked", "edited", "estimated", "first")} == {
        "flashes": 12,
        "linked": 1,
        "edited": 1,
        "estimated": 1,
        "first": "2025-08-04T07:05:00Z",
    }
    assert summary["record_schema"] == flash_schema()["$id"]

    card = (full_export / "README.md").read_text("utf-8")
    assert "## Breaking news" in card and "- Flashes: **12**, dated 2025-08-04T07:05:00Z – " in card
    assert "1 linked to an article, 1 edited, 1 with an estimated time" in card
    fields = card.split("## Fields of `breaking`", 1)[1].split("\n## ", 1)[0]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in fields.splitlines() if line.startswith("| ")}
    assert list(rows)[2:] == COLUMNS  # after the header and its rule
    for name, node in flash_schema()["properties"].items():
        assert rows[name].endswith(f" | {node['description']} |"), name
    assert "| time_estimated | bool, not null |" in rows["time_estimated"]
    assert "| edits | list<item: string>, not null |" in rows["edits"]


def test_since_until_select_flashes_by_time_section_and_kind_leave_them_out(store, full_export, tmp_path):
    export_in_process(
        tmp_path / "day", "--store", store, "--format", "jsonl", "--since", "2025-08-04", "--until", "2025-08-04"
    )
    dated = [r for r in read_jsonl(full_export / "breaking.jsonl") if r["text"] != UNDATED]
    assert read_jsonl(tmp_path / "day" / "breaking.jsonl") == dated and len(dated) == 11

    export_in_process(tmp_path / "kind", "--store", store, "--format", "jsonl,parquet", "--kind", "article")
    assert sorted(p.name for p in (tmp_path / "kind").iterdir()) == [
        "README.md",
        "articles.jsonl",
        "croissant.json",
        "manifest.json",
        "parquet",
        "report.html",
    ]
    assert "breaking" not in json.loads((tmp_path / "kind" / "manifest.json").read_text("utf-8"))


def _search(db: Path, query: str) -> list[str]:
    con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return [
            t
            for (t,) in con.execute(
                f"SELECT b.text FROM {BREAKING_FTS.name} f JOIN breaking_news b ON b.id = f.rowid"
                f" WHERE {BREAKING_FTS.name} MATCH ? ORDER BY bm25({BREAKING_FTS.name})",
                (query,),
            )
        ]
    finally:
        con.close()


def test_fts_phrase_finds_the_flash_and_follows_its_edit(store):
    for time, text in STORED_FLASHES[1:]:
        words = re.findall(r"[^\W_]+", text)  # the tokens FTS5's unicode61 tokenizer makes
        assert _search(store, '"' + " ".join(words[2:8]) + '"') == [text], time
    assert _search(store, '"people of Gaza"') == [EDITED]
    assert _search(store, '"people in Gaza"') == []
