"""What a 5-minute feed run costs on a 200,000-item store, against a store of only the items it sees.

Builds, in a temporary directory removed afterwards, a store of the fixture mirror's 14 items plus
ROWS synthetic items (bodies of BODY_BYTES; about 1.4 GB for the defaults, like the archive the
crawler is meant for), serves the fixtures on 127.0.0.1 and runs ``scrapy crawl feed`` against it:

* on an empty store (it finds the 14 items new),
* on a store holding only those 14 items, and on the large store (it finds nothing new),

alternated REPEAT rounds, printing the median wall time and the peak RSS of the crawl process. Then, in
this process, the bytes SQLite reads (``rchar`` of ``/proc/self/io``: every ``read``/``pread``,
from the page cache or not) when a spider opens: opening the store as the pipeline does, filing the
run row, and looking up the URLs the feed lists; and, for comparison, what reading every stored
item's dates from the rows at open (as before the lookups) reads.

    python bench/store_scale.py                 # defaults: 200,000 rows of 5,000-byte bodies, 3 runs each
    python bench/store_scale.py --rows 20000    # a quicker look
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mayadeen.pages.discovery import read_rss, read_sitemap  # noqa: E402
from mayadeen.store.model import RECORD_COLUMNS  # noqa: E402
from mayadeen.store.sqlite import ArticleStore  # noqa: E402
from tests.conftest import FAST  # noqa: E402
from tests.fixture_server import FixtureServer, FixtureSite  # noqa: E402

PUBLIC = "https://english.almayadeen.net"


def feed_run(server_url: str, sqlite: Path, workdir: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) and last log line of one ``scrapy crawl feed``."""
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        "feed",
        "-a",
        f"base_url={server_url}",
        "-s",
        f"MAYADEEN_SQLITE_PATH={sqlite}",
        "-s",
        f"MAYADEEN_JSONL_PATH={workdir / 'out.jsonl'}",
    ]
    for name, value in FAST.items():
        cmd += ["-s", f"{name}={value}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    log = workdir / "feed.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    last = log.read_text("utf-8").strip().splitlines()[-1]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"feed run failed: {last}")
    return wall, usage.ru_maxrss * 1024, last


def add_synthetic_rows(sqlite: Path, rows: int, body_bytes: int) -> None:
    """``rows`` made-up items, written straight into the tables in one transaction."""
    filler = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * (body_bytes // 56 + 1))[:body_bytes]
    columns = (*RECORD_COLUMNS, "first_seen", "last_seen", "revision")
    with ArticleStore(sqlite) as store, store.conn:
        store.conn.execute("BEGIN IMMEDIATE")
        batch = []
        for n in range(rows):
            url = f"{PUBLIC}/news/politics/synthetic-item-{n}"
            day = f"20{15 + n % 10}-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00Z"
            record = {
                "url": url,
                "article_id": str(3_000_000 + n),
                "kind": "article",
                "section_group": "News",
                "section": "Politics",
                "headline": f"Synthetic item {n}",
                "summary": "A made-up standfirst.",
                "body": f"{n} {filler}",
                "authors": '["Al Mayadeen English"]',
                "source": None,
                "date_published": day,
                "date_modified": day,
                "tags": '["Synthetic"]',
                "read_time_minutes": 4,
                "shares": n % 100,
                "word_count": body_bytes // 6,
                "image": None,
                "images": "[]",
                "video": None,
                "related": "[]",
                "language": "en",
                "scraped_at": day,
                "content_hash": f"{n:064x}",
            }
            batch.append((*(record[c] for c in RECORD_COLUMNS), day, day, 1))
            if len(batch) == 5000:
                flush(store, columns, batch)
        flush(store, columns, batch)


def flush(store: ArticleStore, columns, batch: list) -> None:
    store.conn.executemany(
        f"INSERT INTO articles ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", batch
    )
    store.conn.executemany("INSERT INTO article_urls (url, article_id) VALUES (?, ?)", [(b[0], b[1]) for b in batch])
    batch.clear()


def rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def bytes_read_at_open(sqlite: Path, urls: list[str]) -> tuple[int, int]:
    """Bytes read opening the store, filing a run and looking up ``urls``; and reading every item's dates."""
    before = rchar()
    with ArticleStore(sqlite) as store:
        store.start_run("bench")
        found = store.lookup(urls)
    lookup = rchar() - before
    assert len(found) == 14, found
    before = rchar()
    with ArticleStore(sqlite, readonly=True) as store:
        # NOT INDEXED: from the rows, as before the covering index (the dates sit after the body)
        rows = store.conn.execute("SELECT url, date_modified, date_published, content_hash FROM articles NOT INDEXED")
        for _ in rows:
            pass
    return lookup, rchar() - before


def alternated_runs(server_url: str, run_db: Path, stores: dict[str, Path | None], workdir: Path, repeat: int):
    """Each store's feed runs, alternated round by round (the machine's load weighs on all alike):
    label -> (median wall, median peak RSS); a store of None is an empty one."""
    figures: dict[str, tuple[list[float], list[int]]] = {label: ([], []) for label in stores}
    for _ in range(repeat):
        for label, template in stores.items():
            if template is None:
                run_db.unlink(missing_ok=True)
            else:
                shutil.copyfile(template, run_db)
            wall, peak, last = feed_run(server_url, run_db, workdir)
            figures[label][0].append(wall)
            figures[label][1].append(peak)
    out = {}
    for label, (walls, peaks) in figures.items():
        out[label] = statistics.median(walls), statistics.median(peaks)
        print(f"{label:<42} wall {out[label][0]:5.2f} s   peak RSS {out[label][1] / 2**20:6.1f} MB")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--body-bytes", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--large", type=Path, help="a large store an earlier run of this bench built (not built again; read only)"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mayadeen-bench-"))
    try:
        with FixtureServer(FixtureSite()) as server:
            small, large, run_db = workdir / "small.sqlite", workdir / "large.sqlite", workdir / "run.sqlite"
            feed_run(server.url, small, workdir)  # the 14 items the feed lists
            started = time.perf_counter()
            if args.large:
                large = args.large
            else:
                shutil.copyfile(small, large)
                add_synthetic_rows(large, args.rows, args.body_bytes)
                with ArticleStore(large) as store:
                    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            print(
                f"store: {args.rows + 14:,} items, {large.stat().st_size / 1e9:.2f} GB "
                f"(built in {time.perf_counter() - started:.0f} s)"
            )
            labels = ("feed, empty store (14 new)", "feed, 14-item store (nothing new)")
            labels += (f"feed, {args.rows + 14:,}-item store (nothing new)",)
            found = alternated_runs(server.url, run_db, dict(zip(labels, (None, small, large))), workdir, args.repeat)
            empty, base, big = (found[label] for label in labels)
            site = FixtureSite()
            urls = sorted(
                {e.url for e in read_rss(site.body("/rss"), PUBLIC)}
                | {e.url for e in read_sitemap(site.body("/sitemaps/news.xml"), PUBLIC).entries}
            )
            shutil.copyfile(large, run_db)
            opened, scanned = bytes_read_at_open(run_db, urls)
        print(
            f"large vs 14-item store: wall x{big[0] / base[0]:.2f}, peak RSS {(big[1] - base[1]) / 2**20:+.1f} MB;"
            f" vs empty store: wall x{big[0] / empty[0]:.2f}, peak RSS {(big[1] - empty[1]) / 2**20:+.1f} MB"
        )
        print(f"bytes SQLite reads at spider open (open, run row, {len(urls)} URLs looked up): {opened:,}")
        print(f"  for comparison, reading every item's dates from the rows: {scanned:,}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
