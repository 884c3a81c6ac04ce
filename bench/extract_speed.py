"""Extraction speed: ms per item page for ``ArticlePage(response).to_item()``, against a bare lxml parse.

Reads the item pages named in ``fixtures/expected`` (their stored bytes), and for each round builds a
fresh ``HtmlResponse`` so the parse is included, exactly as in a crawl. The bare parse is
``lxml.html`` on the same bytes. Figures are CPU time per page: the median over rounds and the best
round, and the median of the per-round ratio. Run: ``python bench/extract_speed.py [rounds]``.

``python bench/extract_speed.py --layers [rounds]`` says where the time goes instead: each layer of
``ArticlePage`` read in turn (then the loader in ``to_item``, then freeing the page), as a share of
the bare parse of the same round.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections import defaultdict
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
        pages.append((url, (FIXTURES / files[url[len(PUBLIC) :]]).read_bytes()))
    return pages


def extract(pages) -> None:
    for url, body in pages:
        ArticlePage(HtmlResponse(url=url, body=body, encoding="utf-8")).to_item()


def bare_parse(pages) -> None:
    parser = lxml.html.HTMLParser(encoding="utf-8")
    for _url, body in pages:
        lxml.html.document_fromstring(body, parser=parser)


def measure(pages, rounds: int) -> tuple[list[float], list[float]]:
    """CPU milliseconds per page of extraction and of the bare parse, per round, interleaved.

    CPU time of this process (not wall-clock) and the two runs side by side in every round keep the
    figures comparable on a machine busy with other work.
    """
    extract(pages)  # warm caches and imports, as a running crawl has them
    bare_parse(pages)
    extraction, parse = [], []
    for _ in range(rounds):
        for run, times in ((extract, extraction), (bare_parse, parse)):
            gc.collect()
            start = time.process_time()
            run(pages)
            times.append((time.process_time() - start) * 1000 / len(pages))
    return extraction, parse


# Layers every item page reads, in the order extraction first reads them; each is a cached property of
# ArticlePage. Fallback layers (the tawsiyat script, the JSON-LD video) are read by ``to_item`` only
# when the layers before them give nothing, and counted there.
LAYERS = ("root", "page_tags", "by_tag", "item_element", "meta", "jsonld", "ld_article", "item_container")
LAYERS += ("by_class", "body", "main_image", "related_links")


def layer_costs(pages, rounds: int) -> dict[str, float]:
    """Median CPU time of each step of an extraction, as a share of the same round's bare parse."""
    shares = defaultdict(list)
    clock = time.process_time
    for _ in range(rounds):
        gc.collect()
        start = clock()
        bare_parse(pages)
        bare = clock() - start
        spent = defaultdict(float)
        for url, body in pages:
            start = clock()
            page = ArticlePage(HtmlResponse(url=url, body=body, encoding="utf-8"))
            spent["response"] += clock() - start
            for name in LAYERS:
                start = clock()
                getattr(page, name)
                spent[name] += clock() - start
            start = clock()
            page.to_item()
            spent["to_item (loader)"] += clock() - start
            start = clock()
            del page
            spent["free the page"] += clock() - start
        for name, seconds in spent.items():
            shares[name].append(seconds / bare)
    return {name: statistics.median(values) for name, values in shares.items()}


def main() -> None:
    args = sys.argv[1:]
    layers = "--layers" in args
    args = [a for a in args if a != "--layers"]
    rounds = int(args[0]) if args else 200
    pages = item_pages()
    if layers:
        costs = layer_costs(pages, rounds)
        for name, share in costs.items():
            print(f"{name:18s} {share:.3f}x the bare parse")
        print(f"{'sum':18s} {sum(costs.values()):.2f}x")
        return
    extraction, parse = measure(pages, rounds)
    ratios = [e / p for e, p in zip(extraction, parse, strict=True)]
    print(
        f"item pages: {len(pages)}, rounds: {rounds}, {sum(len(b) for _, b in pages) / len(pages) / 1024:.0f} KiB/page"
    )
    print(
        f"extraction (parse included): median {statistics.median(extraction):.3f} ms/page, best {min(extraction):.3f}"
    )
    print(f"bare lxml parse:             median {statistics.median(parse):.3f} ms/page, best {min(parse):.3f}")
    print(
        f"extraction / bare parse:     median {statistics.median(ratios):.2f}x,"
        f" best rounds {min(extraction) / min(parse):.2f}x"
    )


if __name__ == "__main__":
    main()
