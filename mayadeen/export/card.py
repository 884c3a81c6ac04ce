"""The dataset card (``README.md`` of an export): what the data is, every field, what it holds, how to load it.

The field table is generated from the datasets' JSON Schemas (descriptions and types), so the card
never says something the schema does not. Every other value in a table comes from the store, that
is from the site: it is escaped for Markdown and HTML (``escape.markdown_text``).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mayadeen.export.arrow import arrow_field
from mayadeen.export.datasets import FORMATS, Dataset
from mayadeen.export.escape import markdown_text
from mayadeen.export.profile import Profile
from mayadeen.record import flash_schema, resolve

RECENT_RUNS = 10
_FORMULAS = {
    True: "A text cell that starts with `=`, `+`, `-`, `@`, a tab, a carriage return or `'` has a `'` put in "
    "front, so that a spreadsheet shows it instead of running it as a formula: drop the first character "
    "of a cell that starts with `'` to get the value back.",
    False: "Cells are written as they are, formulas included (`MAYADEEN_EXPORT_CSV_ESCAPE_FORMULAS` was off): "
    "do not open these files in a spreadsheet.",
}
_ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _schema_cell(text: Any) -> str:
    """The schema's own Markdown (code spans in descriptions) in a table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _rows(json_schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, Parquet type, description) for every property, nested ones as ``parent.child``."""
    out = []

    def walk(prefix: str, properties: dict[str, Any]) -> None:
        for name, node in properties.items():
            field = arrow_field(name, node, json_schema)
            kind = str(field.type) + ("" if field.nullable else ", not null")
            out.append((prefix + name, kind, node.get("description", "")))
            target = _resolve_items(node, json_schema)
            if target is not None:
                walk(f"{prefix}{name}{'[]' if _is_list(field) else ''}.", target)

    walk("", json_schema["properties"])
    return out


def _is_list(field) -> bool:
    return pa.types.is_list(field.type)


