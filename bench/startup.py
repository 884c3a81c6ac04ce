"""What a ``scrapy`` process costs before it does anything: ``scrapy list``, ``scrapy crawl`` with a
usage error, and a whole ``feed`` crawl of a closed port (start-up, the components, the verdict).

Wall and CPU seconds (the process and every process it started: the Playwright driver too,
``bench/process_cpu.py``) of each command, in one or two checkouts, rounds alternated so that load
on a shared machine falls on both alike; prints the best of the rounds and the ratio after/before.

    python3 bench/startup.py [--before DIR] [--rounds 5]

``--before``: another checkout of the project (e.g. ``git worktree add /tmp/main main``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process_cpu import run_counted  # noqa: E402 (beside this script)

HERE = Path(__file__).resolve().parent.parent
CLOSED = "http://127.0.0.1:9"


def commands(workdir: Path) -> dict[str, list[str]]:
    outputs = [f"MAYADEEN_SQLITE_PATH={workdir}/s.sqlite", f"MAYADEEN_JSONL_PATH={workdir}/a.jsonl"]
    outputs += [f"MAYADEEN_WARC_DIR={workdir}/warc", "RETRY_TIMES=0", "DOWNLOAD_DELAY=0", "AUTOTHROTTLE_ENABLED=0"]
    settings = [a for s in outputs for a in ("-s", s)]
    return {
        "list": ["list"],
        "crawl usage error": ["crawl", "nosuchspider"],
        "crawl feed (closed port)": ["crawl", "feed", "-a", f"base_url={CLOSED}", *settings],
    }


def measure(tree: Path, argv: list[str]) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    proc, wall, cpu = run_counted([sys.executable, "-m", "scrapy", *argv], cwd=tree, env=env, timeout=300)
    if proc.returncode not in (0, 1, 2):
        raise SystemExit(f"{argv} in {tree}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout, measured alternately with this one")
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args()
    trees = {"after": HERE} if opts.before is None else {"before": opts.before.resolve(), "after": HERE}
    best: dict[tuple[str, str], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(opts.rounds):
            for name, argv in commands(Path(tmp)).items():
                for label, tree in trees.items():
                    wall, cpu = measure(tree, argv)
                    print(f"round {n + 1} {name:<26} {label:<6} wall {wall:5.2f} s  cpu {cpu:5.2f} s", flush=True)
                    old = best.get((name, label), (wall, cpu))
                    best[(name, label)] = (min(old[0], wall), min(old[1], cpu))
    print(f"\nbest of {opts.rounds} (wall s / CPU s)")
    for name in commands(Path(".")):
        row = "  ".join(f"{label} {best[(name, label)][0]:5.2f} / {best[(name, label)][1]:5.2f}" for label in trees)
        if opts.before is not None:
            (bw, bc), (aw, ac) = best[(name, "before")], best[(name, "after")]
            row += f"  after/before wall {aw / bw:.2f} CPU {ac / bc:.2f}"
        print(f"{name:<26} {row}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
