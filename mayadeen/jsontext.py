"""JSON text as the standard library writes and reads it, faster (the export's hot path).

``compact(value)`` is the UTF-8 of ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``:
orjson writes the same text for strings (the same escapes), integers, lists, objects, booleans and
null, which is all a record holds (the schemas have no numbers: orjson spells some floats otherwise,
``1e-7`` for ``1e-07``). What orjson refuses (an integer beyond 64 bits, a lone surrogate) goes to the
standard library, which then does what it did before.

``loads(text)`` is ``json.loads(text)`` without its Python layers (a third faster on a store's short
JSON): the same C scanner reads a text that is one value with no space around it; anything else goes
to ``json.loads``, which reads it or raises as before. (Not orjson: it reads an integer beyond 64 bits
as a float.)
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_DECODE = json.JSONDecoder().raw_decode


def compact(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def loads(text: str) -> Any:
    try:
        value, end = _DECODE(text)
    except json.JSONDecodeError:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)
