"""An item as its plain record: the dict the pipelines hash, validate and store.

Crawl-side (it reads Scrapy items through ``itemadapter``, which loads Scrapy), so it is kept out of
``mayadeen.record``, which the store reads without Scrapy (``tests/test_store_layers.py``).
"""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter

# The values a record's JSON holds: kept as they are by ``plain_record``.
_JSON_LEAVES = frozenset({str, int, float, bool, type(None)})


def plain_record(item: Any) -> dict[str, Any]:
    """``ItemAdapter(item).asdict()``: the record as a dict, nested containers copied, in a fraction of
    its time (it asks every item adapter about every leaf; a record is made of JSON values)."""
    return {key: _plain(value) for key, value in ItemAdapter(item).items()}


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind in _JSON_LEAVES:
        return value
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, (list, set, tuple)):
        return kind(_plain(inner) for inner in value)
    return plain_record(value) if ItemAdapter.is_item(value) else value
