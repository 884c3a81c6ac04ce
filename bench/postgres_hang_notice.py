"""How long a PostgreSQL store call takes to fail when the server hangs (every process SIGSTOPped: it
answers nothing, as on a network that drops packets), and that a lock wait on a working server is not
cut meanwhile.

Starts its own cluster (``tests/postgres_server.py``), stores the fixture records, and per round
freezes the server under a reader's ``get`` and a writer's ``count`` (the store's default windows: a
60 s lock wait, 60 s of retries), printing the seconds until each failed and its message; then holds a
row lock for ``--lock`` seconds against an upsert of that row and prints how long the upsert waited
(the lock's length: a working server's wait is left to the server) and how many probes it made.

    python bench/postgres_hang_notice.py              # 3 rounds
    python bench/postgres_hang_notice.py --rounds 1 --lock 10

Needs the PostgreSQL server binaries (apt-get install postgresql).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from mayadeen.store.postgres import PostgresStore  # noqa: E402
from tests.conftest import expected_records  # noqa: E402
from tests.postgres_server import PostgresCluster  # noqa: E402
from tests.test_store_off_reactor import server_processes  # noqa: E402


def frozen_call(cluster, url: str, readonly: bool, call) -> tuple[float, str]:
    with PostgresStore(url, readonly=readonly) as store:
        call(store)
        pids = server_processes(cluster)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        try:
            call(store)
            return time.monotonic() - started, "answered"
        except psycopg.Error as exc:
            return time.monotonic() - started, str(exc)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)


def lock_wait(url: str, record: dict, hold: float) -> tuple[float, int]:
    with PostgresStore(url) as store, psycopg.connect(url) as holder:
        holder.execute("SELECT 1 FROM articles WHERE article_id = %s FOR UPDATE", (record["article_id"],))
        threading.Timer(hold, holder.rollback).start()
        started = time.monotonic()
        store.upsert(record)
        return time.monotonic() - started, store.conn.watchdog.probes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lock", type=float, default=8.0, help="seconds the row lock is held")
    opts = parser.parse_args()
    records = list(expected_records().values())
    cluster = PostgresCluster().start()
    try:
        url = cluster.new_database()
        with PostgresStore(url) as store:
            for record in records:
                store.upsert(record)
        for n in range(1, opts.rounds + 1):
            get_s, get_msg = frozen_call(cluster, url, True, lambda s: s.get(records[0]["url"]))
            count_s, _ = frozen_call(cluster, url, False, lambda s: s.count())
            waited, probes = lock_wait(url, records[0], opts.lock)
            print(
                f"round {n}: frozen server: reader get failed after {get_s:.1f}s, writer count after {count_s:.1f}s;"
                f" row lock held {opts.lock:g}s: upsert waited {waited:.1f}s, {probes} probes, not cut"
            )
        print(f"message: {get_msg}")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
