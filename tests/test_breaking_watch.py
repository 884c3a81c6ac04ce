"""`scrapy crawl breaking -a watch=SECONDS`: one process re-reading a home page whose ticker changes,
politely (Retry-After, robots.txt), stopped by SIGTERM with exit status 0 and every flash once."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.fixture_server import Answer, FixtureServer, FixtureSite, write_answer
from tests.scheduled import start_crawl, wait_for
from tests.ticker_pages import STORED_FLASHES, flashes, item, stored_items, with_ticker

HTML = "text/html; charset=utf-8"
NEW_A = ("2025-08-04T15:26:00+03:00", "Lebanese Army: Israeli drone strikes a car in south Lebanon.")
EDITED_A = ("2025-08-04T15:26:00+03:00", "Lebanese Army: An Israeli drone strikes a car in south Lebanon.")
NEW_B = ("2025-08-04T15:33:00+03:00", "Yemeni Armed Forces: We targeted a ship in the Red Sea.")
RETRY_AFTER = 2


class ChangingHome(FixtureServer):
    """Answers ``/`` with the next of ``homes`` at each request (the last one from then on), and with
    ``429 Retry-After`` once, at the request number ``throttle_at``. ``robots`` likewise gives the
    answers to ``/robots.txt`` in turn. Every answer is logged as (time, path, status)."""

    def __init__(self, homes: list[str], robots: list[str] | None = None, throttle_at: int | None = None):
        super().__init__(FixtureSite())
        self.homes, self.robots, self.throttle_at = homes, robots, throttle_at
        self.answered: list[tuple[float, str, int]] = []
        self._count = {"/": 0, "/robots.txt": 0}
        self._guard = threading.Lock()

    def handle(self, handler, answer) -> None:
        path = urlsplit(handler.path).path
        with self._guard:
            n = self._count[path] = self._count.get(path, 0) + 1
            if path == "/" and n == self.throttle_at:
                answer = Answer(429, HTML, b"slow down", {"Retry-After": str(RETRY_AFTER)})
            elif path == "/":
                step = n - 1 - (self.throttle_at is not None and n > self.throttle_at)
                answer = Answer(200, HTML, self.homes[min(step, len(self.homes) - 1)].encode("utf-8"))
            elif path == "/robots.txt" and self.robots:
                answer = Answer(200, "text/plain", self.robots[min(n - 1, len(self.robots) - 1)].encode())
            self.answered.append((time.monotonic(), path, answer.status))
        write_answer(handler, answer)

    def times(self, path: str, status: int | None = None) -> list[float]:
        with self._guard:
            return [t for t, p, s in self.answered if p == path and (status is None or s == status)]


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


# SIGTERM of a real crawl and a real Retry-After wait (soak); in the quick set the watch is
# test_watch_stops_requesting_when_robots_txt_forbids_the_home_page and flashes stored once across runs
# test_breaking_crawl.test_home_page_flashes_once_then_only_what_is_new.
@pytest.mark.soak
def test_watch_stores_every_flash_once_and_stops_cleanly_on_sigterm(tmp_path):
    stored = stored_items()
    homes = [
        with_ticker(stored),
        with_ticker([item(*NEW_A)] + stored[:9]),  # one new flash, the oldest gone
        with_ticker([item(*EDITED_A)] + stored[:9]),  # the new flash edited
        with_ticker([item(*NEW_B), item(*EDITED_A)] + stored[:8]),  # another new one
    ]
    with ChangingHome(homes, throttle_at=3) as srv:
        proc = start_crawl(
            "breaking",
            srv.url,
            tmp_path,
            args={"watch": "0.3"},
            settings={"MAYADEEN_RETRY_BACKOFF_BASE": "0.1", "MAYADEEN_RETRY_BACKOFF_JITTER": "0"},
        )
        try:
            wait_for(lambda: len(srv.times("/", 200)) >= len(homes) + 2, timeout=90)
        finally:
            returncode = stop(proc)
        throttled = srv.times("/", 429)
        after = [t for t in srv.times("/") if throttled and t > throttled[0]]
    log = (tmp_path / "killed.log").read_text("utf-8")
    assert returncode == 0, log[-3000:]
    assert "Received SIGTERM: stopping the watch after the cycle under way" in log
    assert "Spider closed (finished)" in log and "result=ok" in log.strip().splitlines()[-1]

    # Retry-After: nothing reached the site before it ran out
    assert len(throttled) == 1 and after and after[0] - throttled[0] >= RETRY_AFTER - 0.05
    assert "'mayadeen/breaking/cycles_skipped'" in log  # cycles due during the pause were skipped

    expected = sorted(STORED_FLASHES + [("2025-08-04T12:26:00Z", EDITED_A[1]), ("2025-08-04T12:33:00Z", NEW_B[1])])
    rows = flashes(tmp_path / "mayadeen.sqlite")
    assert sorted((r["time"], r["text"]) for r in rows) == expected
    texts = [json.loads(line)["text"] for line in (tmp_path / "articles.jsonl").read_text("utf-8").splitlines()]
    assert sorted(texts) == sorted([t for _, t in STORED_FLASHES] + [NEW_A[1], NEW_B[1]])  # each once, as first seen


def test_watch_stops_requesting_when_robots_txt_forbids_the_home_page(tmp_path):
    allow = "User-agent: *\nDisallow: /search\n"
    forbid = "User-agent: *\nDisallow: /\n"
    with ChangingHome([with_ticker(stored_items())], robots=[allow, forbid]) as srv:
        proc = start_crawl(
            "breaking", srv.url, tmp_path, args={"watch": "0.4"}, settings={"MAYADEEN_BREAKING_ROBOTS_REFRESH": "0.5"}
        )
        try:
            wait_for(lambda: len(srv.times("/robots.txt")) >= 2, timeout=90)
            forbidden_at = srv.times("/robots.txt")[1]
            # Three more reads of robots.txt: 1.5 s at least, several cycles of the watch.
            wait_for(lambda: len(srv.times("/robots.txt")) >= 5, timeout=90)
        finally:
            returncode = stop(proc)
        later = [t for t in srv.times("/") if t > forbidden_at]
    log = (tmp_path / "killed.log").read_text("utf-8")
    assert returncode == 0, log[-3000:]
    assert "robots.txt now forbids the home page" in log
    assert len(later) <= 1  # at most the cycle already under way when robots.txt was read
    assert len(flashes(tmp_path / "mayadeen.sqlite")) == 10
