"""Memory of one huge sitemap: peak RSS of a ``sitemap`` crawl whose one monthly sitemap lists N URLs.

The fixture mirror serves a sitemap index naming one monthly sitemap of ``N`` item URLs (unknown to
the site: each answers 404) and an empty news sitemap. The crawl runs with the default bounds
(``MAYADEEN_MAX_SITEMAP_URLS``, ``MAYADEEN_MAX_QUEUED_REQUESTS``), with only a queue bound of 20,000,
and with both off (0: as before the bounds), each until the sitemap has been read and its requests queued
(``CLOSESPIDER_TIMEOUT``), and
the peak RSS (``VmHWM``) of the crawl process is printed with the requests it queued.
Run: ``python bench/sitemap_memory.py [N] [seconds]`` (default 100000 URLs, 60 s per run).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixture_server import FixtureServer, big_sitemap_site  # noqa: E402


def peak_rss(url: str, seconds: int, bounds: dict[str, str]) -> tuple[int, str]:
    """(peak RSS in kB, the crawl's stats of interest) of one sitemap crawl."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "sitemap",
            "-a",
            f"base_url={url}",
            "-s",
            f"MAYADEEN_SQLITE_PATH={tmp}/s.sqlite",
            "-s",
            "MAYADEEN_WARC_DIR=",
            "-s",
            "MAYADEEN_JSONL_PATH=",
            "-s",
            "AUTOTHROTTLE_ENABLED=0",
            "-s",
            "DOWNLOAD_DELAY=0",
            "-s",
            f"CLOSESPIDER_TIMEOUT={seconds}",
            "-s",
            "RETRY_ENABLED=0",
            "-s",
            "LOG_LEVEL=INFO",
        ]
        for name, value in bounds.items():
            cmd += ["-s", f"{name}={value}"]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak = 0
        log = []
        reader = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)
        reader.start()
        while proc.poll() is None:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                peak = max(peak, int(re.search(r"VmHWM:\s+(\d+)", status).group(1)))
            except (OSError, AttributeError):
                pass
            time.sleep(0.1)
        reader.join()
        text = "".join(log)
        stats = {
            k: re.findall(rf"'{re.escape(k)}': (\d+)", text)
            for k in ("scheduler/enqueued", "mayadeen/capped/queue", "mayadeen/capped/sitemap")
        }
        return peak, " ".join(f"{k}={v[-1] if v else 0}" for k, v in stats.items())


def main() -> None:
    urls = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    with FixtureServer(big_sitemap_site(urls)) as srv:
        print(f"one monthly sitemap of {urls} URLs, runs of {seconds} s")
        for label, bounds in (
            ("default bounds", {}),
            ("queue 20,000", {"MAYADEEN_MAX_SITEMAP_URLS": "0", "MAYADEEN_MAX_QUEUED_REQUESTS": "20000"}),
            ("bounds off", {"MAYADEEN_MAX_SITEMAP_URLS": "0", "MAYADEEN_MAX_QUEUED_REQUESTS": "0"}),
        ):
            peak, stats = peak_rss(srv.url, seconds, bounds)
            print(f"{label:15s}  peak RSS {peak / 1024:7.1f} MiB  {stats}")


if __name__ == "__main__":
    main()
