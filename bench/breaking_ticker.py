"""What the breaking-news ticker costs per page: reading it, and storing it (new and seen-again flashes).

    python bench/breaking_ticker.py [pages]

Reads the ticker of every stored fixture page in turn (``pages`` reads in all, default 3000) and
stores tickers of ten flashes in a temporary SQLite store: a ticker whose flashes are all new, and
the same ticker seen again (what a crawl's harvest and a watch cycle mostly do).
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
from mayadeen.store.sqlite import ArticleStore  # noqa: E402


def main(reads: int = 3000) -> None:
    bodies = [p.read_bytes() for p in sorted((ROOT / "fixtures" / "www").rglob("*.html"))]
    pages = cycle(bodies)
    started = time.perf_counter()
    for _ in range(reads):
        TickerPage(HtmlResponse(url="https://english.almayadeen.net/", body=next(pages), encoding="utf-8")).read()
    read_ms = (time.perf_counter() - started) / reads * 1000
    print(f"ticker read (fresh response, page parsed): {read_ms:.2f} ms/page over {reads} reads of {len(bodies)} pages")

    tickers = 500
    with tempfile.TemporaryDirectory() as tmp, ArticleStore(Path(tmp) / "bench.sqlite") as articles:
        store = BreakingStore(articles)
        batches = [[TickerEntry(f"Flash {t}-{i}: something happened in place {i}", f"2025-08-04T{t // 60 % 24:02d}:"
                                f"{t % 60:02d}:{i:02d}Z", None, "en") for i in range(10)] for t in range(tickers)]
        started = time.perf_counter()
        for batch in batches:
            store.record(batch)
        new_ms = (time.perf_counter() - started) / tickers * 1000
        started = time.perf_counter()
        for batch in batches:
            store.record(batch)
        seen_ms = (time.perf_counter() - started) / tickers * 1000
        print(f"store a ticker of 10 new flashes: {new_ms:.2f} ms; seen again: {seen_ms:.2f} ms"
              f" ({store.count()} flashes stored)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
