"""What the browser costs: per render (wall, CPU of the crawler and of the browser's processes), and
over a `sections` crawl of the fixture mirror.

    python bench/render_cost.py --renders N [--empty] [rounds] [repo ...]
    python bench/render_cost.py [--empty] [rounds] [repo ...]

``--renders N``: a crawl that renders the fixtures' ``/videos`` listing N times and nothing else (the
project's settings, middlewares and confined handler), against one that renders it once; their
difference over N - 1 is the cost of a render once the browser runs, the one-render crawl against a
crawl of nothing (``-a js=0``) the cost of starting it. CPU is split between the crawler's process and
the browser's (the Playwright driver, Chromium and its children, read from /proc when the crawl is idle,
by kind of process).
Without it: ``scrapy crawl sections`` (``RETRY_TIMES=3``, the project's default) against the fixture
server. ``rounds`` (default 2) alternate the repositories given (default: this one; give an older
checkout too to compare); each runs its own code and fixture server. ``--empty``: every client-side
listing's API answers ``total: 0`` with no items.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import scrapy
from scrapy import signals

ROOT = Path(__file__).resolve().parent.parent

EMPTY = '{"page": 1, "total": 0, "has_more": false, "next_page": null, "items": []}'
LISTING = "/videos"
TICK = os.sysconf("SC_CLK_TCK")


def process_kind(pid: int) -> str:
    """``node`` (the Playwright driver), ``chromium`` (its browser process) or Chromium's ``--type``."""
    try:  # Chromium's children show their arguments as one string
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return "gone"
    found = re.search(rb"--type=(\S+)", cmdline)
    if found:
        return found.group(1).decode()
    return "node" if cmdline.split(b" ", 1)[0].endswith(b"/node") else "chromium"


def descendants_cpu(root: int) -> dict[str, float]:
    """CPU seconds of the live descendants of process ``root`` by kind (``process_kind``), each with the
    children it has reaped (a zygote's: the renderers of closed pages)."""
    parent, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = sum(int(f) for f in fields[11:15]) / TICK  # utime stime cutime cstime
    kinds: dict[str, float] = {}
    stack = [root]
    while stack:
        pid = stack.pop()
        for child in (p for p, pp in parent.items() if pp == pid):
            kinds[process_kind(child)] = kinds.get(process_kind(child), 0.0) + cpu[child]
            stack.append(child)
    return kinds


class RenderLoop(scrapy.Spider):
    """Renders ``LISTING`` ``renders`` times (``scrapy runspider``); prints its figures as JSON."""

    name = "render_loop"

    def __init__(self, renders: str = "1", **kwargs):
        super().__init__(**kwargs)
        self.renders = int(renders)
        self.js = self.renders > 0  # no render, no browser (nor its driver) at all
        self.idle = {"crawler_cpu": 0.0, "browser_cpu": 0.0}

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.spider_idle, signal=signals.spider_idle)
        return spider

    async def start(self):
        from mayadeen.urls import PUBLIC_URL

        for _ in range(self.renders):
            yield scrapy.Request(PUBLIC_URL + LISTING, dont_filter=True)

    def parse(self, response):
        self.crawler.stats.inc_value("render_loop/responses")

    def spider_idle(self):  # the browser still runs: its processes are there to read
        own = resource.getrusage(resource.RUSAGE_SELF)
        kinds = descendants_cpu(os.getpid())
        self.idle = {"crawler_cpu": own.ru_utime + own.ru_stime, "browser_cpu": sum(kinds.values()), "kinds": kinds}

    def closed(self, reason):
        stat = self.crawler.stats.get_value
        figures = {
            **self.idle,
            "rendered": stat("mayadeen/js/rendered", 0),
            "responses": stat("render_loop/responses", 0),
            "pages": stat("playwright/page_count", 0),
            "aborted": stat("playwright/request_count/aborted", 0),
        }
        print(json.dumps(figures), flush=True)


