"""A ticker job in a process of its own, for the tests of writers at once:

    python -m tests.ticker_writer ENGINE LOCATION GO PAGES VARIANT

connects to the store, prints ``ready``, waits for the file GO to exist, records the PAGES pages of
``ticker_page`` and prints its outcomes (one list per page) as JSON. Two processes started together record the same
flashes at the same moments; VARIANT changes one number in one flash per page (an edit).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mayadeen.pages.ticker import TickerEntry
from mayadeen.store.breaking import BreakingStore
from mayadeen.store.engines import StoreTarget, connect


def ticker_page(page: int, variant: int) -> list[TickerEntry]:
    """Four flashes, one whose toll is ``variant`` (alike enough to be an edit) and one without a time."""
    at = f"2025-08-04T{page // 60:02d}:{page % 60:02d}"
    return [
        *(
            TickerEntry(f"Flash {page}-{i}: the same text in every process, place {i}", f"{at}:{i:02d}Z", None, "en")
            for i in range(4)
        ),
        TickerEntry(
            f"The Ministry of Health in Gaza: the toll of page {page} rises to {variant}, including 93 children",
            f"{at}:30Z",
            None,
            "en",
        ),
        TickerEntry(f"Undated flash of page {page}: a strike on Gaza", None, None, "en"),
    ]


def record_pages(breaking: BreakingStore, pages: int, variant: int) -> list[list[str]]:
    """The outcomes of recording the ``pages`` pages of ``ticker_page``, one list per page."""
    return [[o for o, _ in breaking.record(ticker_page(page, variant))] for page in range(pages)]


def main(engine: str, location: str, go: str, pages: str, variant: str) -> None:
    with connect(StoreTarget(engine, location)) as store:
        breaking = BreakingStore(store)
        print("ready", flush=True)
        while not Path(go).exists():
            time.sleep(0.001)
        outcomes = record_pages(breaking, int(pages), int(variant))
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main(*sys.argv[1:])
