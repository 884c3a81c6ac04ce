"""A run's figures in the Prometheus text format: a file for node_exporter's textfile collector, and
``/metrics`` over HTTP for long runs (the ``breaking`` watch, distributed workers).

``MAYADEEN_METRICS_FILE`` (``{spider}`` in it becomes the spider's name) is written atomically
(``prometheus_client.write_to_textfile``: a temporary file renamed over it) when the spider opens,
every ``MAYADEEN_PROGRESS_INTERVAL`` seconds and when it closes. ``MAYADEEN_METRICS_PORT`` (0: off)
serves the same at ``http://MAYADEEN_METRICS_ADDRESS:PORT/metrics`` (default address 127.0.0.1)
until the spider closes. Figures are taken from the stats in the reactor's thread at those moments;
the server's thread only hands out the last set taken.

Every metric is named ``mayadeen_*`` and labelled with the ``spider``: ``mayadeen_run_items`` (by
``outcome``: new, updated, unchanged, given_up, dropped, seen), ``mayadeen_run_requests``,
``mayadeen_run_responses`` (by ``status``), ``mayadeen_run_errors``, ``mayadeen_run_duration_seconds``,
``mayadeen_run_start_timestamp_seconds``, ``mayadeen_queue_size``, ``mayadeen_field_coverage`` (by
``field``, 0–1, once a record was seen), ``mayadeen_monitors_failed``, ``mayadeen_run_finished``
and ``mayadeen_run_failed`` (0/1), and ``mayadeen_last_success_timestamp_seconds`` (the end of the
spider's last run that worked, from ``crawl_runs``; this run's end when it worked).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server, write_to_textfile
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet.task import LoopingCall

from mayadeen.extensions.coverage import FieldCoverage
from mayadeen.extensions.run_outcome import items_dropped
from mayadeen.pipelines.store import open_store
from mayadeen.record import TIMESTAMP_FORMAT
from mayadeen.store.freshness import items_seen

logger = logging.getLogger(__name__)

_STATUS_PREFIX = "downloader/response_status_count/"
_ITEMS = {
    "new": "mayadeen/items/new",
    "updated": "mayadeen/items/updated",
    "unchanged": "mayadeen/items/unchanged",
    "given_up": "mayadeen/given_up",
}


class Snapshot(Collector):
    """Hands out the metric families last taken (a list swapped whole: safe to read from another thread)."""

    def __init__(self):
        self.families: list[GaugeMetricFamily] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return iter(self.families)


class PrometheusMetrics:
    def __init__(self, crawler, path: str, port: int, address: str, interval: float):
        self.crawler = crawler
        self.path, self.port, self.address, self.interval = path, port, address, interval
        self.snapshot = Snapshot()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.snapshot)
        self.loop: LoopingCall | None = None
        self.server = None
        self.last_success: float | None = None

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        path, port = (s.get("MAYADEEN_METRICS_FILE") or "").strip(), s.getint("MAYADEEN_METRICS_PORT", 0)
        if not path and not port:
            raise NotConfigured
        ext = cls(
            crawler,
            path,
            port,
            s.get("MAYADEEN_METRICS_ADDRESS") or "127.0.0.1",
            s.getfloat("MAYADEEN_PROGRESS_INTERVAL", 60.0),
        )
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    async def spider_opened(self, spider) -> None:
        self.path = self.path.replace("{spider}", spider.name)
        self.last_success = await self.stored_last_success(spider.name)
        self.publish()
        if self.port:
            try:
                self.server, _ = start_http_server(self.port, addr=self.address, registry=self.registry)
            except OSError as exc:
                logger.error("Could not serve metrics on %s:%d: %s", self.address, self.port, exc)
            else:
                logger.info("Serving metrics at http://%s:%d/metrics", self.address, self.port)
        if self.interval > 0:
            self.loop = LoopingCall(self.publish)
            self.loop.start(self.interval, now=False)

    def spider_closed(self, spider, reason: str) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self.crawler.stats.get_value("mayadeen/run/result") == "ok":
            self.last_success = time.time()
        self.publish(ended=True)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    async def stored_last_success(self, spider: str) -> float | None:
        reads = await open_store(self.crawler)
        if reads is None:
            return None
        query = (
            "SELECT finished_at FROM crawl_runs WHERE spider = $1 AND result = 'ok' AND finished_at IS NOT NULL"
            " ORDER BY id DESC LIMIT 1"
        )
        try:
            row = await reads.run(lambda store: store.read(lambda: store.row(query, (spider,))))
        except reads.errors as exc:
            logger.warning("Could not read the last successful run from %s: %s", reads.location, exc)
            return None
        if not row:
            return None
        return datetime.strptime(row["finished_at"], TIMESTAMP_FORMAT).replace(tzinfo=UTC).timestamp()

    def publish(self, ended: bool = False) -> None:
        """Takes the figures now; writes the file."""
        self.snapshot.families = self.families(ended)
        if self.path:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                write_to_textfile(self.path, self.registry)
            except OSError as exc:
                logger.warning("Could not write the metrics file %s: %s", self.path, exc)

    def families(self, ended: bool) -> list[GaugeMetricFamily]:
        stats = self.crawler.stats.get_stats()
        spider = self.crawler.spider.name

        def gauge(name: str, doc: str, value: float | None = None, **labels: dict[str, float]):
            family = GaugeMetricFamily(f"mayadeen_{name}", doc, labels=["spider", *labels])
            if value is not None:
                family.add_metric([spider], value)
            for values in labels.values():
                for key, number in values.items():
                    family.add_metric([spider, str(key)], number)
            out.append(family)

        out: list[GaugeMetricFamily] = []
        started = stats.get("start_time")
        items = {outcome: stats.get(key, 0) for outcome, key in _ITEMS.items()}
        items.update(dropped=items_dropped(stats), seen=items_seen(stats))
        gauge("run_items", "Items of this run by outcome.", outcome=items)
        gauge("run_requests", "Requests sent.", stats.get("downloader/request_count", 0))
        gauge(
            "run_responses",
            "Responses by HTTP status.",
            status={k[len(_STATUS_PREFIX) :]: v for k, v in stats.items() if k.startswith(_STATUS_PREFIX)},
        )
        gauge("run_errors", "ERROR log lines.", stats.get("log_count/ERROR", 0))
        if started is not None:
            gauge("run_start_timestamp_seconds", "When the run started.", started.timestamp())
            gauge(
                "run_duration_seconds",
                "How long the run has lasted.",
                stats.get("elapsed_time_seconds")
                if ended and "elapsed_time_seconds" in stats
                else time.time() - started.timestamp(),
            )
        scheduler = getattr(self.crawler.engine, "scheduler", None)
        gauge("queue_size", "Requests waiting in the scheduler.", 0 if ended or scheduler is None else len(scheduler))
        coverage = self.crawler.get_extension(FieldCoverage)
        report = (coverage.final or coverage.report()) if coverage is not None else None
        if report and report["records"]:
            gauge("field_coverage", "Share of records with the field present and non-empty.", field=report["fields"])
        failed = stats.get("mayadeen/monitors/failed")
        gauge("monitors_failed", "Monitors failing at the last check.", failed.count(", ") + 1 if failed else 0)
        gauge("run_finished", "1 once the run ended.", 1 if ended else 0)
        if ended:
            gauge("run_failed", "1 when the run ended as failed.", 0 if stats.get("mayadeen/run/result") == "ok" else 1)
        if self.last_success is not None:
            gauge("last_success_timestamp_seconds", "End of the spider's last run that worked.", self.last_success)
        return out
