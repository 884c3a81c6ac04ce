"""JSON text as the standard library writes and reads it, at orjson's speed (the export's hot path).

``compact(value)`` is the UTF-8 of ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``:
orjson writes the same text for strings (the same escapes), integers, lists, objects, booleans and
null, which is all a record holds (the schemas have no numbers: orjson spells some floats otherwise,
``1e-7`` for ``1e-07``). What orjson refuses (an integer beyond 64 bits, a lone surrogate) goes to the
standard library, which then does what it did before. (Reading stays ``json.loads``: orjson reads an
integer beyond 64 bits as a float.)
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def compact(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
