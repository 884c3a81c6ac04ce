"""Arrow types from a JSON Schema, and records (as JSON Lines) read into a table of those types.

``string`` → string, ``integer`` → int64, ``format: date-time`` → ``timestamp[ms, UTC]`` (whole
seconds; Parquet has no seconds unit, so ``[s]`` would be stored as ``[ms]`` anyway), arrays →
``list<…>``, objects → ``struct<…>`` (properties in order); a field is nullable only when its
schema allows ``null`` (in its type or an ``anyOf``). So the Parquet columns follow the schema.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from mayadeen.record import resolve

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


def _zero(kind: pa.DataType) -> pa.Scalar:
    """What pyarrow puts under a null object in a non-nullable field of it (a value nobody reads)."""
    return pa.scalar("" if kind == pa.string() else False if kind == pa.bool_() else 0, kind)


def _typed(array: pa.Array, kind: pa.DataType) -> pa.Array:
    """``array`` (as the JSON reader made it, every field nullable) as the same values of ``kind``."""
    if pa.types.is_struct(kind):
        own, children = 1, []
        for i, field in enumerate(kind):
            child = _typed(array.field(i), field.type)
            if not field.nullable and child.null_count:  # nulls only under null objects, else the write fails
                child = pc.if_else(array.is_null(), _zero(field.type), child)
            children.append(child)
    elif pa.types.is_list(kind):
        own, children = 2, [_typed(array.values, kind.value_type)]
    else:
        own, children = len(array.buffers()), None
    return pa.Array.from_buffers(kind, len(array), array.buffers()[:own], array.null_count, array.offset, children)


def _loose(kind: pa.DataType) -> pa.DataType:
    """``kind`` with every nested field nullable."""
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _loose(f.type)) for f in kind])
    if pa.types.is_list(kind):
        return pa.list_(_loose(kind.value_type))
    return kind


def table_reader(schema: pa.Schema) -> Callable[[bytes], pa.Table]:
    """JSON Lines of records (``jsontext.compact``, keys in schema order) → a ``pa.Table`` of ``schema``,
    by Arrow's JSON reader: C++ without the GIL, so it runs in a worker thread alongside the rows,
    and the same table as pyarrow builds from the records (``YYYY-MM-DDThh:mm:ssZ`` times read as
    timestamps). The reader gets the schema with every field nullable (it refuses a null in a
    non-nullable field of a null object); ``_typed`` then gives the arrays the schema's types, so a
    null in a non-nullable column still fails the Parquet write."""
    options = pa_json.ParseOptions(
        explicit_schema=pa.schema([pa.field(f.name, _loose(f.type)) for f in schema]),
        unexpected_field_behavior="ignore",  # as pyarrow ignores keys its struct lacks,
    )

    def table(lines: bytes) -> pa.Table:
        found = pa_json.read_json(
            io.BytesIO(lines),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=len(lines) + 1),
            parse_options=options,
        )
        arrays = [_typed(found.column(f.name).combine_chunks(), f.type) for f in schema]
        return pa.Table.from_arrays(arrays, schema=schema)

    return table
