"""Earlier runs of a spider, from ``crawl_runs``: what the item-count monitor compares a run with.

``EarlierRuns`` (an extension) reads them as the spider closes, in the store pipeline's reader thread
(``StorePipeline.add_close_read``): before Spidermon's close monitors, which run on the reactor and
cannot wait, and off the reactor, so a store that is locked or gone at the close stops nothing. The
read waits at most ``MAYADEEN_STORE_REACTOR_TIMEOUT`` seconds; a read that failed or timed out is a
WARNING, and the monitor says it could not read the earlier runs. Setting:
``MAYADEEN_MONITOR_HISTORY_RUNS`` (how many runs, default 7).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from scrapy import signals

from mayadeen.pipelines.store import StorePipeline, spider_arguments
from mayadeen.pipelines.store_thread import StoreThread
from mayadeen.store.interface import Store

logger = logging.getLogger(__name__)

DEFAULT_HISTORY_RUNS = 7

#: Runs read to find ``count`` with the same arguments (other arguments are skipped).
_LOOK_BACK = 200


def usual_items_seen(store: Store, spider: str, arguments: Mapping[str, Any], run_id: int, count: int) -> list[int]:
    """``items_seen`` of the last ``count`` runs before ``run_id`` of ``spider`` with the same
    ``arguments`` that ran out of work and did not fail (newest first)."""
    wanted = json.loads(json.dumps(dict(arguments), sort_keys=True, default=str))  # as start_run stores them
    rows = store.read(
        lambda: store.rows(
            "SELECT arguments, items_seen FROM crawl_runs WHERE spider = $1 AND id < $2 AND finish_reason = 'finished'"
            " AND (result IS NULL OR result = 'ok') AND items_seen IS NOT NULL ORDER BY id DESC LIMIT $3",
            (spider, run_id, _LOOK_BACK),
        )
    )
    return [row["items_seen"] for row in rows if store.from_json(row["arguments"]) == wanted][:count]


class EarlierRuns:
    """``items_seen``: the earlier runs' counts (see ``usual_items_seen``), read as the spider closes;
    None with ``problem`` saying why when they could not be read."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.runs = crawler.settings.getint("MAYADEEN_MONITOR_HISTORY_RUNS", DEFAULT_HISTORY_RUNS)
        self.timeout = crawler.settings.getfloat("MAYADEEN_STORE_REACTOR_TIMEOUT", 10.0)
        self.items_seen: list[int] | None = None
        self.problem = "no store, no history"

    @classmethod
    def from_crawler(cls, crawler):
        history = cls(crawler)
        crawler.signals.connect(history.spider_opened, signal=signals.spider_opened)
        return history

    def spider_opened(self, spider) -> None:
        pipeline = self.crawler.get_item_pipeline(StorePipeline)
        if pipeline is not None and pipeline.run_id is not None:
            self.problem = "the run closed before its earlier runs were read"
            pipeline.add_close_read(self.read)

    async def read(self, reader: StoreThread) -> None:
        spider = self.crawler.spider
        arguments = spider_arguments(spider)
        run_id = self.crawler.stats.get_value("mayadeen/run_id")
        try:
            self.items_seen = await asyncio.wait_for(
                reader.run(lambda store: usual_items_seen(store, spider.name, arguments, run_id, self.runs)),
                self.timeout,
            )
        except (TimeoutError, *reader.errors) as exc:
            why = str(exc) or f"no answer in {self.timeout:g} s"
            self.problem = f"could not read the earlier runs from {reader.location}: {why}"
            logger.warning("The item-count monitor %s", self.problem)