def render_loop(repo: Path, server_url: str, renders: int) -> dict:
    """One ``RenderLoop`` crawl run by ``repo``'s code: its figures, with wall and total CPU."""
    from process_cpu import run_counted  # beside this script (the crawl's own path is ``repo``'s)

    with tempfile.TemporaryDirectory() as work:
        argv = [sys.executable, "-m", "scrapy", "runspider", __file__, "-a", f"renders={renders}"]
        settings = {
            "MAYADEEN_BASE_URL": server_url,
            "MAYADEEN_SQLITE_PATH": f"{work}/mayadeen.sqlite",
            "MAYADEEN_WARC_DIR": f"{work}/warc",
            "LOG_LEVEL": "WARNING",
            "TELNETCONSOLE_ENABLED": "0",
        }
        argv += [arg for k, v in settings.items() for arg in ("-s", f"{k}={v}")]
        argv += [] if renders else ["-a", "js=0"]
        env = {**os.environ, "PYTHONPATH": str(repo), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
        proc, wall, cpu = run_counted(argv, cwd=work, env=env, timeout=900)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"render loop failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**figures, "wall": wall, "cpu": cpu}


def per_render(repos: list[Path], renders: int, rounds: int, empty: bool) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fixture_server import FixtureServer, FixtureSite

    site = FixtureSite()
    if empty:
        for path in [p for p in site.entries if p.startswith("/api/listing?")]:
            site.override(path, EMPTY, content_type="application/json")
    keys = ("wall", "cpu", "crawler_cpu", "browser_cpu")
    runs: dict[tuple[str, int], list[dict]] = {}
    with FixtureServer(site) as srv:
        for n in range(1, rounds + 1):
            for repo in repos:
                for count in (0, 1, renders):
                    got = render_loop(repo, srv.url, count)
                    runs.setdefault((repo.name, count), []).append(got)
                    print(
                        f"round {n}, {repo.name}, {count} renders: wall {got['wall']:.2f} s, CPU {got['cpu']:.2f} s"
                        f" (crawler {got['crawler_cpu']:.2f}, browser {got['browser_cpu']:.2f}:"
                        f" {', '.join(f'{k} {v:.2f}' for k, v in sorted(got.get('kinds', {}).items()))}), rendered"
                        f" {got['rendered']}, pages opened {got['pages']}, requests aborted {got['aborted']}"
                        f" | load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
    for repo in repos:
        med = {c: {k: statistics.median(r[k] for r in runs[(repo.name, c)]) for k in keys} for c in (0, 1, renders)}
        start = {k: med[1][k] - med[0][k] for k in keys}
        each = {k: (med[renders][k] - med[1][k]) / (renders - 1) for k in keys}
        print(
            f"{repo.name} (medians of {rounds}): browser start + first render: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in start.items())
            + " | each further render: "
            + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in each.items())
        )


def one(empty: bool) -> None:
    """One crawl, by the repository on PYTHONPATH (its code and its fixture server)."""
    from process_cpu import adopt_orphans, reap_orphans  # beside this script

    from tests.conftest import run_crawl
    from tests.fixture_server import FixtureServer, FixtureSite

    site = FixtureSite()
    if empty:
        for path in [p for p in site.entries if p.startswith("/api/listing?")]:
            site.override(path, EMPTY, content_type="application/json")
    with FixtureServer(site) as srv, tempfile.TemporaryDirectory() as d:
        adopt_orphans()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        result = run_crawl("sections", srv.url, Path(d), check=False, settings={"RETRY_TIMES": "3"})
        wall = time.monotonic() - started
        reap_orphans()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    stat = result.stat
    print(
        f"wall {wall:.1f} s, cpu {cpu:.1f} s, exit {result.returncode}, renders at the server "
        f"{sum(1 for h in srv.requests if h.headers.get('Sec-Fetch-Mode') == 'navigate')}, browser requests "
        f"{stat('playwright/request_count')}, aborted {stat('playwright/request_count/aborted')}, "
        f"empty listings {stat('mayadeen/js/empty_listings') or 0}"
    )


def crawl_in(repo: Path, empty: bool) -> str:
    """One crawl run by ``repo``'s own code and tests (a child process, so its CPU is counted)."""
    argv = [sys.executable, __file__, "--one", *(["--empty"] if empty else [])]
    return subprocess.run(
        argv, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True, text=True, check=True
    ).stdout.strip()


def main(argv: list[str]) -> None:
    empty = "--empty" in argv
    if "--one" in argv:
        one(empty)
        return
    renders = int(argv[argv.index("--renders") + 1]) if "--renders" in argv else 0
    args = [a for a in argv if not a.startswith("--") and not (renders and a == str(renders))]
    rounds = int(args[0]) if args and args[0].isdigit() else 2
    repos = [Path(a).resolve() for a in args[1:]] or [ROOT]
    if renders:
        per_render(repos, max(renders, 2), rounds, empty)
        return
    for n in range(rounds):
        for repo in repos:
            print(
                f"round {n + 1}, {repo.name}{' (empty listings)' if empty else ''}: {crawl_in(repo, empty)}", flush=True
            )


if __name__ == "__main__":
    main(sys.argv[1:])
