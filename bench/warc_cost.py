"""What the WARC archive costs, and how fast `scrapy reextract` rebuilds records from it.

Builds, at run time and in memory, a 2,000-item mirror cloned from the fixtures' 14 item pages
(``bench/mirror.py``: nothing is written to the repository), serves it on 127.0.0.1 and measures:

* the `sitemap` crawl of every item without and with archiving (time per page; bytes per item);
* a second archiving crawl of the same items (`-a full=1`): identical payloads, written as revisits;
* `WarcWriter.write` alone over the same 2,000 responses (the archiving work without the crawl's noise),
  at gzip levels 1, 3, 6 (the project's) and 9: time per page against bytes per item;
* `scrapy reextract` of the archive into a fresh store: records/s against the crawl's pages/s.

    python bench/warc_cost.py [--items 2000]

Times are the crawls' own ``elapsed_time_seconds`` (process start-up excluded); on a busy machine run
it twice and take the lower figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mirror import HTML, ClonedSite  # noqa: E402
from mayadeen.archive.warc import GZIP_LEVEL, Fetched, WarcWriter  # noqa: E402
from mayadeen.urls import PUBLIC_URL  # noqa: E402
from tests.fixture_server import FixtureServer  # noqa: E402

#: The gzip levels compared by ``WarcWriter.write`` alone.
LEVELS = (1, 3, 6, 9)
FAST = {
    "AUTOTHROTTLE_ENABLED": "0",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "LOG_LEVEL": "INFO",
    "MAYADEEN_JSONL_PATH": "",
}


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}


def _stats(log: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"'([\w/]+)': (\d+(?:\.\d+)?)", log)}


def run(argv: list[str], settings: dict) -> dict[str, float]:
    cmd = [sys.executable, "-m", "scrapy", *argv]
    for k, v in {**FAST, **settings}.items():
        cmd += ["-s", f"{k}={v}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:2])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return _stats(proc.stderr)


def crawl(server: str, store: Path, warc: str, full: bool = False) -> dict[str, float]:
    argv = ["crawl", "sitemap", "-a", f"base_url={server}", "-a", "js=0"] + (["-a", "full=1"] if full else [])
    return run(argv, {"MAYADEEN_SQLITE_PATH": store, "MAYADEEN_WARC_DIR": warc})


def size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.warc.gz"))


def writer_only(site: ClonedSite, directory: Path, level: int = GZIP_LEVEL) -> float:
    """Seconds per page of ``WarcWriter.write`` alone, over every cloned item page."""
    pages = [(p, site.pages[p]) for p in site.item_paths()]
    writer = WarcWriter(directory, "bench-writer", max_size=10**9, info={"software": "bench"}, gzip_level=level)
    now = datetime.now(UTC)
    headers = [("Content-Type", HTML), ("Content-Length", "0")]
    start = time.perf_counter()
    for path, answer in pages:
        writer.write(
            Fetched(PUBLIC_URL + path, now, "GET", [("User-Agent", "bench")], 200, "HTTP/1.1", headers, answer.body)
        )
    writer.close()
    return (time.perf_counter() - start) / len(pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    args = parser.parse_args()
    site = ClonedSite(args.items)
    html_bytes = sum(len(site.pages[p].body) for p in site.item_paths())
    with tempfile.TemporaryDirectory() as tmp, FixtureServer(site) as server:
        tmp = Path(tmp)
        off = crawl(server.url, tmp / "off.sqlite", "")
        on = crawl(server.url, tmp / "on.sqlite", str(tmp / "warc"))
        first_bytes = size(tmp / "warc")
        again = crawl(server.url, tmp / "on.sqlite", str(tmp / "warc"), full=True)
        revisit_bytes = size(tmp / "warc") - first_bytes
        re_stats = run(["reextract", "--warc-dir", str(tmp / "warc")], {"MAYADEEN_SQLITE_PATH": tmp / "re.sqlite"})
        per_write = writer_only(site, tmp / "writer")
        by_level = {
            level: (writer_only(site, tmp / f"level{level}", level), size(tmp / f"level{level}")) for level in LEVELS
        }
    items = int(on.get("item_scraped_count", 0))
    figures = {
        "items": items,
        "item_html_bytes_avg": round(html_bytes / args.items),
        "crawl_off_s": off["elapsed_time_seconds"],
        "crawl_on_s": on["elapsed_time_seconds"],
        "crawl_off_pages_per_s": round(off.get("item_scraped_count", 0) / off["elapsed_time_seconds"], 1),
        "crawl_on_pages_per_s": round(items / on["elapsed_time_seconds"], 1),
        "archiving_ms_per_page_in_crawl": round(
            1000 * (on["elapsed_time_seconds"] - off["elapsed_time_seconds"]) / items, 2
        ),
        "warc_write_ms_per_page_alone": round(1000 * per_write, 2),
        "warc_bytes_per_item": round(first_bytes / items),
        "warc_bytes_per_revisit": round(revisit_bytes / max(1, again.get("mayadeen/warc/revisits", 0))),
        "revisits_second_crawl": int(again.get("mayadeen/warc/revisits", 0)),
        "reextract_s": re_stats["elapsed_time_seconds"],
        "reextract_records": int(re_stats.get("item_scraped_count", 0)),
        "reextract_records_per_s": round(re_stats.get("item_scraped_count", 0) / re_stats["elapsed_time_seconds"], 1),
    }
    for level, (seconds, written) in by_level.items():
        figures[f"gzip_level_{level}_ms_per_page"] = round(1000 * seconds, 2)
        figures[f"gzip_level_{level}_bytes_per_item"] = round(written / len(site.item_paths()))
    figures["reextract_vs_crawl"] = round(figures["reextract_records_per_s"] / figures["crawl_off_pages_per_s"], 2)
    for key, value in figures.items():
        print(f"{key:34} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
