"""What an export writes: one entry per dataset (a table of the store), each with its row schema.

A dataset is written as ``<name>.jsonl``, ``<name>.csv`` and hive-partitioned Parquet under its
``parquet_dir``, with the columns and types of its JSON Schema. Adding a table to the export is one
more entry in ``DATASETS`` (a name, a schema and a reader of the snapshot).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from mayadeen.record import schema as article_schema
from mayadeen.store.read import Selection, StoreSnapshot

Rows = Callable[[StoreSnapshot, Selection], Iterator[dict[str, Any]]]


@dataclass(frozen=True)
class Dataset:
    name: str
    #: JSON Schema of one row (its ``properties`` are the columns, in order).
    schema: Callable[[], dict[str, Any]]
    rows: Rows
    parquet_dir: str
    #: Written only with ``--with-revisions``.
    revisions: bool = False
    #: The UTC time whose year and month name the Parquet partition of a row.
    partition_field: str = "date_published"

    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema()["properties"])


@cache
def revision_schema() -> dict[str, Any]:
    """The article record plus the revision number and when that version was last seen."""
    out = copy.deepcopy(article_schema())
    out["title"] = "Al Mayadeen English item record, an earlier version"
    out["properties"]["revision"] = {
        "description": "Version number of the item: 1 for the first version seen, then + 1 for each change.",
        "type": "integer", "minimum": 1,
    }  # fmt: skip
    out["properties"]["seen_at"] = {
        "description": "The last time this version was seen before a changed one replaced it, UTC.",
        "$ref": "#/$defs/utcDateTime",
    }
    out["required"] = [*out["required"], "revision", "seen_at"]
    return out


ARTICLES = Dataset("articles", article_schema, StoreSnapshot.articles, "parquet")
REVISIONS = Dataset("revisions", revision_schema, StoreSnapshot.revisions, "parquet_revisions", revisions=True)
DATASETS = (ARTICLES, REVISIONS)