def _resolve_items(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    """The properties of an object (or of an array's objects) ``node`` names, else None."""
    node = resolve(node, root)
    if "items" in node:
        node = resolve(node["items"], root)
    return node.get("properties")


def _table(header: tuple[str, ...], rows: list[tuple], cell=markdown_text) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def _counts(counter, label: str) -> list[str]:
    return _table((label, "items"), sorted(counter.items()))


def flash_range(flashes: dict[str, Any]) -> str:
    """The first and last ``time`` of a ``StoreSnapshot.flash_summary``, in words."""
    return f"{flashes['first']} – {flashes['last']}" if flashes["flashes"] else "no flashes"


def _breaking(flashes: dict[str, Any]) -> list[str]:
    """What the ``breaking`` files are, and how many flashes they hold."""
    return [
        "## Breaking news",
        "",
        "The `breaking` files hold every flash of the site's BREAKING ticker the crawler saw (`scrapy crawl "
        "breaking`, and the pages any crawl fetched), once each: the same text at the same time is one flash "
        "whichever page or run showed it, and a flash the site edited (a corrected word or number) is one "
        "flash with its latest text, the earlier ones in `edits`. `article_url` is the item that covered it, "
        "when one is stored. Ordered by `time`; Parquet partitions by the UTC month of `time`. The record's JSON "
        f"Schema: `{flash_schema()['$id']}`, plus `edits`.",
        "",
        f"- Flashes: **{flashes['flashes']}**, dated {flash_range(flashes)} (UTC); {flashes['linked']} linked to "
        f"an article, {flashes['edited']} edited, {flashes['estimated']} with an estimated time (no usable "
        "time on the page: `time` is when it was first seen).",
        "",
    ]


def dataset_card(
    *,
    datasets: list[Dataset],
    files: dict[str, int],
    profile: Profile,
    revisions: int,
    runs: list[dict[str, Any]],
    selection: str,
    store_engine: str,
    store_schema_version: int,
    flashes: dict[str, Any] | None = None,
    csv_formulas_escaped: bool = True,
    trust: list[str] = (),
    formats: tuple[str, ...] = FORMATS,
) -> str:
    """The card's Markdown. ``files``: dataset file → rows; ``selection``: the filters in words;
    ``flashes``: the ``StoreSnapshot.flash_summary`` when the breaking files are written;
    ``csv_formulas_escaped``: whether CSV cells that start a formula got a leading ``'``; ``trust``:
    the licence, provenance and limitations sections (``mayadeen.export.provenance``); ``formats``:
    the formats written (only those are described and loaded)."""
    main = datasets[0]
    revisions_note = (
        "with its earlier versions in the revisions files"
        if any(d.revisions for d in datasets)
        else "without earlier versions"
    )
    lines = [
        "# Al Mayadeen English items",
        "",
        "Articles, videos, infographs and picture galleries of [Al Mayadeen English]"
        "(https://english.almayadeen.net), one record per item page, as extracted by the `mayadeen` "
        f"Scrapy crawler and kept in its {_ENGINE_NAMES[store_engine]} store: the current version of every item "
        "(an edited item appears once, as last seen), "
        f"{revisions_note}.",
        "",
        f"- Items: **{profile.items}** ({markdown_text(selection)}), published {profile.date_range()} (UTC).",
        f"- Revisions: {revisions} earlier versions of these items are in the store.",
        *([f"- Breaking news: {flashes['flashes']} flashes (below)."] if flashes is not None else []),
        f"- Store schema version {store_schema_version}; the record's JSON Schema: `{main.schema()['$id']}`.",
        "",
        *trust,
        "## Files",
        "",
        *_table(("file", "rows"), sorted(files.items())),
        "",
        *_file_notes(formats, csv_formulas_escaped),
        "- `report.html`: charts of the same data, one page that works offline. `manifest.json`: "
        "every file's rows, bytes and sha256. `croissant.json`: the same files and every field in Croissant 1.1 "
        '(`mlcroissant.Dataset(jsonld="croissant.json")` loads the records).',
        "",
    ]
    if flashes is not None:
        lines += _breaking(flashes)
    for dataset in datasets:
        lines += [
            f"## Fields of `{dataset.name}`",
            "",
            *_table(("field", "Parquet type", "description"), _rows(dataset.schema()), _schema_cell),
            "",
        ]
    lines += [
        "## What it holds",
        "",
        *_counts(profile.kinds, "kind"),
        "",
        *_table(("section group", "section", "items"), [(g, s, n) for (g, s), n in sorted(profile.sections.items())]),
        "",
        *_counts(profile.months, "month (UTC)"),
        "",
        "## Where it comes from",
        "",
        f"Crawl runs in the store: {len(runs)}"
        + (
            f", from {runs[0]['started_at']} to {runs[-1].get('finished_at') or runs[-1]['started_at']}."
            if runs
            else "."
        ),
        "",
    ]
    if runs:
        recent = runs[-RECENT_RUNS:]
        lines += [
            f"The last {len(recent)}:",
            "",
            *_table(
                ("run", "spider", "started", "finished", "new", "updated", "errors", "finish reason"),
                [
                    (
                        r["id"],
                        r["spider"],
                        r["started_at"],
                        r["finished_at"],
                        r["items_new"],
                        r["items_updated"],
                        r["errors"],
                        r["finish_reason"],
                    )
                    for r in recent
                ],
            ),
            "",
        ]
    lines += ["## How to load it", "", "```python", *_loading(formats, flashes is not None), "```", ""]
    hints = {
        "parquet": "`year` and `month` are the partition columns of the Parquet files.",
        "csv": "In the CSV, `json.loads` a list, object or boolean cell to get the value back.",
    }
    if written := [text for fmt, text in hints.items() if fmt in formats]:
        lines += [" ".join(written), ""]
    return "\n".join(lines)


def _file_notes(formats: tuple[str, ...], csv_formulas_escaped: bool) -> list[str]:
    """The card's line on each format written, in ``FORMATS`` order."""
    notes = {
        "jsonl": "- `*.jsonl`: one JSON record per line, UTF-8, ordered by `date_published`, then `url` (flashes: "
        "by `time`).",
        "csv": "- `*.csv`: RFC 4180, UTF-8 with a byte-order mark, a header row; lists, objects and booleans as JSON "
        "text; an empty cell is null. " + _FORMULAS[csv_formulas_escaped],
        "parquet": "- `parquet*/year=YYYY/month=MM/part-N.parquet`: hive partitions by the UTC month of publication "
        "(flashes: of `time`), typed columns (below).",
    }
    return [notes[fmt] for fmt in FORMATS if fmt in formats]


def _loading(formats: tuple[str, ...], flashes: bool) -> list[str]:
    """Python that loads the files written in ``formats``."""
    code = []
    if "parquet" in formats:
        code += [
            "import pyarrow.dataset as ds",
            'table = ds.dataset("parquet", format="parquet", partitioning="hive").to_table()',
            "",
            "import pandas as pd",
            'df = pd.read_parquet("parquet")'
            + ('                    # or pd.read_json("articles.jsonl", lines=True)' if "jsonl" in formats else ""),
            "",
            "import duckdb",
            "duckdb.sql(\"SELECT section, count(*) FROM read_parquet('parquet/**/*.parquet', hive_partitioning=true)"
            ' GROUP BY 1 ORDER BY 2 DESC").show()',
            "",
        ]
    elif "jsonl" in formats:
        code += ["import pandas as pd", 'df = pd.read_json("articles.jsonl", lines=True)', ""]
    else:
        code += ["import pandas as pd", 'df = pd.read_csv("articles.csv", encoding="utf-8-sig")', ""]
    builder, files = (
        ("json", "articles.jsonl")
        if "jsonl" in formats
        else ("parquet", "parquet/**/*.parquet")
        if "parquet" in formats
        else ("csv", "articles.csv")
    )
    code += [
        "from datasets import load_dataset                   # Hugging Face",
        f'dataset = load_dataset("{builder}", data_files="{files}", split="train")',
    ]
    if flashes and "parquet" in formats:
        code += [
            'flashes = ds.dataset("parquet_breaking", format="parquet", partitioning="hive").to_table()'
            "  # breaking news"
        ]
    return code
