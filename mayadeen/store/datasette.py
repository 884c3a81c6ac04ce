"""Datasette metadata for the store: titles, table and column descriptions, search and facets.

Column descriptions of ``articles`` and ``breaking_news`` come from the records' JSON Schemas, so
they are not written twice. ``datasette/metadata.json`` is this module's output (``python -m
mayadeen.store.datasette`` writes it; a test keeps the two equal). Datasette names the database
after the file's stem: the metadata applies to a store named ``mayadeen.sqlite``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mayadeen.record import flash_schema, schema
from mayadeen.store import breaking
from mayadeen.store.fts import BREAKING_FTS, FTS_TABLE
from mayadeen.store.model import JSON_COLUMNS, RECORD_COLUMNS

METADATA_PATH = Path(__file__).resolve().parents[2] / "datasette" / "metadata.json"
DATABASE = "mayadeen"

_ROW_COLUMNS = {
    "first_seen": "When a crawl first stored this item, UTC.",
    "last_seen": "When a crawl last saw this item (changed or not), UTC.",
    "revision": "Version number: 1 for the first version seen, + 1 for each change of content_hash.",
}
_REVISION_COLUMNS = {
    "url": "The item (articles.url).",
    "revision": "The version number this row was, before a changed version replaced it.",
    "content_hash": "content_hash of that version.",
    "date_modified": "date_modified of that version.",
    "record": "The whole record of that version, as JSON.",
    "seen_at": "The last time that version was seen before it was replaced, UTC.",
}
_RUN_COLUMNS = {
    "id": "Run number.",
    "spider": "sections, sitemap or feed.",
    "arguments": "The spider arguments (-a), as JSON.",
    "started_at": "UTC.",
    "finished_at": "UTC.",
    "items_new": "Items stored for the first time.",
    "items_updated": "Items whose content changed (a new revision).",
    "items_unchanged": "Items fetched again with the same content.",
    "items_dropped": "Records dropped: invalid, duplicate, or a version older or poorer than the one stored.",
    "requests": "Requests made.",
    "responses_by_status": "Responses by HTTP status, as JSON.",
    "errors": "Errors logged.",
    "finish_reason": "finished, or why the run ended (site_unreachable, coverage_below_minimum, …).",
    "coverage": "Share of records in which each field was present and non-empty, as JSON.",
}


_FLASH_COLUMNS = {
    "id": "Row number, in the order the flashes were first stored.",
    "text_key": "The identity key of the text: case, punctuation, quotes, accents and spacing ignored.",
    "edits": "The earlier texts of a flash the site edited, oldest first, as JSON; null when it never changed.",
}


def _flash_columns() -> dict[str, str]:
    properties = flash_schema()["properties"]
    return {column: properties[column]["description"] for column in breaking.RECORD_COLUMNS}


def _record_columns() -> dict[str, str]:
    properties = schema()["properties"]
    out = {}
    for column in RECORD_COLUMNS:
        text = properties[column]["description"]
        out[column] = f"{text} (JSON text)" if column in JSON_COLUMNS else text
    return out


def metadata() -> dict[str, Any]:
    return {
        "title": "Al Mayadeen English items",
        "description": ("Articles, videos, infographs and picture galleries of english.almayadeen.net as stored "
                        "by the mayadeen crawler: the current version of every item, its earlier versions, "
                        "one row per crawl run and every flash of the breaking-news ticker."),
        "source": "english.almayadeen.net",
        "source_url": "https://english.almayadeen.net",
        "databases": {DATABASE: {"tables": {
            "articles": {
                "title": "Items",
                "description": "The current version of every item, one row per item. Search covers headline, "
                               "summary, body and tags.",
                "fts_table": FTS_TABLE,
                "fts_pk": "rowid",
                "label_column": "headline",
                "sort_desc": "date_published",
                "facets": ["section_group", "section", "kind", {"array": "tags"}, {"array": "authors"}],
                "columns": {**_record_columns(), **_ROW_COLUMNS},
            },
            "article_revisions": {
                "title": "Earlier versions",
                "description": "Every earlier version of an item whose content changed.",
                "sort_desc": "seen_at",
                "columns": _REVISION_COLUMNS,
            },
            "breaking_news": {
                "title": "Breaking news",
                "description": "Every flash of the site's BREAKING ticker, once, with the article that covered "
                               "it. Search covers the text.",
                "fts_table": BREAKING_FTS.name,
                "fts_pk": "id",
                "label_column": "text",
                "sort_desc": "time",
                "facets": ["time_estimated", "language"],
                "columns": {**_flash_columns(), **_FLASH_COLUMNS},
            },
            "crawl_runs": {
                "title": "Crawl runs",
                "description": "One row per crawl: what it found, its errors and how it ended.",
                "sort_desc": "id",
                "facets": ["spider", "finish_reason"],
                "columns": _RUN_COLUMNS,
            },
        }}},
    }  # fmt: skip


def metadata_text() -> str:
    return json.dumps(metadata(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else METADATA_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(metadata_text(), encoding="utf-8")
