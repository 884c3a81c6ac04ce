"""Earlier runs of a spider, from ``crawl_runs``: what the item-count monitor compares a run with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mayadeen.store.interface import Store

#: Runs read to find ``count`` with the same arguments (other arguments are skipped).
_LOOK_BACK = 200


def usual_items_seen(store: Store, spider: str, arguments: Mapping[str, Any], run_id: int, count: int) -> list[int]:
    """``items_seen`` of the last ``count`` runs before ``run_id`` of ``spider`` with the same
    ``arguments`` that ran out of work and did not fail (newest first)."""
    wanted = json.loads(json.dumps(dict(arguments), sort_keys=True, default=str))  # as start_run stores them
    rows = store.read(
        lambda: store.rows(
            "SELECT arguments, items_seen FROM crawl_runs WHERE spider = $1 AND id < $2 AND finish_reason = 'finished'"
            " AND (result IS NULL OR result = 'ok') AND items_seen IS NOT NULL ORDER BY id DESC LIMIT $3",
            (spider, run_id, _LOOK_BACK),
        )
    )
    return [row["items_seen"] for row in rows if store.from_json(row["arguments"]) == wanted][:count]
