"""How long the worker's event loop stalls while Redis hangs (stopped with SIGSTOP) mid-crawl.

Starts a ``redis-server`` on a free port and the fixture site on 127.0.0.1 (answers after 0.1 s), runs
one ``sitemap`` worker in this process (``tests/inprocess.py``: the reactor in a thread of its own) with
the default ``MAYADEEN_REDIS_LEASE_TTL`` (30 s: socket timeouts of 1.5 s, a retry window of 15 s, so a
``--hold`` longer than about 15 s ends the worker, as it should), and ticks a ``LoopingCall``
every 10 ms on that reactor. Once the worker has requested ``--after`` item pages, Redis is stopped
for ``--hold`` seconds, then continued. Prints, per round, the longest gap between two ticks while
Redis was stopped (the longest stall of the event loop: every download, parse and heartbeat waits that
long), the requests the site answered meanwhile, and whether the crawl ended with every item.

    python bench/redis_stall.py                  # 3 rounds, Redis stopped 10 s in each
    python bench/redis_stall.py --rounds 1 --hold 12

Needs ``redis-server`` (apt-get install redis-server). Run it from another checkout (e.g. a copy of an
older commit) to compare: the figures are of the code next to this script.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import inprocess  # noqa: E402
from tests.distributed import MeteredServer, RedisServer  # noqa: E402
from tests.scheduled import item_paths, stored, wait_for  # noqa: E402

TICK = 0.01


def round_(tmp: Path, after: int, hold: float) -> dict:
    from twisted.internet.task import LoopingCall

    reactor = inprocess.reactor()
    ticks: list[float] = []
    loop = LoopingCall(lambda: ticks.append(time.monotonic()))
    reactor.callFromThread(loop.start, TICK)  # its Deferred fires when the loop stops
    workdir = tmp / "worker"
    settings = {"MAYADEEN_REDIS_POLL_INTERVAL": "0.05", "DOWNLOAD_DELAY": "0.05", "CONCURRENT_REQUESTS_PER_DOMAIN": "2"}
    window: dict[str, float] = {}
    with RedisServer(tmp / "redis") as redis_srv, MeteredServer(latency=0.1) as srv:
        settings["MAYADEEN_REDIS_URL"] = redis_srv.url

        def fault() -> None:
            """Redis stopped once the worker has requested ``after`` item pages, for ``hold`` seconds."""
            wait_for(lambda: len(item_paths(srv.paths())) >= after, timeout=120)
            redis_srv.proc.send_signal(signal.SIGSTOP)
            window["stopped"], window["answered"] = time.monotonic(), len(srv.arrivals)
            time.sleep(hold)  # the fault's length: the point of the measurement
            redis_srv.proc.send_signal(signal.SIGCONT)
            window["continued"], window["answered"] = time.monotonic(), len(srv.arrivals) - window["answered"]

        faulty = threading.Thread(target=fault)
        faulty.start()
        run = inprocess.crawl(
            "sitemap", srv.url, workdir, args={"js": "0"}, settings=settings, check=False, timeout=600
        )
        faulty.join()
    reactor.callFromThread(loop.stop)
    stopped, continued = window["stopped"], window["continued"]
    during = [t for t in ticks if stopped <= t <= continued]
    gaps = [b - a for a, b in zip([stopped, *during], [*during, continued], strict=True)]
    return {
        "longest_stall_s": round(max(gaps) - TICK, 3),
        "answered_while_stopped": int(window["answered"]),
        "items": len(stored(workdir / "mayadeen.sqlite")) if (workdir / "mayadeen.sqlite").exists() else 0,
        "exit": run.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--after", type=int, default=3, help="item pages requested before Redis is stopped")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds Redis stays stopped")
    args = parser.parse_args()
    inprocess.install_reactor()
    for n in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            print(f"round {n}:", round_(Path(tmp), args.after, args.hold), flush=True)


if __name__ == "__main__":
    main()
