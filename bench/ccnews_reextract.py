"""How fast `scrapy reextract --warc` reads a CC-NEWS-like file: records per second, on one core.

Builds, at run time in a temporary directory, a gzipped WARC file like a CC-NEWS one
(``tests/ccnews_warc.py``): the fixtures' 14 item pages among many captures of other news sites (a
request, a response and a metadata record each), then runs `scrapy reextract --warc` on it into a
fresh store, pinned to one core (``taskset -c 0`` when there is one), and prints records read per
second of the run (process start-up excluded: Scrapy's ``elapsed_time_seconds``).

    python bench/ccnews_reextract.py [--others 20000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ccnews_warc import build  # noqa: E402  (after the path is set)


def stat(log: str, name: str) -> float:
    found = re.findall(rf"'{re.escape(name)}': ([\d.]+)", log)
    return float(found[-1]) if found else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--others", type=int, default=20_000, help="captures of other sites (3 records each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warc = Path(tmp) / "CC-NEWS-bench.warc.gz"
        counts = build(warc, others=args.others)
        records = sum(counts.values())
        argv = [
            sys.executable,
            "-m",
            "scrapy",
            "reextract",
            "--warc",
            str(warc),
            "-s",
            f"MAYADEEN_SQLITE_PATH={Path(tmp) / 'store.sqlite'}",
            "-s",
            "LOG_LEVEL=INFO",
        ]
        if shutil.which("taskset"):
            argv = ["taskset", "-c", "0", *argv]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            sys.exit(proc.stderr[-4000:])
        read = stat(proc.stderr, "mayadeen/reextract/records")
        elapsed = stat(proc.stderr, "elapsed_time_seconds")
        print(f"file: {warc.stat().st_size / 1e6:.1f} MB gzipped, {records} records ({counts['items']} item pages)")
        print(
            f"read {read:.0f} records, stored {stat(proc.stderr, 'mayadeen/items/new'):.0f} items in {elapsed:.2f} s:"
            f" {read / elapsed:,.0f} records/s on one core"
        )


if __name__ == "__main__":
    main()
