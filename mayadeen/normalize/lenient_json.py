"""JSON embedded in ``<script>`` elements, parsed strictly first, then with CMS breakage repaired."""

from __future__ import annotations

import json
import re

_WRAPPER = re.compile(r"^\s*(?:<!--|//\s*<!\[CDATA\[)|(?:-->|//\s*\]\]>)\s*$")
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_JSON_LINE = re.compile(r'^(\s*[{\[]?\s*"[^"\\]{1,200}"\s*:\s*")(.*)("\s*,?\s*)$')
_UNESCAPED_QUOTE = re.compile(r'(?<!\\)"')


def _escape_inner_quotes(text: str) -> str:
    """Pretty-printed JSON with a raw ``"`` inside a string value: escape it, line by line."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = _JSON_LINE.match(line)
        if m and _UNESCAPED_QUOTE.search(m.group(2)):
            lines[i] = m.group(1) + _UNESCAPED_QUOTE.sub(r'\\"', m.group(2)) + m.group(3)
    return "\n".join(lines)


def parse_json_lenient(text) -> object | None:
    """JSON from a ``<script>``: strict first, then common CMS breakage repaired, else None.

    Repairs: HTML comment/CDATA wrappers, control characters, trailing commas, and unescaped
    quotes inside one-line string values. Deep nesting and other junk give None, never an error.
    """
    if not isinstance(text, str) or len(text) > 5_000_000:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        repaired = _WRAPPER.sub("", text)
        repaired = _TRAILING_COMMA.sub(r"\1", repaired.rstrip(";"))
        for attempt in (repaired, _escape_inner_quotes(repaired)):
            try:
                return json.loads(attempt, strict=False)
            except ValueError:
                continue
    except (RecursionError, MemoryError):
        return None
    return None
