"""Benchmark: ``scrapy export`` of a large generated store — throughput and bounded memory.

Generates a store of ``--rows`` items (default 200,000) derived from the fixture records (other
urls, ids, days, tags and body lengths; a share of them with an earlier revision) in a temporary
directory, then runs ``scrapy export`` on it in a child process and prints rows/s, the peak RSS
growth of the export (peak resident memory minus the resident memory once everything was imported)
and the sizes written. The generated data is deleted at the end (``--keep`` to look at it).

``--engine postgresql`` copies the same generated rows (``COPY``, timed apart) into a database of a
temporary PostgreSQL 15 cluster on a free 127.0.0.1 port (as ``bench/store_engines.py``) and exports
from there; ``--engine both`` exports from each, prints them side by side and compares the files'
sha256 (from each export's manifest; the card names the engine). ``--against DIR`` also exports
the same store with the crawler's code in DIR, alternated with this one's, and prints the ratios.

    python bench/export_scale.py                 # 200,000 rows, every format, revisions too
    python bench/export_scale.py --rows 20000
    python bench/export_scale.py --engine both
    git archive main | tar -x -C /tmp/main && python bench/export_scale.py --against /tmp/main  # before/after
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mayadeen.export.run import CARD  # noqa: E402
from mayadeen.record import content_hash, utc_timestamp  # noqa: E402
from mayadeen.store.engines import POSTGRESQL, SQLITE, StoreTarget, connect  # noqa: E402
from mayadeen.store.model import BOOKKEEPING_COLUMNS, JSON_COLUMNS, RECORD_COLUMNS  # noqa: E402
from mayadeen.store.sqlite import ArticleStore, stored_json  # noqa: E402
from tests.postgres_server import PostgresCluster  # noqa: E402

SEED = 12
START = datetime(2016, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=3653)  # ten years: 200,000 items are about 55 a day
REVISED_SHARE = 0.02
#: What the PostgreSQL load copies from the generated SQLite file (``articles.search`` is generated).
COPIED = {
    "articles": (*RECORD_COLUMNS, *BOOKKEEPING_COLUMNS),
    "article_urls": ("url", "article_id"),
    "article_revisions": ("article_id", "revision", "url", "content_hash", "date_modified", "record", "seen_at"),
}

# The child process: imports everything first, then measures the export alone.
CHILD = """
import sys, time
from pathlib import Path
from mayadeen.commands.export import summary
from mayadeen.export.run import ExportRequest, export
from mayadeen.store.engines import parse_store
from mayadeen.store.read import Selection
import pyarrow.parquet, matplotlib.figure
target = parse_store(sys.argv[1])
if target.engine == "postgresql":
    import mayadeen.store.postgres  # psycopg, before the baseline
