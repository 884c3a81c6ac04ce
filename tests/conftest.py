"""Shared test fixtures: the fixture site, a server for it, and a `scrapy crawl` runner."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# With PYTHONDONTWRITEBYTECODE set (as on some machines), every xdist worker would compile the project's
# and the tests' modules again and rewrite every test module's asserts again (about 4 s of CPU per worker),
# and every `scrapy` subprocess would compile the project again: the suite writes bytecode as Python does
# by default, into each package's `__pycache__`. Not into a cache of its own (`sys.pycache_prefix`): Python
# then ignores the `__pycache__` the installers wrote for the standard library and every installed package
# and compiles all of them again (74 MB, about 30 s of a fresh run's wall time).
if sys.dont_write_bytecode:
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

from tests import cpu_meter, postgres_server  # noqa: E402 (their bytecode written, above)
from tests.fixture_server import FIXTURES, FixtureServer, FixtureSite  # noqa: E402


def expected_records() -> dict[str, dict]:
    """url -> expected record, from fixtures/expected."""
    out = {}
    for path in sorted((FIXTURES / "expected").glob("*.json")):
        rec = json.loads(path.read_text("utf-8"))
        out[rec["url"]] = rec
    return out


@pytest.fixture
def fixture_server():
    with FixtureServer(FixtureSite()) as srv:
        yield srv


# Property tests (Hypothesis) try this share of their examples in the quick set (`-m "not soak"`), all
# of them in the whole suite (CI): the property keeps its test, the long search runs in CI.
QUICK_SHARE = 0.25
_quick_set = False


def examples(full: int) -> int:
    """A property test's ``max_examples``: ``full`` in the whole suite, ``QUICK_SHARE`` of it in the quick set."""
    return max(1, round(full * QUICK_SHARE)) if _quick_set else full


def pytest_addoption(parser):
    cpu_meter.add_option(parser)


def pytest_configure(config):
    """One asyncio reactor for the whole run (each xdist worker's), before anything imports one; the CPU
    meter when asked for; whether this run is the quick set (read by ``examples`` when the test
    modules are imported); and one PostgreSQL template for the whole run (its workers share one ``initdb``)."""
    global _quick_set
    from tests.inprocess import install_reactor

    install_reactor()
    cpu_meter.register(config)
    _quick_set = "not soak" in " ".join((config.option.markexpr or "").split())
    postgres_server.share_template()


def pytest_unconfigure(config):
    postgres_server.unshare_template()


#: xdist workers per core for ``-n auto``. Most of a test's time is spent waiting (on a server, a
#: timer, a process, Chromium), not computing: two workers a core kept both cores busy where one left
#: them idle (the quick set: 204 s with 2 workers, 163 s with 4, same idle machine, when it was measured).
WORKERS_PER_CORE = 2


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: ``WORKERS_PER_CORE`` workers for each core this process may run on."""
    return WORKERS_PER_CORE * len(os.sched_getaffinity(0))


#: The test modules that take a worker longest, longest first: the longest of a whole-suite run
#: (sums of their tests' times, 2 workers; each of the others took under 15 s). `--dist loadfile` hands
#: modules out in collection order (`--no-loadscope-reorder`, pyproject.toml): the long ones first, so
#: the many short ones even out the two workers' ends. A long module handed out last keeps one worker
#: busy while the other has nothing left to do (xdist's own order, by number of tests, hands out the
#: one- and two-test process modules last).
LONGEST_MODULES = (
    "test_postgres_hang.py",  # one crawl of ~100 s: each transaction once the server froze, a 2 s connect
    "test_export.py",
    "test_inputs.py",
    "test_resume.py",
    "test_faults.py",
    "test_distributed.py",
    "test_held_requests.py",
    "test_inputs_more.py",
    "test_distributed_store.py",
    "test_run_truth.py",
    "test_postgres_store.py",
    "test_outcomes.py",
    "test_js_faults.py",
    "test_distributed_kill.py",
    "test_browser_confinement.py",
    "test_breaking_store.py",
    "test_crash_safety.py",
    "test_sqlite_store.py",
    "test_export_postgres.py",
    "test_export_incremental.py",
    "test_distributed_lease_cap.py",
    "test_store_off_reactor.py",
    "test_warc_archive.py",
    "test_js_listings.py",
    "test_export_hostile.py",
    "test_breaking_kill.py",
    "test_exit_status.py",
    "test_unseen_pages.py",
    "test_text_cleaner.py",
    "test_breaking_watch.py",
    "test_url_safety.py",
    "test_retry_waits.py",
    "test_fuzz_extraction.py",
    "test_incremental.py",
    "test_metrics.py",
    "test_monitors.py",
    "test_browser_pages.py",
    "test_pipelines.py",
    "test_challenge.py",
)


def pytest_collection_modifyitems(config, items):
    """The tests of ``LONGEST_MODULES`` first, in that order; the others after, in collection order."""
    if stale := [name for name in LONGEST_MODULES if not (ROOT / "tests" / name).exists()]:
        raise pytest.UsageError(f"tests/conftest.py: LONGEST_MODULES names modules that are gone: {stale}")
    rank = {name: n for n, name in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a module's tests stay in order


@dataclass
class CrawlResult:
    returncode: int
    log: str
    jsonl: Path
    sqlite: Path
    stats: dict | None = None  # the crawler's stats (in-process crawls)

    def stat(self, name: str) -> int | None:
        """An integer of the crawl's stats (None when absent)."""
        if self.stats is not None:
            value = self.stats.get(name)
            return value if isinstance(value, int) else None
        found = re.findall(rf"'{re.escape(name)}': (\d+)", self.log)
        return int(found[-1]) if found else None

    def records(self) -> list[dict]:
        if not self.jsonl.exists():
            return []
        return [json.loads(line) for line in self.jsonl.read_text("utf-8").splitlines() if line.strip()]


