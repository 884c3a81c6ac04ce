"""Arrow types from a JSON Schema, and records turned into values of those types.

``string`` → string, ``integer`` → int64, ``format: date-time`` → ``timestamp[ms, UTC]`` (whole
seconds; Parquet has no seconds unit, so ``[s]`` would be stored as ``[ms]`` anyway), arrays →
``list<…>``, objects → ``struct<…>`` (properties in order); a field is nullable only when its
schema allows ``null`` (in its type or an ``anyOf``). So the Parquet columns follow the schema.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow as pa

from mayadeen.record import resolve

Convert = Callable[[Any], Any]

_SCALARS = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}
TIMESTAMP = pa.timestamp("ms", tz="UTC")


def _json_type(node: dict[str, Any]) -> str:
    kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
    kinds = [k for k in kinds if k != "null"]
    if len(kinds) != 1:
        raise ValueError(f"no single Arrow type for type {node['type']}")
    return kinds[0]


def _nullable(node: dict[str, Any], root: dict[str, Any]) -> bool:
    if "$ref" in node and not ({"type", "anyOf"} & node.keys()):
        return _nullable(resolve(node, root), root)
    kinds = node.get("type")
    return ("null" in kinds if isinstance(kinds, list) else kinds == "null") or any(
        o.get("type") == "null" for o in node.get("anyOf", ())
    )


def arrow_field(name: str, node: dict[str, Any], root: dict[str, Any]) -> pa.Field:
    return pa.field(name, arrow_type(node, root), nullable=_nullable(node, root))


def arrow_type(node: dict[str, Any], root: dict[str, Any]) -> pa.DataType:
    node = resolve(node, root)
    kind = _json_type(node)
    if kind == "string" and node.get("format") == "date-time":
        return TIMESTAMP
    if kind == "array":
        return pa.list_(arrow_type(node["items"], root))
    if kind == "object":
        return pa.struct([arrow_field(k, v, root) for k, v in node["properties"].items()])
    return _SCALARS[kind]


def arrow_schema(json_schema: dict[str, Any]) -> pa.Schema:
    """One Arrow field per top-level property, in order."""
    return pa.schema([arrow_field(k, v, json_schema) for k, v in json_schema["properties"].items()])


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def converter(kind: pa.DataType) -> Convert | None:
    """What turns a record value into the Arrow value of ``kind``; None when it already is one."""
    if kind == TIMESTAMP:
        return _parse_time
    if pa.types.is_list(kind):
        item = converter(kind.value_type)
        return None if item is None else (lambda v: None if v is None else [item(x) for x in v])
    if pa.types.is_struct(kind):
        parts = {f.name: converter(f.type) for f in kind}
        if not any(parts.values()):
            return None
        return lambda v: None if v is None else {k: (c(v.get(k)) if c else v.get(k)) for k, c in parts.items()}
    return None


def table_maker(schema: pa.Schema) -> Callable[[list[dict[str, Any]]], pa.Table]:
    """Records → a ``pa.Table`` of ``schema``, column by column: top-level times parsed by Arrow
    (a cast of the ``YYYY-MM-DDThh:mm:ssZ`` text), nested ones by ``converter``."""
    plan = [(f.name, f.type, None if f.type == TIMESTAMP else converter(f.type)) for f in schema]

    def table(records: list[dict[str, Any]]) -> pa.Table:
        arrays = []
        for name, kind, convert in plan:
            values = [r.get(name) for r in records]
            if kind == TIMESTAMP:
                arrays.append(pa.array(values, pa.string()).cast(kind))
            else:
                arrays.append(pa.array(values if convert is None else [convert(v) for v in values], kind))
        return pa.Table.from_arrays(arrays, schema=schema)

    return table
