"""What a ``scrapy`` process imports: only what its command needs.

Scrapy imports every command module of the project for every command, so a module-level import of
the export's pyarrow and matplotlib, or of Redis for ``crawlstatus``, would cost every cron job's
``scrapy crawl`` its time; the browser's middlewares are loaded by every crawl, Playwright only with a
browser. A fresh interpreter runs the real command (its module graph: the command
modules, the add-ons, every component of a crawl and the spiders) and reports what it imported.
Its two runs are also the real-process runs of test_inputs (a spider that does not exist) and
test_exit_status (a good run): one interpreter each, not two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT, crawl_argv
from tests.fixture_server import FixtureServer
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


def imported_by(*argv: str) -> tuple[int, list[str], str]:
    """Runs ``scrapy ARGV``: its exit status, what it imported of NOT_FOR_A_CRAWL, and its stderr without
    the reporter's line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    proc = subprocess.run(
        [sys.executable, "-c", REPORTER, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    lines = proc.stderr.splitlines(keepends=True)
    reported = next(line for line in lines if line.startswith("IMPORTED "))
    log = "".join(line for line in lines if not line.startswith("IMPORTED "))
    return proc.returncode, json.loads(reported.removeprefix("IMPORTED ")), log


def test_a_usage_error_imports_nothing_and_is_one_line():
    """Also test_inputs' usage error through a real process for a spider that does not exist: exit 2,
    one line on stderr, no traceback, no log."""
    (argv, message) = next(case for case in USAGE_ERRORS if case[0] == ["sectons"])
    returncode, imported, log = imported_by("crawl", *argv)
    assert returncode == 2, log[-3000:]
    assert log == PREFIX.format(argv[0]) + message + "\n"
    assert imported == []


def test_a_whole_crawl_exits_0_and_imports_nothing_only_the_export_or_redis_needs(tmp_path):
    """A whole crawl without a browser, every component loaded, every page parsed and stored; also
    test_exit_status's good run as cron sees it (docs/scheduling.md): exit 0, nothing on stderr, the
    log in LOG_FILE (its directory made: it did not exist), its verdict the last line."""
    log_file = tmp_path / "logs" / "feed.log"
    with FixtureServer() as srv:
        returncode, imported, stderr = imported_by(
            *crawl_argv(
                "feed", srv.url, tmp_path / "a.jsonl", tmp_path / "s.sqlite", tmp_path / "warc",
                settings={"MAYADEEN_CHROMIUM_PATH": "", "LOG_FILE": str(log_file)},
            )
        )  # fmt: skip
    assert returncode == 0 and stderr == "", stderr[-3000:]
    log = log_file.read_text("utf-8")
    line = log.strip().splitlines()[-1]
    assert "Run summary: spider=feed result=ok finish_reason=finished" in line
    assert "items new=14 updated=0 unchanged=0 dropped=0" in line and "requests=17 errors=0" in line
    assert imported == [], log[-3000:]
