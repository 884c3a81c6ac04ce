"""Item pages given up after their retries: a warning and a counter, remembered and retried later.

One item that keeps answering 500 must not fail every run, nor cost every run its retries. When a
spider gives up on an item page (signal ``item_given_up``, sent by the spiders' errback), this
extension logs a WARNING, counts it (``mayadeen/given_up``: ``RunOutcome`` fails the run only when
too many are given up) and remembers it in the store's ``failing_items`` table
(``mayadeen.store.failing``). Later runs do not request it before its ``next_attempt_at``
(``MAYADEEN_FAILING_RETRY_INTERVAL`` seconds after the first failure, doubled with each further
failed run, at most ``MAYADEEN_FAILING_RETRY_INTERVAL_MAX``; ``-a full=1`` requests it anyway); from
then on every run asks for it again (``due()``, the spiders' ``failing_due``), whether or not its
discovery lists it: a monthly sitemap read once is not read again while unchanged. A run that stores
it forgets it. The items still failing are listed at the end of every run. The
table is read and written by the store pipeline's writer, off the reactor, in order with the items.

Stats: ``mayadeen/given_up``, ``mayadeen/failing/deferred`` (items not requested: not due yet),
``mayadeen/failing/due`` (items asked for again because they are due), ``mayadeen/failing/recovered``,
``mayadeen/failing/items`` (failing items in the store at the end).
"""

from __future__ import annotations

import logging

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import IgnoreRequest

from mayadeen.pipelines.store import StorePipeline
from mayadeen.record import utc_timestamp
from mayadeen.store import failing

logger = logging.getLogger(__name__)

#: Signal: a spider gave up on the item page ``url`` (arguments ``url``, ``reason``).
item_given_up = object()
#: How many failing items the end-of-run line names.
LISTED = 10


class FailingItems:
    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.interval = crawler.settings.getfloat("MAYADEEN_FAILING_RETRY_INTERVAL", 900.0)
        self.longest = crawler.settings.getfloat("MAYADEEN_FAILING_RETRY_INTERVAL_MAX", 86400.0)
        self.pipeline: StorePipeline | None = None  # its writer reads and writes the table
        self.next_attempts: dict[str, str] = {}
        self.deferred: set[str] = set()
        self.opened = False
        self.early: list[tuple[str, str]] = []  # given up before the spider opened (a job resumed after kills)

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(ext.given_up, signal=item_given_up)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    async def spider_opened(self, spider) -> None:
        pipeline = self.crawler.get_item_pipeline(StorePipeline)
        # Without a store (or with one that did not open) given-up items are only logged and counted.
        if pipeline is not None and pipeline.writer is not None:
            self.pipeline = pipeline
        try:
            if self.pipeline is not None:
                self.next_attempts = await pipeline.writer.run(failing.next_attempts)
        finally:  # a read that failed leaves the earlier failures unknown, not this run's unrecorded
            self.opened = True
            for url, reason in self.early:
                self.given_up(url, reason)
            self.early.clear()

    def due(self) -> list[str]:
        """The failing items whose next attempt is due, in URL order (none before the spider is open)."""
        now = utc_timestamp()
        return sorted(url for url, due in self.next_attempts.items() if due <= now)

    def request_scheduled(self, request, spider) -> None:
        due = self.next_attempts.get(request.url)
        if due and due > utc_timestamp() and not getattr(spider, "full", False):
            if request.url not in self.deferred:  # listed by two feeds: one item
                self.deferred.add(request.url)
                self.stats.inc_value("mayadeen/failing/deferred")
                logger.info("Not fetching %s before %s: it failed in earlier runs", request.url, due)
            raise IgnoreRequest(f"failing item, next attempt after {due}: {request.url}")

    def given_up(self, url: str, reason: str) -> None:
        if not self.opened:
            self.early.append((url, reason))
            return
        self.stats.inc_value("mayadeen/given_up")
        if self.pipeline is None or self.pipeline.writer is None:
            logger.warning("Gave up on %s (%s)", url, reason)
            return
        recorded = self.pipeline.write(
            lambda store: failing.record_failure(store, url, reason, self.interval, self.longest)
        )
        recorded.addCallback(self._remembered, url, reason)
        recorded.addErrback(lambda failure: logger.error("Could not remember %s as failing: %s", url, failure.value))

    def _remembered(self, row: dict, url: str, reason: str) -> None:
        self.next_attempts[url] = row["next_attempt_at"]
        logger.warning(
            "Gave up on %s (%s); failing in %d run(s) since %s, next attempt after %s",
            url,
            reason,
            row["failures"],
            row["first_failed_at"],
            row["next_attempt_at"],
        )

    async def item_scraped(self, item, response, spider) -> None:
        url = ItemAdapter(item).get("url")
        if self.pipeline is None or self.pipeline.writer is None or url not in self.next_attempts:
            return
        try:
            cleared = await self.pipeline.writer.run(lambda store: failing.clear(store, url))
        except self.pipeline.writer.errors as exc:  # the store is failing: the item stays listed as failing
            logger.warning("Could not forget %s as failing in %s: %s", url, self.pipeline.target, exc)
            return
        if cleared:
            self.next_attempts.pop(url, None)
            self.stats.inc_value("mayadeen/failing/recovered")
            logger.info("%s works again: no longer failing", url)

    async def spider_closed(self, spider, reason: str) -> None:
        if self.pipeline is None or self.pipeline.writer is None:  # none, or the store pipeline closed it first
            return
        try:
            rows = await self.pipeline.writer.run(failing.failing)
        except self.pipeline.writer.errors as exc:  # one line, not a signal handler's traceback
            logger.error("Could not list the failing items in %s: %s", self.pipeline.target, exc)
            return
        self.stats.set_value("mayadeen/failing/items", len(rows))
        if rows:
            listed = ", ".join(f"{url} ({n} runs, next after {at})" for url, n, at in rows[:LISTED])
            more = f" and {len(rows) - LISTED} more" if len(rows) > LISTED else ""
            logger.warning("%d item(s) keep failing and are retried by later runs: %s%s", len(rows), listed, more)
