"""What an export writes: one entry per dataset (a table of the store), each with its row schema.

A dataset is written as ``<name>.jsonl``, ``<name>.csv`` and hive-partitioned Parquet under its
``parquet_dir``, with the columns and types of its JSON Schema. Adding a table to the export is one
more entry in ``DATASETS`` (a name, a schema and a reader of the snapshot).

The datasets: ``articles`` (the current version of every item), ``revisions`` (their earlier
versions, on request) and ``breaking`` (the breaking-news flashes; they have no section or kind, so
a selection by section or kind leaves them out, and ``--since``/``--until`` apply to their ``time``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from mayadeen.export.profile import Profile
from mayadeen.record import flash_schema
from mayadeen.record import schema as article_schema
from mayadeen.store.model import JSON_COLUMNS
from mayadeen.store.read import Selection, StoreSnapshot

#: The file formats of every dataset, in the order they are written.
FORMATS = ("jsonl", "csv", "parquet")

Rows = Callable[[StoreSnapshot, Selection], Iterator[dict[str, Any]]]
Versions = Callable[[StoreSnapshot, Selection], Iterator[tuple[Any, ...]]]


@dataclass(frozen=True)
class Dataset:
    name: str
    #: JSON Schema of one row (its ``properties`` are the columns, in order).
    schema: Callable[[], dict[str, Any]]
    rows: Rows
    parquet_dir: str
    #: What changes when a row does, first the time that names its partition (``export.partitions``).
    versions: Versions
    #: Written only with ``--with-revisions``.
    revisions: bool = False
    #: The UTC time whose year and month name the Parquet partition of a row.
    partition_field: str = "date_published"
    #: Its rows have a section and a kind: ``--section``/``--kind`` select among them (else they leave
    #: the dataset out).
    has_sections: bool = True
    #: The JSON columns ``rows`` hands over as their compact JSON text, not decoded (the writers put
    #: the text in place as it is).
    encoded: frozenset[str] = frozenset()

    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema()["properties"])

    def wanted(self, selection: Selection, with_revisions: bool) -> bool:
        """Whether an export with this selection writes the dataset."""
        return (with_revisions or not self.revisions) and (self.has_sections or not selection.names_items)


def _extended(base: dict[str, Any], title: str, properties: dict[str, Any]) -> dict[str, Any]:
    """``base`` with more required properties after its own."""
    out = copy.deepcopy(base)
    out["title"] = title
    out["properties"].update(properties)
    out["required"] = [*out["required"], *properties]
    return out


@cache
def revision_schema() -> dict[str, Any]:
    """The article record plus the revision number and when that version was last seen."""
    return _extended(article_schema(), "Al Mayadeen English item record, an earlier version", {
        "revision": {
            "description": "Version number of the item: 1 for the first version seen, then + 1 for each change.",
            "type": "integer", "minimum": 1,
        },
        "seen_at": {
            "description": "The last time this version was seen before a changed one replaced it, UTC.",
            "$ref": "#/$defs/utcDateTime",
        },
    })  # fmt: skip


@cache
def stored_flash_schema() -> dict[str, Any]:
    """The flash record plus its earlier texts."""
    return _extended(flash_schema(), "Al Mayadeen English breaking-news flash, as stored", {
        "edits": {
            "description": "The earlier texts of the flash when the site edited it (a corrected word or number), "
                           "oldest first; empty when it never changed.",
            "type": "array", "items": {"$ref": "#/$defs/text"},
        },
    })  # fmt: skip


#: The article columns nothing reads before they are written: left as JSON text (the profile reads its own).
_ARTICLE_TEXT = JSON_COLUMNS - Profile.READS
ARTICLES = Dataset(
    "articles",
    article_schema,
    partial(StoreSnapshot.articles, encoded=_ARTICLE_TEXT),
    "parquet",
    StoreSnapshot.article_versions,
    encoded=_ARTICLE_TEXT,
)
REVISIONS = Dataset(
    "revisions",
    revision_schema,
    StoreSnapshot.revisions,
    "parquet_revisions",
    StoreSnapshot.revision_versions,
    revisions=True,
)
BREAKING = Dataset(
    "breaking",
    stored_flash_schema,
    StoreSnapshot.flashes,
    "parquet_breaking",
    StoreSnapshot.flash_versions,
    partition_field="time",
    has_sections=False,
)
DATASETS = (ARTICLES, REVISIONS, BREAKING)
