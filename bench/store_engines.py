"""What storing an item costs on each store engine: SQLite file against a local PostgreSQL 15.

Generates ITEMS records from the fixture mirror's 14 (new ids, urls and headlines), then, through the
store interface (one transaction per item, as the pipeline does), on each engine:

* stores them all (new), stores them all again (unchanged: metadata updated in place),
* stores them with a changed body (updated: each files a revision),
* looks up every url (what freshness asks a sitemap's worth at a time), reads every record back,

and prints the wall time per item of each step. Then WRITERS processes store the same changed items
at once (the shared-store case) and it prints their combined rate. PostgreSQL runs in a temporary
cluster on a free 127.0.0.1 port (fsync off, like the SQLite store's ``synchronous=NORMAL`` it still
commits each transaction to the WAL) and both stores live on the same disk.

    python bench/store_engines.py                # 2,000 items, 3 concurrent writers
    python bench/store_engines.py --items 500
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mayadeen.record import content_hash  # noqa: E402
from mayadeen.store.engines import POSTGRESQL, SQLITE, StoreTarget, connect  # noqa: E402
from tests.postgres_server import PostgresCluster  # noqa: E402

WRITER = """
import json, sys
from mayadeen.store.engines import StoreTarget, connect
engine, where, path = sys.argv[1:4]
records = json.loads(open(path).read())
with connect(StoreTarget(engine, where)) as store:
    print(json.dumps([store.upsert(r) for r in records]))
"""


def generated(count: int) -> list[dict]:
    base = [json.loads(p.read_text("utf-8")) for p in sorted((ROOT / "fixtures" / "expected").glob("*.json"))]
    out = []
    for n in range(count):
        record = dict(base[n % len(base)])
        record.update(
            article_id=str(9_000_000 + n),
            url=f"{record['url']}-{n}",
            headline=f"{record['headline']} #{n}",
            scraped_at="2025-08-04T12:30:00Z",
        )
        record["content_hash"] = content_hash(record)
        out.append(record)
    return out


def changed(records: list[dict], tag: str) -> list[dict]:
    out = []
    for record in records:
        new = dict(record, body=f"{record['body']}\n\n{tag}")
        new["content_hash"] = content_hash(new)
        out.append(new)
    return out


def per_item(seconds: float, count: int) -> str:
    return f"{seconds / count * 1000:6.2f} ms/item ({count / seconds:7.0f} items/s)"


def measure(target: StoreTarget, records: list[dict], writers: int, workdir: Path) -> None:
    print(f"{target.engine}:")
    with connect(target) as store:
        for label, batch in (("new", records), ("unchanged", records), ("updated", changed(records, "edit 1"))):
            started = time.perf_counter()
            outcomes = {store.upsert(r) for r in batch}
            print(f"  store, {label:10s} {per_item(time.perf_counter() - started, len(batch))}  {sorted(outcomes)}")
        started = time.perf_counter()
        for start in range(0, len(records), 500):
            store.lookup(r["url"] for r in records[start : start + 500])
        print(f"  lookup             {per_item(time.perf_counter() - started, len(records))}")
        started = time.perf_counter()
        assert sum(1 for _ in store.iter_records()) == len(records)
        print(f"  read back          {per_item(time.perf_counter() - started, len(records))}")
    batch = workdir / f"{target.engine}-batch.json"
    batch.write_text(json.dumps(changed(records, "edit 2")))
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, target.engine, target.location, str(batch)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(writers)
    ]
    outcomes = [o for p in procs for o in json.loads(p.communicate()[0])]
    elapsed = time.perf_counter() - started
    print(
        f"  {writers} writers at once, the same {len(records)} changed items: {per_item(elapsed, len(outcomes))}"
        f" (process start included); updated {outcomes.count('updated')}, unchanged {outcomes.count('unchanged')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=3)
    opts = parser.parse_args()
    records = generated(opts.items)
    with tempfile.TemporaryDirectory(prefix="mayadeen-bench-") as tmp:
        workdir = Path(tmp)
        measure(StoreTarget(SQLITE, str(workdir / "bench.sqlite")), records, opts.writers, workdir)
        cluster = PostgresCluster().start()
        try:
            measure(StoreTarget(POSTGRESQL, cluster.new_database()), records, opts.writers, workdir)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
