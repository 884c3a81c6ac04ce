"""How one crawl spread over 1, 2 and 3 workers scales, with and without a politeness budget.

Builds, at run time and in memory, a mirror of ITEMS item pages cloned from the fixtures
(``bench/mirror.py``), serves it on 127.0.0.1 through a server that records when each request
arrived and how many it had open at once (on its own clock), starts a ``redis-server`` on a free port
and runs the ``sitemap`` spider as 1, 2 and 3 ``scrapy crawl`` workers joined in one crawl (each worker
with its own SQLite file and JSON Lines output, in a temporary directory):

* budget unlimited (``DOWNLOAD_DELAY=0``, 16 requests per site per worker): wall time from the first
  worker's start to the last one's exit, items/s, and CPU seconds per item of all workers together —
  on 2 cores the crawl is CPU-bound, so more workers share the same cores;
* budget set (``DOWNLOAD_DELAY=0.02``, ``CONCURRENT_REQUESTS_PER_DOMAIN=2``, over BUDGET_ITEMS items):
  items/s, and the rate and the most requests open at once that the server saw — one budget for the
  crawl, so they stay flat as workers are added.

    python bench/distributed_scale.py                      # 2,000 items, 600 under the budget
    python bench/distributed_scale.py --items 500 --budget-items 200

Needs ``redis-server`` (apt-get install redis-server). Takes about 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mirror import ClonedSite  # noqa: E402
from tests.distributed import REDIS_SERVER, MeteredServer, RedisServer, finish, log_of, start_worker, stat  # noqa: E402

WORKERS = (1, 2, 3)
DELAY = 0.02
BUDGET = {"DOWNLOAD_DELAY": str(DELAY), "CONCURRENT_REQUESTS_PER_DOMAIN": "2"}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def crawl(site: ClonedSite, workers: int, tmp: Path, settings: dict) -> dict[str, float]:
    """One crawl of ``site`` by ``workers`` workers through a new redis-server; its figures."""
    dirs = [tmp / f"worker{i}" for i in range(1, workers + 1)]
    with RedisServer(tmp / "redis") as redis_srv, MeteredServer(site) as server:
        cpu, start = children_cpu(), time.monotonic()
        codes = finish(
            [start_worker("sitemap", server.url, d, redis_srv.url, settings=settings) for d in dirs], timeout=1200
        )
        wall, cpu = time.monotonic() - start, children_cpu() - cpu
        arrivals = sorted(server.arrivals)
        figures = {
            "most_open": server.most_open,
            "excess_over_rate": round(server.excess_over_rate(DELAY), 2) if "DOWNLOAD_DELAY" in settings else None,
        }
    if codes != [0] * workers:
        raise SystemExit(f"{workers} worker(s) exited {codes}:\n{log_of(dirs[codes.index(max(codes))])[-3000:]}")
    items = sum(stat(log_of(d), "item_scraped_count") for d in dirs)
    if items != len(site.item_paths()):
        raise SystemExit(f"{workers} worker(s) stored {items} items of {len(site.item_paths())}")
    span = arrivals[-1] - arrivals[0]
    return {
        "workers": workers,
        "items": items,
        "wall_s": round(wall, 1),
        "items_per_s": round(items / wall, 1),
        "cpu_ms_per_item": round(1000 * cpu / items, 1),
        "requests": len(arrivals),
        "server_rate_per_s": round((len(arrivals) - 1) / span, 1),
        "items_per_worker": [stat(log_of(d), "item_scraped_count") for d in dirs],
        **figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000, help="items of the unlimited runs")
    parser.add_argument("--budget-items", type=int, default=600, help="items of the runs under the budget")
    args = parser.parse_args()
    if REDIS_SERVER is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode, items, settings in (("unlimited", args.items, {}), ("budget", args.budget_items, BUDGET)):
            site = ClonedSite(items)
            for workers in WORKERS:
                figures = {"mode": mode, **crawl(site, workers, Path(tmp) / f"{mode}{workers}", settings)}
                print("  ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
                runs.append(figures)
    print(json.dumps(runs))


if __name__ == "__main__":
    main()
