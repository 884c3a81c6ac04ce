"""What a re-extraction changed: per record and per field, against the store, reported at the end.

The developer's question after a parser fix: how many records come out different now, and in which
fields. Each record is compared with the row the store holds for its url, just before the store
pipeline writes it, on every key but ``scraped_at`` and ``content_hash``. The row is read off the
reactor, by the store pipeline's writer after the writes before it (or, pipeline off, by a thread
reading the store).

A record that differs only in keys outside the content hash (``shares``, dates, sections, links…)
updates its row in place, without a new revision (the store's rule for metadata); it is counted
apart, since no revision records the change.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from mayadeen.pipelines.store import StorePipeline, open_store
from mayadeen.pipelines.store_thread import StoreThread
from mayadeen.plain_record import plain_record
from mayadeen.record import HASHED_KEYS
from mayadeen.store.engines import store_target
from mayadeen.store.model import RECORD_COLUMNS

logger = logging.getLogger(__name__)

#: Keys that differ on every pass and say nothing about extraction.
NOT_COMPARED = frozenset({"scraped_at", "content_hash"})
#: How many fields the report names.
REPORTED_FIELDS = 10
#: Stat prefix: records in which the key that follows changed.
FIELD_STAT = "mayadeen/reextract/field/"


def changed_fields(record: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """The record keys whose values differ between a new record and a stored one, in record order."""
    return [key for key in RECORD_COLUMNS if key not in NOT_COMPARED and record.get(key) != stored.get(key)]


class ChangeReport:
    """Item pipeline (before the store). Stats: ``mayadeen/reextract/new``, ``…/changed``,
    ``…/unchanged``, ``…/changed_outside_hash`` and ``mayadeen/reextract/field/<key>`` (records in
    which that key changed)."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.reads: StoreThread | None = None

    @classmethod
    def from_crawler(cls, crawler):
        if store_target(crawler.settings) is None:
            raise NotConfigured("no store to compare with")
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    async def spider_opened(self, spider) -> None:
        pipeline = self.crawler.get_item_pipeline(StorePipeline)
        self.reads = pipeline.writer if pipeline is not None else await open_store(self.crawler)

    async def _stored(self, url: str) -> dict[str, Any] | None:
        return await self.reads.run(lambda store: store.get(url)) if self.reads is not None else None

    async def process_item(self, item: Any) -> Any:
        record = plain_record(item)
        stored = await self._stored(record["url"])
        if stored is None:
            self.stats.inc_value("mayadeen/reextract/new")
            return item
        fields = changed_fields(record, stored)
        if not fields:
            self.stats.inc_value("mayadeen/reextract/unchanged")
            return item
        self.stats.inc_value("mayadeen/reextract/changed")
        if not set(fields) & set(HASHED_KEYS):
            self.stats.inc_value("mayadeen/reextract/changed_outside_hash")
        for key in fields:
            self.stats.inc_value(f"{FIELD_STAT}{key}")
        logger.info("Changed by re-extraction: %s (%s)", record["url"], ", ".join(fields))
        return item

    def spider_closed(self, spider) -> None:
        for line in report(self.stats.get_stats()):
            logger.info("%s", line)


def report(stats: dict[str, Any]) -> list[str]:
    """The report's lines, from a re-extraction's stats: what ``scrapy reextract`` answers."""
    fields = Counter({key[len(FIELD_STAT) :]: count for key, count in stats.items() if key.startswith(FIELD_STAT)})
    most = ", ".join(f"{key} {count}" for key, count in fields.most_common(REPORTED_FIELDS))
    lines = [
        f"Re-extraction report: {stats.get('mayadeen/reextract/changed', 0)} records changed,"
        f" {stats.get('mayadeen/reextract/unchanged', 0)} unchanged, {stats.get('mayadeen/reextract/new', 0)} new;"
        f" fields changed most: {most or 'none'}"
    ]
    kept = {outcome: stats.get(f"mayadeen/items/{outcome}", 0) for outcome in ("stale", "degraded")}
    if any(kept.values()):  # compared before the store, which then refused them: nothing written for them
        lines.append(
            f"Not stored: {sum(kept.values())} of the records changed; the store kept its own version (modified"
            f" later: {kept['stale']}; with facts the new one lacks: {kept['degraded']})"
        )
    outside = stats.get("mayadeen/reextract/changed_outside_hash", 0)
    if outside:
        lines.append(f"Records changed only outside the content hash: {outside} (updated in place, no new revision)")
    return lines
