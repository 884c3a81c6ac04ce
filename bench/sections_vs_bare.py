"""The `sections` crawl with every default feature on (WARC archive, ticker harvest, browser) against a
bare Scrapy link follower (``bench/bare_follower.py``), on a 2,000-item mirror, rounds alternated.

    python bench/sections_vs_bare.py [--items 2000] [--rounds 3] [-a js=0 ...] [-s NAME=VALUE ...] [repo ...]

The mirror is built in memory at run time (``bench/mirror.py``'s clones; nothing is written to the
repository): the fixtures' site, whose Miscellaneous listing pages through every clone ("Load More",
20 cards a page), and whose client-side listings are empty (their API lists nothing). Both crawls get
the same concurrency (16, no delay, no AutoThrottle). CPU is the crawl's and its browser's (every
process it started, ``bench/process_cpu.py``). Prints each round, then the median ratio sections/bare
of wall and CPU time, and the machine's load average (the machine may be shared: compare ratios of
alternated rounds, not times). ``repo ...``: the checkouts whose `sections` to run (default: this one;
give an older one too, e.g. ``git archive main | tar -x -C DIR``, to compare changes in the same rounds:
each round runs the bare follower, then each checkout's crawl against the same mirror).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mirror import HTML, ClonedSite  # noqa: E402
from bench.process_cpu import run_counted  # noqa: E402
from mayadeen.site_server import Answer  # noqa: E402
from mayadeen.urls import PUBLIC_URL  # noqa: E402
from tests.fixture_server import FixtureServer  # noqa: E402

LISTING = "/news/miscellaneous"
PER_PAGE = 20
EMPTY_API = b'{"page": 1, "total": 0, "has_more": false, "next_page": null, "items": []}'
SAME = {
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "0",
    "LOG_LEVEL": "INFO",
    "TELNETCONSOLE_ENABLED": "0",
}


class ListedClones(ClonedSite):
    """The fixtures' site plus the clones, reachable by paging through one listing."""

    def __init__(self, items: int):
        super().__init__(items)
        template = self.body(LISTING).decode("utf-8")
        grid = re.search(r'<div class="listing-grid" id="listing-grid"[^>]*>', template)
        clones = self.item_paths()
        pages = [clones[n : n + PER_PAGE] for n in range(0, len(clones), PER_PAGE)]
        for number, paths in enumerate(pages, start=1):
            cards = "".join(
                f'<div class="card card--listing"><h3 class="card__title"><a href="{PUBLIC_URL}{p}">{p}</a></h3></div>'
                for p in paths
            )
            more = (
                f'<a class="btn-load-more" href="{LISTING}?page={number + 1}">Load More</a>'
                if number < len(pages)
                else ""
            )
            body = template[: grid.end()] + cards + template[grid.end() :].replace("</main>", more + "</main>", 1)
            self.pages[LISTING if number == 1 else f"{LISTING}?page={number}"] = Answer(200, HTML, body.encode())

    def answer(self, path_qs: str) -> Answer:
        if path_qs.startswith("/api/listing?"):
            return Answer(200, "application/json", EMPTY_API)
        return (
            self.pages.get(path_qs) or self.pages.get(path_qs.split("?")[0]) or super(ClonedSite, self).answer(path_qs)
        )


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float, str]:
    """(wall s, CPU s, stderr) of one crawl process (and of its browser: ``bench.process_cpu``)."""
    proc, wall, cpu = run_counted(cmd, cwd=cwd, env=env, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[3]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, cpu, proc.stderr


def stat(log: str, name: str) -> str:
    found = re.search(rf"'{re.escape(name)}': (\d+)", log)
    return found.group(1) if found else "0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-a", dest="args", action="append", default=[], help="spider argument of `sections`")
    parser.add_argument("-s", dest="settings", action="append", default=[], help="setting of `sections`")
    parser.add_argument("repos", nargs="*", type=Path, default=[ROOT], help="checkouts to run `sections` of")
    options = parser.parse_args()
    ratios: dict[Path, list[tuple[float, float]]] = {repo: [] for repo in options.repos}
    with tempfile.TemporaryDirectory() as tmp, FixtureServer(ListedClones(options.items)) as server:
        tmp = Path(tmp)
        same = [arg for k, v in SAME.items() for arg in ("-s", f"{k}={v}")]
        bare = [sys.executable, "-m", "scrapy", "runspider", str(ROOT / "bench" / "bare_follower.py")]
        bare += ["-a", f"base_url={server.url}", *same]
        bare_env = {k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"}
        for n in range(1, options.rounds + 1):
            b_wall, b_cpu, b_log = timed(bare, tmp, bare_env)
            print(
                f"round {n}: bare {b_wall:.1f} s wall {b_cpu:.1f} s CPU"
                f" ({stat(b_log, 'response_received_count')} pages) | load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            # The checkouts in turn, each round in the other order: none always runs right after the bare one.
            for number, repo in enumerate(options.repos if n % 2 else options.repos[::-1]):
                work = tmp / f"round{n}-{number}"
                work.mkdir()
                s_wall, s_cpu, s_log = timed(sections_command(options, server.url, work), repo, project_env(repo))
                ratios[repo].append((s_wall / b_wall, s_cpu / b_cpu))
                print(
                    f"  {repo}: sections {s_wall:.1f} s wall {s_cpu:.1f} s CPU"
                    f" ({stat(s_log, 'response_received_count')} pages, {stat(s_log, 'item_scraped_count')} items,"
                    f" {stat(s_log, 'mayadeen/js/rendered')} renders,"
                    f" {stat(s_log, 'mayadeen/warc/responses')} WARC responses,"
                    f" {stat(s_log, 'mayadeen/breaking/pages')} tickers read)"
                    f" | ratio wall {s_wall / b_wall:.2f} CPU {s_cpu / b_cpu:.2f} | load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    for repo, figures in ratios.items():
        print(
            f"median ratio sections/bare ({repo}): wall {statistics.median(r[0] for r in figures):.2f},"
            f" CPU {statistics.median(r[1] for r in figures):.2f} ({options.rounds} alternated rounds)"
        )


def project_env(repo: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(repo), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}


def sections_command(options, url: str, work: Path) -> list[str]:
    """``scrapy crawl sections`` against the mirror at ``url``, with ``SAME`` and the options' ``-a``/``-s``,
    its outputs in ``work``."""
    command = [sys.executable, "-m", "scrapy", "crawl", "sections", "-a", f"base_url={url}"]
    command += [arg for k, v in SAME.items() for arg in ("-s", f"{k}={v}")]
    command += [arg for a in options.args for arg in ("-a", a)]
    outputs = {"MAYADEEN_SQLITE_PATH": "mayadeen.sqlite", "MAYADEEN_WARC_DIR": "warc", "MAYADEEN_JSONL_PATH": "a.jsonl"}
    command += [arg for name, path in outputs.items() for arg in ("-s", f"{name}={work / path}")]
    return command + [arg for s in options.settings for arg in ("-s", s)]


if __name__ == "__main__":
    main()
