"""The JSON Lines record file on a disk that fills up: every line in it is a whole record.

A write the disk takes only part of (an unbuffered write stops at the last free byte) left that part in
the file, and the next record that fitted was appended to it: one line of junk, two records lost, one
of them counted written. Run in a subprocess whose files may not grow past a limit (``RLIMIT_FSIZE``:
a write crossing it is cut there, the next fails with EFBIG, as on a full disk).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import json, resource, sys
from scrapy.statscollectors import StatsCollector
from scrapy.utils.test import get_crawler
from mayadeen.feeds.storage import RecordFile

path, limit = sys.argv[1], int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
stats, done = StatsCollector(get_crawler()), []
with open(path, "ab", buffering=0) as file:
    records = RecordFile(file, stats, done.append)
    for url, size in (("a", 100), ("big", 5000), ("c", 100)):
        records.write((json.dumps({"url": url, "body": "x" * size}) + "\\n").encode())
print(json.dumps({"lost": stats.get_value("mayadeen/lost/feed"), "done": done}))
"""


def test_a_record_cut_by_a_full_disk_is_taken_back(tmp_path):
    out = tmp_path / "records.jsonl"
    proc = subprocess.run(
        [sys.executable, "-c", WRITER, str(out), "1024"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    said = json.loads(proc.stdout)
    assert said == {"lost": 1, "done": ["a", "c"]}
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b"" and [json.loads(line)["url"] for line in lines[:-1]] == ["a", "c"]  # was: a, junk
