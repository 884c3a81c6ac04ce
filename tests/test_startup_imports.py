"""What a ``scrapy`` process imports: only what its command needs.

Scrapy imports every command module of the project for every command, so a module-level import of
the export's pyarrow and matplotlib, or of Redis for ``crawlstatus``, would cost every cron job's
``scrapy crawl`` its time; the browser's middlewares are loaded by every crawl, Playwright only with a
browser. A fresh interpreter runs the real command (its module graph: the command
modules, the add-ons, every component of a crawl and the spiders) and reports what it imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, crawl_argv

#: Modules only ``scrapy export`` (pyarrow, matplotlib), ``crawlstatus`` and a distributed crawl
#: (redis), a PostgreSQL store (psycopg) or a crawl with a browser (playwright) need.
NOT_FOR_A_CRAWL = ("matplotlib", "numpy", "pyarrow", "psycopg", "redis", "playwright")

#: Runs ``scrapy`` as ``python -m scrapy`` does, and prints at exit which of NOT_FOR_A_CRAWL it imported.
REPORTER = f"""
import atexit, json, runpy, sys
atexit.register(lambda: print("IMPORTED " + json.dumps(
    [m for m in {NOT_FOR_A_CRAWL!r} if m in sys.modules]), file=sys.stderr))
sys.argv = ["scrapy", *sys.argv[1:]]
runpy.run_module("scrapy", run_name="__main__", alter_sys=True)
"""


def imported_by(*argv: str) -> tuple[int, list[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    proc = subprocess.run(
        [sys.executable, "-c", REPORTER, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    line = next(line for line in proc.stderr.splitlines() if line.startswith("IMPORTED "))
    return proc.returncode, json.loads(line.removeprefix("IMPORTED ")), proc.stderr


@pytest.mark.parametrize(
    "argv, exit_status",
    [
        (["crawl", "nosuchspider"], 2),
        # A whole crawl without a browser, to its verdict: the site (a closed port) unreachable, every
        # component loaded.
        (["crawl", "feed"], 1),
    ],
    ids=["crawl-usage-error", "crawl"],
)
def test_a_scrapy_command_imports_nothing_only_the_export_or_redis_needs(argv, exit_status, tmp_path):
    if argv == ["crawl", "feed"]:
        argv = crawl_argv(
            "feed", "http://127.0.0.1:9", tmp_path / "a.jsonl", tmp_path / "s.sqlite", tmp_path / "warc",
            settings={"RETRY_TIMES": "0", "MAYADEEN_CHROMIUM_PATH": ""},
        )  # fmt: skip
    returncode, imported, log = imported_by(*argv)
    assert returncode == exit_status, log[-3000:]
    assert imported == [], log[-3000:]
