"""Extraction speed: ms per item page for ``ArticlePage(response).to_item()``, against a bare lxml parse.

Reads the item pages named in ``fixtures/expected`` (their stored bytes), and for each round builds a
fresh ``HtmlResponse`` so the parse is included, exactly as in a crawl. The bare parse is
``lxml.html`` on the same bytes. Figures are the median over rounds of the time for all pages, and
the best round, divided by the number of pages. Run: ``python bench/extract_speed.py [rounds]``.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from pathlib import Path

import lxml.html
from scrapy.http import HtmlResponse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mayadeen.pages.article import ArticlePage  # noqa: E402

FIXTURES = ROOT / "fixtures"
PUBLIC = "https://english.almayadeen.net"


def item_pages() -> list[tuple[str, bytes]]:
    """(public URL, stored bytes) of every item page with an expected record."""
    files = {e["path"]: e["file"] for e in json.loads((FIXTURES / "manifest.json").read_text("utf-8"))}
    pages = []
    for path in sorted((FIXTURES / "expected").glob("*.json")):
        url = json.loads(path.read_text("utf-8"))["url"]
        pages.append((url, (FIXTURES / files[url[len(PUBLIC):]]).read_bytes()))
    return pages


def extract(pages) -> None:
    for url, body in pages:
        ArticlePage(HtmlResponse(url=url, body=body, encoding="utf-8")).to_item()


def bare_parse(pages) -> None:
    parser = lxml.html.HTMLParser(encoding="utf-8")
    for _url, body in pages:
        lxml.html.document_fromstring(body, parser=parser)


def per_page_ms(run, pages, rounds: int) -> tuple[float, float]:
    """(median, best) milliseconds per page over ``rounds`` rounds of all pages."""
    run(pages)  # warm caches and imports, as a running crawl has them
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        run(pages)
        times.append((time.perf_counter() - start) * 1000 / len(pages))
    return statistics.median(times), min(times)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    pages = item_pages()
    extract_median, extract_best = per_page_ms(extract, pages, rounds)
    parse_median, parse_best = per_page_ms(bare_parse, pages, rounds)
    print(f"item pages: {len(pages)}, rounds: {rounds}, {sum(len(b) for _, b in pages) / len(pages) / 1024:.0f} KiB/page")
    print(f"extraction (parse included): median {extract_median:.3f} ms/page, best {extract_best:.3f} ms/page")
    print(f"bare lxml parse:             median {parse_median:.3f} ms/page, best {parse_best:.3f} ms/page")
    print(f"ratio: median {extract_median / parse_median:.2f}x, best {extract_best / parse_best:.2f}x")


if __name__ == "__main__":
    main()
