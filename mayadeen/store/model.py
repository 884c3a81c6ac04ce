"""What every store engine shares, whatever its SQL: the engines' names and where a store is, the
record's columns, an item's state as freshness reads it, and what storing a record does to it.

Imports nothing of the engines, so each engine (``sqlite``, ``postgres``) and ``engines`` (which opens
either) import this module and never one another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from mayadeen.normalize.dates import to_utc_iso
from mayadeen.record import HASHED_KEYS, RECORD_KEYS, STRUCTURED_KEYS, UNORDERED_KEYS

SQLITE, POSTGRESQL = "sqlite", "postgresql"

#: The record's keys, one column each, in contract order (from the schema, like the item's fields).
RECORD_COLUMNS = RECORD_KEYS
#: Lists and objects, stored as JSON (SQL NULL for null).
JSON_COLUMNS = frozenset(STRUCTURED_KEYS)
#: Kept per item besides the record: ``listed_date`` is the newest date discovery showed for it when
#: it was last stored (UTC ISO), so a discovery date that moved without the page changing is seen once;
#: ``last_run`` the ``crawl_runs`` id of the run that stored it last.
BOOKKEEPING_COLUMNS = ("first_seen", "last_seen", "revision", "listed_date", "last_run")
#: Columns a re-fetch with unchanged content updates in place (no revision): everything but the content,
#: and the content's unordered lists (tags: a new order alone is no new content).
METADATA_COLUMNS = tuple(
    c for c in RECORD_COLUMNS if (c not in HASHED_KEYS or c in UNORDERED_KEYS) and c != "article_id"
)

NEW, UPDATED, UNCHANGED = "new", "updated", "unchanged"
#: A fetched version older than the stored one (a slow run's fetch, a cache's stale copy): nothing changes.
STALE = "stale"
#: A fetched version lacking content the stored one has, and modified no later: nothing changes.
DEGRADED = "degraded"
#: The facts a page broken for a while loses (an empty article body, a template without its byline).
FACT_KEYS = (
    "headline",
    "summary",
    "body",
    "authors",
    "tags",
    "image",
    "images",
    "video",
    "date_published",
    "date_modified",
)
_EMPTY = (None, "", [], {})

#: Each engine's record of the migrations applied to a store: one row per migration, in order.
MIGRATIONS_TABLE = "store_migrations"
MIGRATIONS_TABLE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)"
)


@dataclass(frozen=True)
class StoreTarget:
    """An engine and where its store is: a SQLite file path, or a PostgreSQL connection URL."""

    engine: str
    location: str

    def __str__(self) -> str:
        """For logs: the path, or the URL without its password."""
        if self.engine != POSTGRESQL:
            return self.location
        parts = urlsplit(self.location)
        if parts.password is None:
            return self.location
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))


class ItemState(NamedTuple):
    """What an incremental crawl needs to decide whether to fetch an item again."""

    article_id: str
    url: str  # its current address
    date_modified: str | None
    date_published: str | None
    listed_date: str | None
    last_seen: str
    last_run: int | None  # the crawl_runs id of the run that stored it last


#: The outcomes that leave the stored content as it is; only ``KEPT_COLUMNS`` (with the bookkeeping) change.
KEPT_OUT = frozenset({STALE, DEGRADED})
#: Where the item is now: a version kept out still tells it (a move to a new URL).
KEPT_COLUMNS = ("url",)


def settled_change(
    record: Mapping[str, Any], old: tuple, read_stored: Callable[[], tuple], *, take_fetched: bool = False
) -> tuple[tuple[str, ...], str, int, tuple | None]:
    """``stored_change`` against the stored state ``old`` (content hash, revision, ``date_modified``),
    then ``lost_facts`` against the stored version (``read_stored()``: its record, revision and when it
    was last seen; read unless the record is stale): the columns to set, the outcome, the revision and
    the stored version (for its revision row). ``take_fetched`` (a ``-a full=1`` run) keeps nothing out."""
    columns, outcome, revision = stored_change(record, *old, take_fetched=take_fetched)
    stored = read_stored() if outcome != STALE else None
    if stored is not None and not take_fetched and lost_facts(record, stored[0]):
        outcome = DEGRADED
    if outcome in KEPT_OUT:
        return KEPT_COLUMNS, outcome, old[1], stored
    return columns, outcome, revision, stored


def lost_facts(record: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
    """The facts (``FACT_KEYS``) the ``stored`` version has and ``record`` lacks, unless ``record`` was
    modified later (an edit may remove them). A version that lost them without a later
    ``date_modified`` is a page broken for a while, not an edit: storing it would replace a good record
    with a worse one, which the next runs skip (its date is stored)."""
    modified, was = record.get("date_modified"), to_utc_iso(stored.get("date_modified"))
    if modified and was and modified > was:
        return []
    # New content without its modification time is an edit of a site that stopped giving one, not a
    # page broken for a while; the same content without it would null the stored date (and the guard).
    new_content = record.get("content_hash") != stored.get("content_hash")
    return [
        key
        for key in FACT_KEYS
        if stored.get(key) not in _EMPTY and record.get(key) in _EMPTY and not (new_content and key == "date_modified")
    ]


def stored_change(
    record: Mapping[str, Any], old_hash: str | None, revision: int, old_modified=None, *, take_fetched: bool = False
) -> tuple[tuple[str, ...], str, int]:
    """What storing ``record`` over a stored version (its content hash, revision and ``date_modified``)
    does: the columns to set, the outcome and the new revision. A new content hash makes a revision;
    a record modified before the stored one changes nothing (``STALE``): a slower run that fetched it
    before an edit must not put it back (the next runs would skip the edit: its date is stored).
    ``take_fetched``: a run that asked for what the site says now (``-a full=1``) takes it whatever its
    date, so that a wrong stored date (an older parser's) can be set right."""
    modified, stored = record.get("date_modified"), to_utc_iso(old_modified) if old_modified else None
    if modified and stored and modified < stored and not take_fetched:
        return (), STALE, revision
    if old_hash == record.get("content_hash"):
        return METADATA_COLUMNS, UNCHANGED, revision
    return RECORD_COLUMNS, UPDATED, revision + 1
