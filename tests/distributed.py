"""Helpers for the distributed-crawl tests (``tests/test_distributed*.py``): a real redis-server, a
fixture server that measures what it sees (arrival times, requests open at once, on its own clock),
workers as ``scrapy crawl`` processes (or, alone, in the test process), and the checks of what they
stored.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from mayadeen.distributed.keys import CrawlKeys
from mayadeen.store.engines import POSTGRESQL, StoreTarget, connect
from mayadeen.store.sqlite import ArticleStore
from tests import inprocess
from tests.conftest import ROOT, CrawlResult, expected_records
from tests.fixture_server import FixtureServer, FixtureSite, write_answer
from tests.lifeline import Lifeline
from tests.scheduled import crawl_command, stored

REDIS_SERVER = shutil.which("redis-server")
#: How long workers may take to start and join before the test gives up.
GATE_TIMEOUT = 120
needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (apt-get install redis-server)"
)
#: The budget the site gets in these tests, and how long the server takes per answer: slow enough that
#: three workers without a shared budget would have 6 requests open and three times the rate.
BUDGET = {"DOWNLOAD_DELAY": "0.05", "CONCURRENT_REQUESTS_PER_DOMAIN": "2"}
LATENCY = 0.1
#: How often a worker asks Redis again when it has nothing to do (the default is for production).
POLL = {"MAYADEEN_REDIS_POLL_INTERVAL": "0.05"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """``redis-server`` on a free 127.0.0.1 port, its data (append-only file, fsync always) in ``dir``:
    a restart keeps the crawl's state, as a production Redis with persistence does."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.bound = False  # started once: a restart keeps the port the workers know
        self.lifeline: Lifeline | None = None  # kills the server if this process dies first

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> RedisServer:
        """Starts the server (again, on the same port after ``stop``). A free port found by another
        process in the meantime (tests run in parallel) makes this one exit: the first start then
        tries a new port."""
        for attempt in range(5):
            self.proc = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(self.dir),
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--logfile",
                    "redis.log",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self.lifeline is not None:  # the last server's, which a test killed or stopped itself
                self.lifeline.release()
            self.lifeline = Lifeline(["kill", "-KILL", str(self.proc.pid)])
            if self._answers():
                self.bound = True
                return self
            self.lifeline.release()
            if self.bound or attempt == 4:
                raise RuntimeError(f"redis-server did not start on port {self.port} (see {self.dir}/redis.log)")
            self.port = free_port()
        return self

    def _answers(self) -> bool:
        """Waits (10 s at most) for this server (not another one on the port) to answer; False once its
        process has exited."""
        deadline = time.monotonic() + 10
        while self.proc.poll() is None:
            try:
                if self.client().info("server")["process_id"] == self.proc.pid:
                    return True
            except redis.exceptions.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self._cut()

    def _cut(self) -> None:
        if self.lifeline is not None:
            self.lifeline.release()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._cut()


class MeteredServer(FixtureServer):
    """The fixture site, answering after ``latency`` seconds, and recording on its own clock when each
    request arrived and the most requests it had open at once (a request counts as open from its
    arrival until its answer starts to be written: the client cannot have seen it end before).

    ``gate``, while cleared, holds every request before it is metered (see ``start_together``)."""

    def __init__(self, site: FixtureSite | None = None, latency: float = 0.0):
        super().__init__(site)
        self.latency = latency
        self.arrivals: list[float] = []
        self.open_now = 0
        self.most_open = 0
        self._meter = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()

    def handle(self, handler, answer) -> None:
        self.gate.wait(GATE_TIMEOUT)
        with self._meter:
            self.arrivals.append(time.monotonic())
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)
        try:
            time.sleep(self.latency)
        finally:
            with self._meter:
                self.open_now -= 1
        try:
            write_answer(handler, answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a killed worker's request

    def excess_over_rate(self, delay: float) -> float:
        """How many more requests than ``1/delay`` per second allows, at worst, in any stretch of
        consecutive arrivals: max over i<j of ``(j - i) - (t_j - t_i) / delay``. A crawl at the rate
        scores about 1; N uncoordinated workers at the rate score about (N-1)/N of the requests."""
        times = sorted(self.arrivals)
        return max(
            ((j - i) - (times[j] - times[i]) / delay for i in range(len(times)) for j in range(i + 1, len(times))),
            default=0.0,
        )


def start_worker(
    spider: str,
    server_url: str,
    workdir: Path,
    redis_url: str,
    *,
    args: dict | None = None,
    settings: dict | None = None,
) -> subprocess.Popen:
    """``scrapy crawl`` as one worker of the crawl in ``redis_url``; its own JSON Lines and SQLite file
    in ``workdir`` (the SQLite store takes one writer per file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd, env = crawl_command(
        spider,
        server_url,
        workdir,
        args={"js": "0", **(args or {})},
        settings={"MAYADEEN_REDIS_URL": redis_url, **POLL, **(settings or {})},
    )
    log = (workdir / "worker.log").open("ab")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def worker_in_process(
    server_url: str,
    redis_url: str,
    workdir: Path,
    *,
    spider: str = "sitemap",
    args: dict | None = None,
    settings: dict | None = None,
) -> CrawlResult:
    """One worker alone, as ``start_worker`` starts it, crawling in this process (``tests.inprocess``):
    the worker's process is not the point when it runs alone. Its log also in ``worker.log``, as a
    started worker's."""
    result = inprocess.crawl(
        spider,
        server_url,
        workdir,
        args={"js": "0", **(args or {})},
        settings={"MAYADEEN_REDIS_URL": redis_url, **POLL, **(settings or {})},
        check=False,
    )
    (workdir / "worker.log").write_text(result.log, "utf-8")
    return result


def start_together(
    spider: str, server: MeteredServer, redis_srv: RedisServer, dirs: list[Path], **kwargs
) -> list[subprocess.Popen]:
    """One worker per dir, the server answering nothing until every one has joined the crawl: a worker
    slower to start than the crawl is to end would otherwise find it ended (and start it again)."""
    alive = CrawlKeys(spider, kwargs.get("args", {}).get("crawl_id", spider)).alive
    server.gate.clear()
    try:
        workers = [start_worker(spider, server.url, d, redis_srv.url, **kwargs) for d in dirs]
        client = redis_srv.client()
        deadline = time.monotonic() + GATE_TIMEOUT
        while client.zcard(alive) < len(dirs) and all(w.poll() is None for w in workers):
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(dirs)} workers did not all join within {GATE_TIMEOUT}s")
            time.sleep(0.05)
    finally:
        server.gate.set()
    return workers


