"""What a ``scrapy`` process imports: only what its command needs.

Scrapy imports every command module of the project for every command, so a module-level import of
the export's pyarrow and matplotlib, or of Redis for ``crawlstatus``, would cost every cron job's
``scrapy crawl`` its time; the browser's middlewares are loaded by every crawl, Playwright only with a
browser. A fresh interpreter runs the real command (its module graph: the command
modules, the add-ons, every component of a crawl and the spiders) and reports what it imported.
Its two runs are also the real-process runs of test_inputs (a spider that does not exist) and
test_inputs_more (a first run that cannot reach the site): one interpreter each, not two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.test_exit_status import closed_port_url
from tests.test_inputs import PREFIX, USAGE_ERRORS

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


def imported_by(*argv: str, cwd=ROOT) -> tuple[int, list[str], str]:
    """Runs ``scrapy ARGV``: its exit status, what it imported of NOT_FOR_A_CRAWL, and its stderr without
    the reporter's line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    proc = subprocess.run(
        [sys.executable, "-c", REPORTER, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    lines = proc.stderr.splitlines(keepends=True)
    reported = next(line for line in lines if line.startswith("IMPORTED "))
    log = "".join(line for line in lines if line is not reported)
    return proc.returncode, json.loads(reported.removeprefix("IMPORTED ")), log


def test_a_usage_error_imports_nothing_and_is_one_line():
    """Also test_inputs' usage error through a real process for a spider that does not exist: exit 2,
    one line on stderr, no traceback, no log."""
    (argv, message) = next(case for case in USAGE_ERRORS if case[0] == ["sectons"])
    returncode, imported, log = imported_by("crawl", *argv)
    assert returncode == 2, log[-3000:]
    assert log == PREFIX.format(argv[0]) + message + "\n"
    assert imported == []


def test_a_crawl_that_cannot_reach_the_site_imports_nothing_and_leaves_nothing(tmp_path):
    """A whole crawl without a browser, to its verdict, every component loaded; the first run of a user's
    own command line (default outputs, in its working directory) against a site it cannot reach: exit 1,
    the verdict still the last line, and no empty store, JSON Lines file or data directory left behind."""
    returncode, imported, log = imported_by(
        "crawl", "sitemap", "-a", f"base_url={closed_port_url()}",
        "-s", "RETRY_TIMES=0", "-s", "MAYADEEN_RETRY_BACKOFF_BASE=0", "-s", "DOWNLOAD_DELAY=0",
        "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "MAYADEEN_CHROMIUM_PATH=",
        cwd=tmp_path,
    )  # fmt: skip
    assert returncode == 1, log[-3000:]
    assert "result=FAILED (site_unreachable)" in log.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []  # no data/mayadeen.sqlite, data/articles.jsonl, data/
    assert imported == [], log[-3000:]
