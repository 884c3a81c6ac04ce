"""A download that failed on the network is one line (``mayadeen.extensions.network_errors``); every other
error keeps its traceback, and no crawl leaves the filter behind. (The unreachable site: test_exit_status.)"""

from __future__ import annotations

import json
import logging

from mayadeen.extensions.network_errors import LOGGERS, NetworkErrorsInOneLine
from tests.fault_server import FaultServer
from tests.inprocess import crawl as crawl_in_process


class PermissionDeniedPipeline:
    def process_item(self, item):
        raise PermissionError(13, "Permission denied", "/srv/mayadeen/exports/articles.jsonl")


def filters_left() -> list:
    return [f for name in LOGGERS for f in logging.getLogger(name).filters if isinstance(f, NetworkErrorsInOneLine)]


def test_a_pipelines_oserror_keeps_its_traceback(tmp_path):
    pipelines = {"mayadeen.pipelines.enrich.EnrichPipeline": 100, f"{__name__}.PermissionDeniedPipeline": 150}
    with FaultServer() as srv:
        run = crawl_in_process(
            "feed", srv.url, tmp_path, settings={"ITEM_PIPELINES": json.dumps(pipelines)}, check=False
        )
    assert "Error processing" in run.log and "PermissionError: [Errno 13] Permission denied" in run.log
    assert "Traceback (most recent call last)" in run.log  # an OSError, but not a download's
    assert filters_left() == []


def test_a_crawl_closed_before_its_engine_started_leaves_no_filter(tmp_path):
    settings = {  # nothing listens there: the worker closes from spider_opened, and no engine_stopped comes
        "MAYADEEN_REDIS_URL": "redis://127.0.0.1:1/0",
        "MAYADEEN_REDIS_LEASE_TTL": "3",
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",
    }
    result = crawl_in_process("sitemap", "http://127.0.0.1:1", tmp_path, settings=settings, check=False, timeout=60)
    assert "redis_unavailable" in result.log
    assert filters_left() == []  # was left on both loggers, for every later crawl of the process
