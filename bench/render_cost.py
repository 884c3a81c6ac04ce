"""What the browser costs a `sections` crawl of the fixture mirror: wall and CPU time, renders, requests.

    python bench/render_cost.py [--empty] [rounds] [repo ...]

Runs ``scrapy crawl sections`` (``RETRY_TIMES=3``, the project's default) against the fixture server,
``rounds`` times (default 2) for each repository given (default: this one; give an older checkout too
to compare, the runs alternate). CPU is that of the crawl and its browser (children of this process).
``--empty``: every client-side listing's API answers ``total: 0`` with no items.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMPTY = '{"page": 1, "total": 0, "has_more": false, "next_page": null, "items": []}'


def one(empty: bool) -> None:
    """One crawl, by the repository on PYTHONPATH (its code and its fixture server)."""
    from tests.conftest import run_crawl
    from tests.fixture_server import FixtureServer, FixtureSite

    site = FixtureSite()
    if empty:
        for path in [p for p in site.entries if p.startswith("/api/listing?")]:
            site.override(path, EMPTY, content_type="application/json")
    with FixtureServer(site) as srv, tempfile.TemporaryDirectory() as d:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        result = run_crawl("sections", srv.url, Path(d), check=False, settings={"RETRY_TIMES": "3"})
        wall = time.monotonic() - started
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
    args = [a for a in argv if not a.startswith("--")]
    rounds = int(args[0]) if args and args[0].isdigit() else 2
    repos = [Path(a).resolve() for a in args[1:]] or [ROOT]
    for n in range(rounds):
        for repo in repos:
            print(
                f"round {n + 1}, {repo.name}{' (empty listings)' if empty else ''}: {crawl_in(repo, empty)}", flush=True
            )


if __name__ == "__main__":
    main(sys.argv[1:])
