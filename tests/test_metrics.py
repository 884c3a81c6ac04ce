"""Metrics for Prometheus: the run's figures in a text file written atomically, and ``/metrics``
answering during the ``breaking`` watch, whose periodic monitors alert (once) when the ticker
is no longer read. The run's figures come from a crawl in process (``tests.inprocess``: each crawl has
a ``CollectorRegistry`` of its own, nothing carries over); the watch runs in a subprocess, stopped by
SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
import urllib.request
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from tests import inprocess
from tests.alert_receivers import WebhookReceiver, free_port
from tests.fixture_server import Answer, FixtureServer, FixtureSite, write_answer
from tests.scheduled import runs, start_crawl, wait_for
from tests.ticker_pages import stored_items, with_ticker, without_ticker

HTML = "text/html; charset=utf-8"


def samples(text: str) -> dict[tuple, float]:
    """``{(name, (label, value), ...): value}`` of every sample, parsed by prometheus_client."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, *sorted(s.labels.items()))] = s.value
    return out


def test_the_metrics_file_holds_the_runs_figures(tmp_path):
    metrics = tmp_path / "textfile" / "mayadeen_{spider}.prom"
    started = time.time()
    with FixtureServer(FixtureSite()) as srv:
        result = inprocess.crawl(
            "sitemap",
            srv.url,
            tmp_path,
            args={"js": "0"},
            settings={"MAYADEEN_METRICS_FILE": str(metrics), "MAYADEEN_PROGRESS_INTERVAL": "0.2"},
        )
    path = tmp_path / "textfile" / "mayadeen_sitemap.prom"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    got = samples(path.read_text("utf-8"))
    spider = ("spider", "sitemap")
    run = runs(tmp_path / "mayadeen.sqlite")[-1]
    assert got[("mayadeen_run_items", ("outcome", "new"), spider)] == run["items_new"] == 14
    assert got[("mayadeen_run_items", ("outcome", "seen"), spider)] == run["items_seen"] == 14
    assert got[("mayadeen_run_items", ("outcome", "given_up"), spider)] == 0
    assert got[("mayadeen_run_requests", spider)] == run["requests"] == result.stat("downloader/request_count")
    assert {dict(k[1:])["status"]: v for k, v in got.items() if k[0] == "mayadeen_run_responses"} == json.loads(
        run["responses_by_status"]
    )
    assert got[("mayadeen_run_errors", spider)] == 0 and got[("mayadeen_queue_size", spider)] == 0
    coverage = {k[1][1]: v for k, v in got.items() if k[0] == "mayadeen_field_coverage"}
    assert coverage["headline"] == 1.0 and coverage["video"] == json.loads(run["coverage"])["fields"]["video"]
    assert 0 < got[("mayadeen_run_duration_seconds", spider)] < time.time() - started
    assert got[("mayadeen_run_finished", spider)] == 1 and got[("mayadeen_run_failed", spider)] == 0
    assert started < got[("mayadeen_last_success_timestamp_seconds", spider)] <= time.time()


class TickerGoesAway(FixtureServer):
    """The home page with its ticker once, then without it (a redesign of the ticker)."""

    def __init__(self):
        super().__init__(FixtureSite())
        self.homes = 0
        self.guard = threading.Lock()

    def handle(self, handler, answer) -> None:
        if urlsplit(handler.path).path == "/":
            with self.guard:
                self.homes += 1
                first = self.homes == 1
            answer = Answer(200, HTML, (with_ticker(stored_items()) if first else without_ticker()).encode())
        write_answer(handler, answer)


def scrape(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode("utf-8")
    except OSError:
        return None


def failing_runs(log: str) -> tuple[list[str], int]:
    """The ticker monitor's checks in the log (OK or FAIL), and how many runs of failing checks they hold."""
    checks = re.findall(r"Ticker read/ticker read recently\.\.\. (OK|FAIL)", log)
    return checks, sum(1 for n, check in enumerate(checks) if check == "FAIL" and (n == 0 or checks[n - 1] == "OK"))


def ticker_alerts(posts: list[dict]) -> list[dict]:
    return [m for p in posts for m in p["monitors"] if m["monitor"] == "Ticker read"]


def test_metrics_are_served_during_the_watch_and_a_ticker_gone_is_alerted_once(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with TickerGoesAway() as srv, WebhookReceiver() as hook:
        settings = {
            "MAYADEEN_METRICS_PORT": str(port),
            "MAYADEEN_PROGRESS_INTERVAL": "0.3",
            "SPIDERMON_PERIODIC_MONITORS": json.dumps({"mayadeen.monitors.suites.PeriodicSuite": 0.3}),
            "MAYADEEN_MONITOR_TICKER_MAX_AGE": "1",
            "MAYADEEN_ALERT_WEBHOOK": hook.url,
        }
        proc = start_crawl("breaking", srv.url, tmp_path, args={"watch": "0.3"}, settings=settings)
        log = tmp_path / "killed.log"
        try:
            requests = ("mayadeen_run_requests", ("spider", "breaking"))
            wait_for(lambda: (text := scrape(url)) and samples(text).get(requests, 0) >= 1, timeout=60)
            live = samples(scrape(url))
            # Three checks in a row that find the ticker unread, and every alert sent for a run of them.
            wait_for(
                lambda: (
                    (runs := failing_runs(log.read_text("utf-8")))[0][-3:] == ["FAIL"] * 3
                    and len(ticker_alerts(hook.posts)) >= runs[1]
                ),
                timeout=60,
            )
            during = list(hook.posts)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                returncode = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    text = log.read_text("utf-8")
    assert returncode == 0, text[-3000:]
    assert live[("mayadeen_run_finished", ("spider", "breaking"))] == 0
    assert live[requests] >= 1 and live[("mayadeen_run_items", ("outcome", "new"), ("spider", "breaking"))] == 0
    # One alert per run of failing checks, not one per check. On a slow start the checks before the
    # first read can fail too (no read for 1 s since the start): a run of its own, alerted once too.
    checks, runs = failing_runs(text)
    alerts = ticker_alerts(during)
    assert checks[-3:] == ["FAIL"] * 3 and runs in (1, 2), checks
    assert len(alerts) == runs and all(a["figures"]["limit"] == 1 for a in alerts), (checks, alerts)
    assert all(p["run_ended"] is False for p in during)
    assert f"Serving metrics at http://127.0.0.1:{port}/metrics" in text
    assert scrape(url) is None  # the server stopped with the spider
