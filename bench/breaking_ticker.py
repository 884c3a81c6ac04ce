"""What the breaking-news ticker costs per page: reading it, and storing it (new and seen-again flashes).

    python bench/breaking_ticker.py [pages]

Reads the ticker of every stored fixture page in turn (``pages`` reads in all, default 3000) and
stores tickers of ten flashes on each store engine: a temporary SQLite file, and a database of a
temporary PostgreSQL 15 cluster on a free 127.0.0.1 port (fsync off, as in ``bench/store_engines.py``;
skipped without the server binaries). Per engine: a ticker whose flashes are all new, and the same
ticker seen again (what a crawl's harvest and a watch cycle mostly do).
"""

from __future__ import annotations

import sys
import tempfile
import time
from itertools import cycle
from pathlib import Path

from scrapy.http import HtmlResponse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mayadeen.pages.ticker import TickerEntry, TickerPage  # noqa: E402
from mayadeen.store.breaking import BreakingStore  # noqa: E402
from mayadeen.store.engines import POSTGRESQL, SQLITE, StoreTarget, connect  # noqa: E402
from tests.postgres_server import PG_BIN, PostgresCluster  # noqa: E402

TICKERS = 500


def store_costs(target: StoreTarget) -> None:
    batches = [
        [
            TickerEntry(
                f"Flash {t}-{i}: something happened in place {i}",
                f"2025-08-04T{t // 60 % 24:02d}:{t % 60:02d}:{i:02d}Z",
                None,
                "en",
            )
            for i in range(10)
        ]
        for t in range(TICKERS)
    ]
    with connect(target) as opened:
        store = BreakingStore(opened)
        started = time.perf_counter()
        for batch in batches:
            store.record(batch)
        new_ms = (time.perf_counter() - started) / TICKERS * 1000
        started = time.perf_counter()
        for batch in batches:
            store.record(batch)
        seen_ms = (time.perf_counter() - started) / TICKERS * 1000
        print(
            f"{target.engine}: store a ticker of 10 new flashes: {new_ms:.2f} ms; seen again: {seen_ms:.2f} ms"
            f" ({store.count()} flashes stored)"
        )


def main(reads: int = 3000) -> None:
    bodies = [p.read_bytes() for p in sorted((ROOT / "fixtures" / "www").rglob("*.html"))]
    pages = cycle(bodies)
    started = time.perf_counter()
    for _ in range(reads):
        TickerPage(HtmlResponse(url="https://english.almayadeen.net/", body=next(pages), encoding="utf-8")).read()
    read_ms = (time.perf_counter() - started) / reads * 1000
    print(f"ticker read (fresh response, page parsed): {read_ms:.2f} ms/page over {reads} reads of {len(bodies)} pages")

    with tempfile.TemporaryDirectory() as tmp:
        store_costs(StoreTarget(SQLITE, str(Path(tmp) / "bench.sqlite")))
    if not (PG_BIN / "initdb").exists():
        print(f"postgresql: skipped (no server in {PG_BIN})")
        return
    cluster = PostgresCluster().start()
    try:
        store_costs(StoreTarget(POSTGRESQL, cluster.new_database()))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