def worker_dirs(tmp_path: Path, n: int) -> list[Path]:
    return [tmp_path / f"worker{i}" for i in range(1, n + 1)]


def run_workers(spider: str, srv, redis_srv, dirs: list[Path], **kwargs) -> list[int]:
    return finish(start_together(spider, srv, redis_srv, dirs, **kwargs))


def finish(workers: list[subprocess.Popen], timeout: float = 120) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for proc in workers:
        try:
            codes.append(proc.wait(max(deadline - time.monotonic(), 1)))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
    return codes


def log_of(workdir: Path) -> str:
    return (workdir / "worker.log").read_text("utf-8", errors="replace")


def stat(log: str, name: str) -> int:
    """An integer of the stats dumped at the end of a worker's log (0 when absent)."""
    import re

    found = re.findall(rf"'{re.escape(name)}': (\d+)", log)
    return int(found[-1]) if found else 0


def stores(workdirs: list[Path]) -> list[dict[str, dict]]:
    return [stored(d / "mayadeen.sqlite") if (d / "mayadeen.sqlite").exists() else {} for d in workdirs]


def jsonl_urls(workdir: Path) -> list[str]:
    path = workdir / "articles.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["url"] for line in path.read_text("utf-8").splitlines() if line.strip()]


def assert_all_ok(dirs: list[Path], codes: list[int]) -> None:
    for workdir, code in zip(dirs, codes, strict=True):
        log = log_of(workdir)
        assert code == 0, log[-3000:]
        assert "Run summary: spider=" in log.strip().splitlines()[-1] and "result=ok" in log.strip().splitlines()[-1]


def assert_exact_records(workdirs: list[Path], *, allow_twice: set[str] = frozenset()) -> None:
    """The workers' stores together hold exactly the expected records, each in one store (or, for the
    urls in ``allow_twice``, in two: a worker killed after storing an item and before finishing it)."""
    expected = expected_records()
    found = Counter(url for rows in stores(workdirs) for url in rows)
    logs = "\n".join(f"--- {d.name}:\n" + "\n".join(log_of(d).splitlines()[-15:]) for d in workdirs)
    assert set(found) == set(expected), logs  # the logs' ends say why a worker stored nothing
    twice = {url for url, n in found.items() if n > 1}
    assert twice <= allow_twice and max(found.values()) <= 2, f"stored more than once: {twice}"
    for workdir in workdirs:
        path = workdir / "mayadeen.sqlite"
        if not path.exists():
            continue
        with ArticleStore(path, readonly=True) as store:
            for url in stores([workdir])[0]:
                record = store.get(url)
                for key, value in expected[url].items():
                    assert record[key] == value, f"{url}: {key}"


def assert_one_postgres_row_each(postgres_url: str) -> list[dict]:
    """The shared PostgreSQL store holds exactly the expected records, one row each, never revised;
    returns its run rows."""
    expected = expected_records()
    with connect(StoreTarget(POSTGRESQL, postgres_url), readonly=True) as store:
        records = list(store.iter_records())
        assert sorted(r["url"] for r in records) == sorted(expected)  # every item, one row each
        for record in records:
            assert {k: record[k] for k in expected[record["url"]]} == expected[record["url"]], record["url"]
            assert store.get(record["url"])["revision"] == 1 and store.revisions(record["url"]) == []
        return store.runs()
