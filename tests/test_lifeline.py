"""The servers a test process starts stop when it is SIGKILLed before its finalisers run
(``tests.lifeline``): a PostgreSQL cluster, a redis-server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.distributed import needs_redis
from tests.lifeline import Lifeline
from tests.postgres_server import needs_postgres
from tests.scheduled import wait_for

# Starts the servers, says where they are, and dies as a killed xdist worker does: no finaliser runs.
_KILLED_PROCESS = """
import json, os, signal, sys
from pathlib import Path
from tests.distributed import RedisServer
from tests.postgres_server import PostgresCluster
cluster = PostgresCluster().start()
redis_srv = RedisServer(Path(sys.argv[1])).start()
print(json.dumps({"pg_dir": str(cluster.dir), "pg_port": cluster.port, "redis_pid": redis_srv.proc.pid}), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie is dead, not yet reaped
    except FileNotFoundError:
        return False


@needs_postgres
@needs_redis
def test_servers_of_a_killed_test_process_stop(tmp_path):
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_PROCESS, str(tmp_path / "redis")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr
    servers = json.loads(killed.stdout)
    wait_for(lambda: not _alive(servers["redis_pid"]), timeout=30)
    wait_for(lambda: not _answers(servers["pg_port"]) and not Path(servers["pg_dir"]).exists(), timeout=60)


def test_a_released_lifeline_does_nothing(tmp_path):
    cut, released = tmp_path / "cut", tmp_path / "released"
    line = Lifeline(["touch", str(released)])
    line.release()
    assert line.watcher.returncode == 0 and not released.exists()
    # The same line never released: its watcher acts when the write end closes (this process gone).
    line = Lifeline(["touch", str(cut)])
    os.close(line._write_end)
    line.watcher.wait(30)
    assert cut.exists()