# Settings that make a crawl of the local fixture server fast; politeness is for the live site.
FAST = {
    "AUTOTHROTTLE_ENABLED": "0",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "RETRY_TIMES": "1",
    "LOG_LEVEL": "INFO",
}


def crawl_argv(
    spider: str,
    server_url: str,
    jsonl: Path,
    sqlite: Path,
    warc: Path,
    *,
    args: dict | None = None,
    settings: dict | None = None,
) -> list[str]:
    """``crawl SPIDER ...``: the arguments of a test crawl (FAST settings, then ``settings``)."""
    argv = [
        "crawl",
        spider,
        "-a",
        f"base_url={server_url}",
        "-o",
        f"{jsonl}:jsonlines",
        "-s",
        f"MAYADEEN_SQLITE_PATH={sqlite}",
        "-s",
        f"MAYADEEN_WARC_DIR={warc}",
    ]
    for k, v in (args or {}).items():
        argv += ["-a", f"{k}={v}"]
    for k, v in {**FAST, **(settings or {})}.items():
        argv += ["-s", f"{k}={v}"]
    return argv


def run_crawl(
    spider: str,
    server_url: str,
    workdir: Path,
    *,
    args: dict | None = None,
    settings: dict | None = None,
    jsonl: Path | None = None,
    sqlite: Path | None = None,
    timeout: float = 300,
    check: bool = True,
) -> CrawlResult:
    """Run ``scrapy crawl`` in a subprocess against ``server_url``, output in ``workdir``.

    Outbound traffic stays on loopback: in mirror mode the crawler refuses every other host (the
    end-to-end tests also check that each request it made reached the fixture server).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    jsonl = jsonl or workdir / "articles.jsonl"
    sqlite = sqlite or workdir / "mayadeen.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        *crawl_argv(spider, server_url, jsonl, sqlite, workdir / "warc", args=args, settings=settings),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    result = CrawlResult(proc.returncode, proc.stderr + proc.stdout, jsonl, sqlite)
    if check and proc.returncode != 0:
        raise AssertionError(f"crawl failed ({proc.returncode}):\n{result.log[-5000:]}")
    return result


@pytest.fixture(scope="session")
def postgres_cluster():
    """One real PostgreSQL cluster for the whole session (skipped without the server binaries)."""
    from tests.postgres_server import PG_BIN, PostgresCluster

    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL server in {PG_BIN} (apt-get install postgresql)")
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster):
    """A new, empty database of the session's cluster, dropped after the test (the cluster is in memory)."""
    url = postgres_cluster.new_database()
    yield url
    postgres_cluster.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    """A store's place on each engine: ``mayadeen.sqlite`` in the test's directory, or a new database
    of the session's PostgreSQL cluster."""
    from mayadeen.store.engines import StoreTarget

    if request.param == "postgresql":
        return StoreTarget("postgresql", request.getfixturevalue("postgres_url"))
    return StoreTarget("sqlite", str(tmp_path / "mayadeen.sqlite"))


@pytest.fixture
def store(target):
    """The store at ``target``, opened for writing (created), closed after the test."""
    from mayadeen.store.engines import connect

    with connect(target) as opened:
        yield opened
