"""The record contract as code: the JSON Schema and what is read from it, its validator, its hash.

The schema is the one source of the record's keys: the item's fields, the store's columns, the list
and JSON-valued keys, the keys the content hash covers (``x-hashed``) and the keys the pipeline adds
(``x-set-by``) are all derived here. Pure functions over plain mappings, shared by the pipelines,
the store and the tests, so that "valid" and "changed" mean the same thing everywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "article.schema.json"

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_MAX_MESSAGE = 200


def utc_timestamp(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as the record's time form, UTC ``YYYY-MM-DDThh:mm:ssZ``."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def content_hash(record: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of the HASHED_KEYS (a missing key counts as null; the lists of
    UNORDERED_KEYS sorted).

    Canonical = sorted keys, compact separators, UTF-8 without escapes, so the hash is stable across
    Python versions and dict orders and can be recomputed by any JSON library.
    """
    subset = {key: record.get(key) for key in HASHED_KEYS}
    for key in UNORDERED_KEYS:
        if isinstance(subset[key], list):
            subset[key] = sorted(subset[key])
    text = json.dumps(subset, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@cache
def schema() -> dict[str, Any]:
    """The record's JSON Schema (draft 2020-12), loaded once.

    Read as package data, so it loads from a zipped egg too (scrapyd-deploy).
    """
    return json.loads(resources.files("mayadeen").joinpath("schema/article.schema.json").read_text("utf-8"))


@cache
def flash_schema() -> dict[str, Any]:
    """The flash record's JSON Schema (draft 2020-12; ``mayadeen.breaking.item.FlashItem``), read the same way."""
    return json.loads(resources.files("mayadeen").joinpath("schema/flash.schema.json").read_text("utf-8"))


def record_keys() -> tuple[str, ...]:
    """The record's keys in contract order."""
    return tuple(schema()["properties"])


def _value_types(definition: Mapping[str, Any]) -> set[str]:
    """The JSON types a (sub)schema admits, through ``anyOf`` branches and ``$ref`` to ``$defs``."""
    if "$ref" in definition:
        definition = schema()["$defs"][definition["$ref"].rsplit("/", 1)[-1]]
    declared = definition.get("type", [])
    types = {declared} if isinstance(declared, str) else set(declared)
    for branch in definition.get("anyOf", []):
        types |= _value_types(branch)
    return types


def _keys_where(test) -> tuple[str, ...]:
    return tuple(key for key, definition in schema()["properties"].items() if test(definition))


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` (``#/$defs/…``) followed and its null alternative dropped."""
    while True:
        if "$ref" in node:
            target = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = {**{k: v for k, v in node.items() if k != "$ref"}, **target}
        elif "anyOf" in node:
            options = [o for o in node["anyOf"] if o.get("type") != "null"]
            if len(options) != 1:
                raise ValueError(f"no single Arrow type for anyOf {node['anyOf']}")
            node = {**{k: v for k, v in node.items() if k != "anyOf"}, **options[0]}
        else:
            return node


def _object_keys() -> dict[str, tuple[str, ...]]:
    root = schema()
    orders = {}
    for key, node in root["properties"].items():
        node = resolve(node, root)
        if node.get("type") == "array":
            node = resolve(node["items"], root)
        if "properties" in node:
            orders[key] = tuple(node["properties"])
    return orders


def in_contract_order(key: str, value: Any) -> Any:
    """The value of record key ``key`` with its objects' keys in the contract's order (a JSON store that
    keeps its own order, as PostgreSQL's ``jsonb``, gives them back in another)."""
    order = OBJECT_KEYS.get(key)
    if order is None:
        return value
    if isinstance(value, list):
        return [in_contract_order(key, v) for v in value]
    if isinstance(value, dict):
        return {**{k: value[k] for k in order if k in value}, **value}
    return value


RECORD_KEYS = record_keys()
#: Record key -> the key order of its object (or of its list's objects).
OBJECT_KEYS = _object_keys()
#: Keys holding a list; an item page without any gives ``[]``.
LIST_KEYS = _keys_where(lambda d: _value_types(d) == {"array"})
#: Keys holding a list or an object (JSON text in SQL).
STRUCTURED_KEYS = _keys_where(lambda d: bool(_value_types(d) & {"array", "object"}))
#: The keys whose change makes a new revision of an article. Not url (the identity), not shares,
#: scraped_at or dates (they move without the text changing); ``image`` is ``images[0]``.
HASHED_KEYS = _keys_where(lambda d: bool(d.get("x-hashed")))
#: Hashed keys whose order is no content (``"x-hashed": "as-set"``: tags): a new order alone is
#: metadata, stored in place without a revision.
UNORDERED_KEYS = _keys_where(lambda d: d.get("x-hashed") == "as-set")
#: Keys the pipeline adds after extraction (``scraped_at``, ``content_hash``).
PIPELINE_KEYS = _keys_where(lambda d: d.get("x-set-by") == "pipeline")
#: Keys the page object fills.
EXTRACTED_KEYS = tuple(key for key in RECORD_KEYS if key not in PIPELINE_KEYS)
#: Keys every record has a value in: never null, and a list only with ``minItems`` (field coverage
#: floors of 100 %, ``mayadeen.extensions.coverage``).
NEVER_EMPTY_KEYS = _keys_where(
    lambda d: "null" not in _value_types(d) and (_value_types(d) != {"array"} or d.get("minItems", 0) > 0)
)


def _format_checker() -> FormatChecker:
    # Our own checkers: jsonschema's "date-time" and "uri" depend on optional packages and are
    # silently skipped without them. Patterns fix the shape; these catch impossible values
    # (month 13, 25 o'clock) and host-less URLs.
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if isinstance(value, str):
            datetime.fromisoformat(value)
        return True

    @checker.checks("uri", raises=ValueError)
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme and parts.hostname)

    return checker


@cache
def validator() -> Draft202012Validator:
    """A validator of the schema with format checks on (built once; thread-safe to share)."""
    return Draft202012Validator(schema(), format_checker=_format_checker())


@cache
def _fast_check():
    """The schema compiled to Python (``fastjsonschema``) with our format checkers: about 20 times
    faster than ``validator()`` on a valid record, which most are. It only says whether a record is
    valid; jsonschema says why one is not."""
    checker = _format_checker()

    def check(name: str):
        func, raises = checker.checkers[name]

        def passes(value: object) -> bool:
            try:
                return bool(func(value))
            except raises:
                return False

        return passes

    return fastjsonschema.compile(schema(), formats={name: check(name) for name in checker.checkers})


def _most_specific(error: ValidationError) -> ValidationError:
    """For a failed ``anyOf`` (nullable fields), the branch error that says what is wrong.

    "{…} is not valid under any of the given schemas" hides the cause; the deepest branch error that
    is not "is not of type 'null'" names it (e.g. ``image/url: 'x' does not match …``).
    """
    while error.context:
        error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
    return error


def validation_errors(record: Mapping[str, Any]) -> list[str]:
    """Every way ``record`` breaks the schema, as ``"<json path>: <message>"``; empty when valid.

    Messages are cut to a readable length: jsonschema repeats the offending value, which can be a
    whole article body.
    """
    record = dict(record)
    try:
        _fast_check()(record)
        return []
    except fastjsonschema.JsonSchemaException:
        pass  # jsonschema decides, and says why
    errors = sorted(validator().iter_errors(record), key=lambda e: [str(p) for p in e.absolute_path])
    out = []
    for error in map(_most_specific, errors):
        path = "/".join(str(p) for p in error.absolute_path) or "(record)"
        message = error.message
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 1] + "…"
        out.append(f"{path}: {message}")
    return out
