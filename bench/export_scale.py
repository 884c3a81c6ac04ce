"""Benchmark: ``scrapy export`` of a large generated store — throughput and bounded memory.

Generates a store of ``--rows`` items (default 200,000) derived from the fixture records (other
urls, ids, days, tags and body lengths; a share of them with an earlier revision) in a temporary
directory, then runs ``scrapy export`` on it in a child process and prints rows/s, the peak RSS
growth of the export (peak resident memory minus the resident memory once everything was imported)
and the sizes written. The generated data is deleted at the end (``--keep`` to look at it).

    python bench/export_scale.py                 # 200,000 rows, every format, revisions too
    python bench/export_scale.py --rows 20000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mayadeen.record import content_hash, utc_timestamp  # noqa: E402
from mayadeen.store.sqlite import JSON_COLUMNS, RECORD_COLUMNS, ArticleStore  # noqa: E402

SEED = 12
START = datetime(2016, 1, 1, tzinfo=timezone.utc)
SPAN = timedelta(days=3653)  # ten years: 200,000 items are about 55 a day
REVISED_SHARE = 0.02

# The child process: imports everything first, then measures the export alone.
CHILD = """
import resource, sys, time
from pathlib import Path
from mayadeen.commands.export import summary
from mayadeen.export.run import ExportRequest, export
from mayadeen.store.engines import StoreTarget
from mayadeen.store.read import Selection
import pyarrow.parquet, matplotlib.figure
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
before = rss_kb()
started = time.perf_counter()
result = export(ExportRequest(store=StoreTarget("sqlite", sys.argv[1]), out=Path(sys.argv[2]), with_revisions=True))
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{before} {peak} {elapsed:.3f} {result.manifest['rows']['articles']} {result.manifest['rows']['revisions']}")
"""


def _templates() -> list[dict]:
    return [json.loads(p.read_text("utf-8")) for p in sorted((ROOT / "fixtures" / "expected").glob("*.json"))]


def generate(path: Path, rows: int) -> int:
    """A store of ``rows`` items (and their earlier revisions) at ``path``; returns the revisions."""
    rng = random.Random(SEED)
    templates = _templates()
    vocabulary = sorted({t for r in templates for t in r["tags"]} | {f"Topic {i}" for i in range(300)})
    paragraphs = [p for r in templates for p in r["body"].split("\n\n") if len(p) > 80]
    ArticleStore(path).close()  # the tables, the index and its triggers
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    names = ", ".join(RECORD_COLUMNS)
    insert = (f"INSERT INTO articles ({names}, first_seen, last_seen, revision)"
              f" VALUES ({', '.join('?' * len(RECORD_COLUMNS))}, ?, ?, ?)")
    insert_revision = ("INSERT INTO article_revisions (url, revision, content_hash, date_modified, record, seen_at)"
                       " VALUES (?, ?, ?, ?, ?, ?)")
    revisions = 0
    con.execute("BEGIN")
    for i in range(rows):
        base = templates[i % len(templates)]
        published = START + timedelta(seconds=int(SPAN.total_seconds() * i / rows))
        record = dict(base)
        record.update(
            url=f"{base['url']}-{i}", article_id=str(2_000_000 + i),
            date_published=utc_timestamp(published), date_modified=utc_timestamp(published + timedelta(hours=1)),
            tags=rng.sample(vocabulary, rng.randint(0, 6)),
            body="\n\n".join(rng.choices(paragraphs, k=rng.randint(2, 12))),
            scraped_at=utc_timestamp(published + timedelta(hours=2)),
        )
        record["word_count"] = len(record["body"].split())
        record["content_hash"] = content_hash(record)
        seen = utc_timestamp(published + timedelta(days=1))
        revision = 1
        if rng.random() < REVISED_SHARE:
            old = {**record, "headline": record["headline"] + " (first version)"}
            old["content_hash"] = content_hash(old)
            con.execute(insert_revision, (record["url"], 1, old["content_hash"], old["date_modified"],
                                          json.dumps(old, ensure_ascii=False), seen))
            revisions += 1
            revision = 2
        values = [json.dumps(record[c], ensure_ascii=False) if c in JSON_COLUMNS and record[c] is not None
                  else record[c] for c in RECORD_COLUMNS]
        con.execute(insert, (*values, seen, seen, revision))
        if i % 20_000 == 19_999:
            con.execute("COMMIT")
            con.execute("BEGIN")
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return revisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="keep the generated store and export")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mayadeen-export-bench-"))
    try:
        store, out = work / "mayadeen.sqlite", work / "export"
        started = time.perf_counter()
        revisions = generate(store, args.rows)
        print(f"generated {args.rows:,} items and {revisions:,} revisions in {time.perf_counter() - started:.0f} s;"
              f" store {store.stat().st_size / 1e6:,.0f} MB")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([sys.executable, "-c", CHILD, str(store), str(out)], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=True)
        before_kb, peak_kb, elapsed, items, revision_rows = proc.stdout.split()
        elapsed, items, revision_rows = float(elapsed), int(items), int(revision_rows)
        manifest = json.loads((out / "manifest.json").read_text("utf-8"))
        sizes: dict[str, int] = {}
        for f in manifest["files"]:
            top = f["path"].split("/", 1)[0]
            sizes[top] = sizes.get(top, 0) + f["bytes"]
        print(f"export: {items:,} items + {revision_rows:,} revisions in {elapsed:.1f} s = "
              f"{(items + revision_rows) / elapsed:,.0f} rows/s (every format, card and report)")
        print(f"peak RSS growth: {(int(peak_kb) - int(before_kb)) / 1024:,.0f} MB "
              f"(resident after imports {int(before_kb) / 1024:,.0f} MB, peak {int(peak_kb) / 1024:,.0f} MB)")
        for name, size in sorted(sizes.items()):
            print(f"  {name:<20} {size / 1e6:>10,.1f} MB")
    finally:
        if args.keep:
            print(f"kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