def status_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
before = status_kb("VmRSS")
started, cpu = time.perf_counter(), time.process_time()
overwrite = sys.argv[3:] == ["--overwrite"]
result = export(ExportRequest(store=target, out=Path(sys.argv[2]), with_revisions=True, overwrite=overwrite))
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
# not ru_maxrss: a child starts with its parent's (the DuckDB figures made this one's 2.5 GB)
peak = status_kb("VmHWM")
rows = result.manifest["rows"]
print(f"{before} {peak} {elapsed:.3f} {cpu:.3f} {rows['articles']} {rows['revisions']}")
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
    insert = (
        f"INSERT INTO articles ({names}, first_seen, last_seen, revision)"
        f" VALUES ({', '.join('?' * len(RECORD_COLUMNS))}, ?, ?, ?)"
    )
    insert_revision = (
        "INSERT INTO article_revisions (article_id, url, revision, content_hash, date_modified,"
        " record, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    insert_url = "INSERT INTO article_urls (url, article_id) VALUES (?, ?)"
    revisions = 0
    con.execute("BEGIN")
    for i in range(rows):
        base = templates[i % len(templates)]
        published = START + timedelta(seconds=int(SPAN.total_seconds() * i / rows))
        record = dict(base)
        record.update(
            url=f"{base['url']}-{i}",
            article_id=str(2_000_000 + i),
            date_published=utc_timestamp(published),
            date_modified=utc_timestamp(published + timedelta(hours=1)),
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
            con.execute(
                insert_revision,
                (
                    record["article_id"],
                    record["url"],
                    1,
                    old["content_hash"],
                    old["date_modified"],
                    stored_json(old),
                    seen,
                ),
            )
            revisions += 1
            revision = 2
        values = [stored_json(record[c]) if c in JSON_COLUMNS else record[c] for c in RECORD_COLUMNS]
        con.execute(insert, (*values, seen, seen, revision))
        con.execute(insert_url, (record["url"], record["article_id"]))
        if i % 20_000 == 19_999:
            con.execute("COMMIT")
            con.execute("BEGIN")
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return revisions


def load_postgres(source: Path, url: str) -> int:
    """The generated store's rows copied into the PostgreSQL database at ``url`` (tables made by the
    store itself; the server turns JSON and time text into ``jsonb``/``timestamptz``); returns its bytes."""
    import psycopg

    connect(StoreTarget(POSTGRESQL, url)).close()
    rows = sqlite3.connect(source)
    try:
        with psycopg.connect(url) as conn:
            for table, columns in COPIED.items():
                names = ", ".join(columns)
                with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows.execute(f"SELECT {names} FROM {table}"):
                        copy.write_row(row)
            conn.commit()
            conn.execute("ANALYZE")
            return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    finally:
        rows.close()


@dataclass
class Figures:
    """One export's measurements."""

    before_kb: int
    peak_kb: int
    seconds: float
    #: CPU time of the export (user + system, every thread): less swayed by a loaded machine than ``seconds``.
    cpu_seconds: float
    items: int
    revisions: int
    sizes: dict[str, int]
    sha256: dict[str, str]

    @property
    def rate(self) -> float:
        return (self.items + self.revisions) / self.seconds

    @property
    def cpu_rate(self) -> float:
        return (self.items + self.revisions) / self.cpu_seconds

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.before_kb) / 1024


def export_from(store: str, out: Path, *options: str, code: Path = ROOT) -> Figures:
    """``scrapy export`` (every format, revisions too) of ``store`` (a path or URL) into ``out``, in a
    child running the crawler in ``code``; ``--overwrite``: over the export already there."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, store, str(out), *options],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=True,
    )
    before_kb, peak_kb, elapsed, cpu, items, revision_rows = proc.stdout.split()
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    sizes: dict[str, int] = {}
    for f in manifest["files"]:
        top = f["path"].split("/", 1)[0]
        sizes[top] = sizes.get(top, 0) + f["bytes"]
    return Figures(
        int(before_kb),
        int(peak_kb),
        float(elapsed),
        float(cpu),
        int(items),
        int(revision_rows),
        sizes,
        {f["path"]: f["sha256"] for f in manifest["files"]},
    )


def print_figures(fig: Figures) -> None:
    print(
        f"export: {fig.items:,} items + {fig.revisions:,} revisions in {fig.seconds:.1f} s = "
        f"{fig.rate:,.0f} rows/s (every format, card and report); CPU {fig.cpu_seconds:.1f} s ="
        f" {fig.cpu_rate:,.0f} rows per CPU second"
    )
    print(
        f"peak RSS growth: {fig.growth_mb:,.0f} MB "
        f"(resident after imports {fig.before_kb / 1024:,.0f} MB, peak {fig.peak_kb / 1024:,.0f} MB)"
    )
    for name, size in sorted(fig.sizes.items()):
        print(f"  {name:<20} {size / 1e6:>10,.1f} MB")


def print_side_by_side(figures: dict[str, Figures]) -> None:
    lines = {
        "export, s": lambda f: f"{f.seconds:,.1f}",
        "rows/s": lambda f: f"{f.rate:,.0f}",
        "CPU, s": lambda f: f"{f.cpu_seconds:,.1f}",
        "peak RSS growth, MB": lambda f: f"{f.growth_mb:,.0f}",
        "resident after imports, MB": lambda f: f"{f.before_kb / 1024:,.0f}",
    }
    names = sorted({n for f in figures.values() for n in f.sizes})
    lines.update({f"{n}, MB": (lambda f, n=n: f"{f.sizes.get(n, 0) / 1e6:,.1f}") for n in names})
    print(f"{'':<28}" + "".join(f"{engine:>14}" for engine in figures))
    for label, value in lines.items():
        print(f"{label:<28}" + "".join(f"{value(f):>14}" for f in figures.values()))
    first, second = figures.values()
    differing = sorted(
        p
        for p in first.sha256.keys() | second.sha256.keys()
        if p != CARD and first.sha256.get(p) != second.sha256.get(p)
    )
    print(
        "every file but the card (which names the engine), by the sha256 in each manifest: "
        + ("identical" if not differing else "differ: " + ", ".join(differing))
    )


def print_duckdb(store: Path, parquet: Path, work: Path) -> None:
    """DuckDB against pyarrow: can DuckDB read the SQLite store itself, and how fast and byte-stable
    its ``COPY … TO … (FORMAT parquet, PARTITION_BY …)`` writes the same rows as pyarrow does."""
    try:
        import duckdb
    except ImportError:
        print("duckdb: not installed (pip install duckdb to measure it)")
        return
    import hashlib

    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    con = duckdb.connect()
    try:
        con.execute("LOAD sqlite")
        con.execute(f"ATTACH '{store}' AS s (TYPE sqlite, READ_ONLY)")
        print("duckdb: reads the SQLite store directly")
    except duckdb.Error as exc:
        print(f"duckdb {duckdb.__version__}: cannot read SQLite directly here ({str(exc).splitlines()[0][:110]})")
    table = ds.dataset(parquet, format="parquet", partitioning="hive").to_table()
    table = table.drop_columns([c for c in ("year", "month") if c in table.column_names])
    keys = [(t.year, t.month) for t in table["date_published"].to_pylist()]
    table = table.append_column("year", [[y for y, _ in keys]]).append_column("month", [[m for _, m in keys]])

    def digest(root: Path) -> str:
        found = hashlib.sha256()
        for path in sorted(root.rglob("*.parquet")):
            found.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
        return found.hexdigest()

    work.mkdir(parents=True, exist_ok=True)
    con.register("items", table)
    timings: dict[str, list[float]] = {"duckdb": [], "pyarrow": []}
    digests: dict[str, set[str]] = {"duckdb": set(), "pyarrow": set()}
    for round_ in range(2):  # alternated, so the machine's load weighs on both alike
        for name in ("duckdb", "pyarrow"):
            out = work / f"{name}-{round_}"
            started = time.perf_counter()
            if name == "duckdb":
                con.execute(
                    f"COPY items TO '{out}' (FORMAT parquet, PARTITION_BY (year, month), COMPRESSION zstd,"
                    " ROW_GROUP_SIZE 5000)"
                )
            else:
                pq.write_to_dataset(table, out, partition_cols=["year", "month"], compression="zstd",
                                    row_group_size=5000, basename_template="part-{i}.parquet")  # fmt: skip
            timings[name].append(time.perf_counter() - started)
            digests[name].add(digest(out))
    for name, seconds in timings.items():
        print(
            f"  {name:<8} writes {table.num_rows:,} items as partitioned Parquet: {min(seconds):.2f} s"
            f" (best of 2); same bytes both times: {len(digests[name]) == 1}"
        )


def print_against(store: Path, against: Path, rounds: int, work: Path) -> None:
    """This checkout's export against the one of the crawler in ``against`` (say ``git archive main``
    unpacked), alternated ``rounds`` times on the same store, so the machine's load weighs on both."""
    figures: dict[str, list[Figures]] = {"this": [], "against": []}
    for round_ in range(rounds):
        for name, code in (("this", ROOT), ("against", against.resolve())):
            out = work / f"against-{name}"
            figures[name].append(export_from(str(store), out, code=code))
            shutil.rmtree(out)
            f = figures[name][-1]
            print(
                f"  round {round_ + 1} {name:<8} {f.seconds:7.1f} s {f.rate:7,.0f} rows/s  CPU {f.cpu_seconds:6.1f} s"
                f" {f.cpu_rate:7,.0f} rows/CPU s  peak RSS {f.peak_kb / 1024:,.0f} MB"
            )
    this, other = ([statistics.median(getattr(f, a) for f in figures[n]) for a in ("seconds", "cpu_seconds")]
                   for n in ("this", "against"))  # fmt: skip
    differing = {p for t, o in zip(figures["this"], figures["against"]) for p in t.sha256.keys() | o.sha256.keys()
                 if p != CARD and t.sha256.get(p) != o.sha256.get(p)}  # fmt: skip
    print(
        f"against {against}: wall {other[0] / this[0]:.2f}x, CPU {other[1] / this[1]:.2f}x as long (medians);"
        " files by sha256: " + ("identical" if not differing else "differ: " + ", ".join(sorted(differing)))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--engine", choices=(SQLITE, POSTGRESQL, "both"), default=SQLITE)
    parser.add_argument("--keep", action="store_true", help="keep the generated store and export")
    parser.add_argument("--store", type=Path, help="a store an earlier run kept (--keep) instead of a new one")
    parser.add_argument("--against", type=Path, help="also export with the crawler in this directory, alternated")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --against (default 2)")
    args = parser.parse_args()
    engines = (SQLITE, POSTGRESQL) if args.engine == "both" else (args.engine,)
    work = Path(tempfile.mkdtemp(prefix="mayadeen-export-bench-"))
    cluster = None
    try:
        store = args.store or work / "mayadeen.sqlite"
        if not args.store:
            started = time.perf_counter()
            revisions = generate(store, args.rows)
            print(
                f"generated {args.rows:,} items and {revisions:,} revisions in {time.perf_counter() - started:.0f} s;"
                f" store {store.stat().st_size / 1e6:,.0f} MB"
            )
        figures: dict[str, Figures] = {}
        for engine in engines:
            where = str(store)
            if engine == POSTGRESQL:
                cluster = PostgresCluster().start()
                where = cluster.new_database()
                started = time.perf_counter()
                size = load_postgres(store, where)
                print(
                    f"postgresql: loaded with COPY in {time.perf_counter() - started:.0f} s (not in the export"
                    f" figures); database {size / 1e6:,.0f} MB"
                )
            figures[engine] = export_from(where, work / f"export-{engine}")
            if len(engines) == 1:
                print_figures(figures[engine])
                again = export_from(where, work / f"export-{engine}", "--overwrite")
                print(
                    f"unchanged re-export (--overwrite into the same directory): {again.seconds:.2f} s ="
                    f" {again.seconds / figures[engine].seconds:.1%} of the full export (CPU"
                    f" {again.cpu_seconds:.2f} s = {again.cpu_seconds / figures[engine].cpu_seconds:.1%}),"
                    f" files identical: {again.sha256 == figures[engine].sha256}"
                )
                if engine == SQLITE:
                    print_duckdb(store, work / f"export-{engine}" / "parquet", work / "duckdb")
        if len(engines) > 1:
            print_side_by_side(figures)
        if args.against:
            print_against(store, args.against, args.rounds, work)
        print("load average (1, 5, 15 min): " + ", ".join(f"{n:.1f}" for n in os.getloadavg()))
    finally:
        if cluster is not None:
            cluster.stop()
        if args.keep:
            print(f"kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
