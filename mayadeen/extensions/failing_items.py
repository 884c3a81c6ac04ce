"""Item pages given up after their retries: a warning and a counter, remembered and retried later.

One item that keeps answering 500 must not fail every run, nor cost every run its retries. When a
spider gives up on an item page (signal ``item_given_up``, sent by the spiders' errback), this
extension logs a WARNING, counts it (``mayadeen/given_up``: ``RunOutcome`` fails the run only when
too many are given up) and remembers it in the store's ``failing_items`` table
(``mayadeen.store.failing``). Later runs do not request it before its ``next_attempt_at``
(``MAYADEEN_FAILING_RETRY_INTERVAL`` seconds after the first failure, doubled with each further
failed run, at most ``MAYADEEN_FAILING_RETRY_INTERVAL_MAX``; ``-a full=1`` requests it anyway); from
then on every run asks for it again (``due()``; ``mayadeen.middlewares.failing_retries``), whether or
not its discovery lists it: a monthly sitemap read once is not read again while unchanged.

A failing item is forgotten once a request for it (or redirected from it) ends any other way than
failing: its item stored (not a record the store could not write), its record dropped, no item there
(signal ``no_item_there``: HTTP 404 or 410, not an item page), or redirected to a failing item; so is a
row that is no item page's URL (``discard``). One redirected to a page asked for already in the run, and
one the site withheld (signal ``item_withheld``: a 403, a 5xx Scrapy does not retry, a challenge page),
is remembered as failing, not given up (a new item too, due at once). In a local crawl, one fetched here
whose request came to no end in a run that ended (redirected off the site) waits for its next attempt
(``mayadeen/failing/unanswered``); a distributed crawl's retries and redirects go back to its queue, for
any worker to take, so there the attempt counts only where it ends. An item that was failing when the
run began and is given up again (under its own URL, whatever it now redirects to) is known breakage, not
news: ``mayadeen/failing/again``, not held against the run by ``RunOutcome``. The answers of a failing
item that Scrapy retries (5xx, 429, 408) are counted apart as they come
(``mayadeen/failing/responses/<status>``: the run may stop before the item's end), for the unwanted
statuses monitor to leave out, and counted after all if it recovers or is withheld (a 429 or a 503 a
page answers through is the site's state). The items still failing are listed at the end of every run.
The table is read and written by the store pipeline's writer, off the reactor, in order with the items.

Stats: ``mayadeen/given_up``, ``mayadeen/failing/deferred`` (items not requested: not due yet),
``mayadeen/failing/due`` (items asked for again because they are due), ``mayadeen/failing/again``,
``mayadeen/items/withheld``, ``mayadeen/failing/unanswered``,
``mayadeen/failing/recovered`` (forgotten), ``mayadeen/failing/items`` (failing items in the store at
the end).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import IgnoreRequest

from mayadeen.extensions.run_outcome import ENDED_REASONS
from mayadeen.identity import first_url
from mayadeen.pipelines.store import StorePipeline, item_not_stored
from mayadeen.record import utc_timestamp
from mayadeen.store import failing
from mayadeen.urls import item_kind

logger = logging.getLogger(__name__)

#: Signal: a spider gave up on the item page ``url`` (arguments ``url``, ``reason``; ``request``, the
#: request that failed, when there is one).
item_given_up = object()
#: Signal: a request for an item page found none there (arguments ``request``, ``reason``).
no_item_there = object()
#: Signal: the site withheld an item page without saying it is gone, e.g. a 403 (``request``, ``reason``;
#: ``known``: only an item failing already is to be remembered, as when the request was filtered).
item_withheld = object()
#: Request meta key: the ``failing_items`` URL a request asks for again.
ASKED_AGAIN = "mayadeen_failing"
#: Where the answers to items failing when the run began that Scrapy retries (5xx, 429, 408) are counted,
#: by status.
FAILING_RESPONSES = "mayadeen/failing/responses/"
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
        self.failing_before: frozenset[str] = frozenset()  # failing when the run began
        self.forgetting: set[str] = set()
        self.not_stored: set[str] = set()  # records the store could not write: their pages still fail
        self.retried = frozenset(int(code) for code in crawler.settings.getlist("RETRY_HTTP_CODES"))
        self.answers: defaultdict[str, Counter] = defaultdict(Counter)  # failing item -> its statuses here
        # A distributed crawl's retry or redirect goes back to the crawl's queue, for any worker to take.
        self.outcomes_here = not crawler.settings.get("MAYADEEN_REDIS_URL")
        self.asked: set[str] = set()  # failing items fetched here this run
        self.settled: set[str] = set()  # ... and those whose request came to an end here
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
        crawler.signals.connect(ext.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(ext.item_not_stored, signal=item_not_stored)
        crawler.signals.connect(ext.no_item, signal=no_item_there)
        crawler.signals.connect(ext.withheld, signal=item_withheld)
        crawler.signals.connect(ext.request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(ext.response_downloaded, signal=signals.response_downloaded)
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
                self.failing_before = frozenset(self.next_attempts)
        finally:  # a read that failed leaves the earlier failures unknown, not this run's unrecorded
            self.opened = True
            for url, reason in self.early:
                self.given_up(url, reason)
            self.early.clear()

    def due(self, *, every: bool = False) -> list[str]:
        """The failing items whose next attempt is due (``every``: all of them), in URL order; none
        before the spider is open."""
        now = utc_timestamp()
        return sorted(url for url, due in self.next_attempts.items() if every or due <= now)

    def request_scheduled(self, request, spider) -> None:
        due = self.next_attempts.get(request.url)
        if due and due > utc_timestamp() and not getattr(spider, "full", False):
            if request.url not in self.deferred:  # listed by two feeds: one item
                self.deferred.add(request.url)
                self.stats.inc_value("mayadeen/failing/deferred")
                logger.info("Not fetching %s before %s: it failed in earlier runs", request.url, due)
            self._redirected(request, f"redirects to {request.url}, failing itself")
            raise IgnoreRequest(f"failing item, next attempt after {due}: {request.url}")

    def request_dropped(self, request, spider) -> None:
        """A duplicate. A failing item that redirected to it is asked for again later (how that page ends
        is told under its URL). A new item is not: one that redirects to a page asked for already is
        that page (another item, or a listing or the home page for an item taken down)."""
        if request.meta.get("redirect_urls") and self._failing_key(request):
            self.withheld(request, f"redirects to {request.url}, asked for already")

    def _redirected(self, request, outcome: str) -> None:
        """The failing items ``request`` was redirected from: settled by the page they now lead to."""
        self._forget(_asked_for(request) - {request.url}, outcome)

    def given_up(self, url: str, reason: str, request=None) -> None:
        if not self.opened:
            self.early.append((url, reason))
            return
        self.stats.inc_value("mayadeen/given_up")
        if request is not None:  # a failing item asked for failed again, wherever it now redirects;
            # a new one under the item page that failed, or its own URL when that is no item page
            url = self._failing_key(request) or (request.url if item_kind(request.url) else first_url(request))
        self.settled.add(url)
        if url in self.failing_before or (request is not None and request.meta.get(ASKED_AGAIN)):
            self.stats.inc_value("mayadeen/failing/again")  # known breakage: its answers say nothing of a block
        self.answers.pop(url, None)
        if self.pipeline is None or self.pipeline.writer is None:
            logger.warning("Gave up on %s (%s)", url, reason)
            return
        self._record(url, reason, self._remembered)

    def _record(self, url: str, reason: str, then, **options) -> None:
        """One more failed run for ``url`` (``failing.record_failure``), then ``then(row, url, reason)``."""
        recorded = self.pipeline.write(
            lambda store: failing.record_failure(store, url, reason, self.interval, self.longest, **options)
        )
        recorded.addCallback(then, url, reason)
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

    def item_not_stored(self, item, reason) -> None:
        self.not_stored.add(ItemAdapter(item).get("url"))

    def item_scraped(self, item, response, spider) -> None:
        self._fetched(item, response, "stored")

    def item_dropped(self, item, response, exception, spider) -> None:
        self._fetched(item, response, "its record was dropped")

    def _fetched(self, item, response, outcome: str) -> None:
        url = ItemAdapter(item).get("url")
        if url in self.not_stored:  # passed on or dropped, but not in the store: still to be fetched
            self.not_stored.discard(url)
            return
        self._forget(_asked_for(response.request) | {url}, outcome)

    def no_item(self, request, reason: str) -> None:
        self._forget(_asked_for(request), f"no item there: {reason}")

    def withheld(self, request, reason: str, known: bool = False) -> None:
        """An item the site withheld (a 403, a challenge page): not a give-up, and its answers count for
        the monitors (a 403 may be a block); remembered as failing, so that it is asked for again later
        whatever lists it, or, failing already, asked again after a longer wait (not in every run)."""
        url = self._failing_key(request)
        if url is None and not known:  # a new item page (not a listing redirected to a duplicate)
            url = first_url(request) if item_kind(first_url(request)) else None
        if url is None:  # a filtered request, said where it was filtered
            return
        self.settled.add(url)
        self.stats.inc_value("mayadeen/items/withheld")
        if self.pipeline is None or self.pipeline.writer is None:
            logger.info("Could not get %s (%s)", url, reason)
            return
        self._count_answers(url)
        # A new item is due at once: asked for by the next run, not kept from a listing.
        self._record(url, reason, self._postponed, first_due_now=url not in self.failing_before)

    def _postponed(self, row: dict, url: str, reason: str) -> None:
        self.next_attempts[url] = row["next_attempt_at"]
        logger.info("Could not get %s (%s); next attempt after %s", url, reason, row["next_attempt_at"])

    def response_downloaded(self, response, request, spider) -> None:
        url = self._failing_key(request)
        if url is None:
            return
        self.asked.add(url)
        if response.status in self.retried:  # left out as it comes (the run may stop before its end) ...
            self.stats.inc_value(f"{FAILING_RESPONSES}{response.status}")
            self.answers[url][response.status] += 1

    def _count_answers(self, url: str) -> None:
        """... and counted after all when the item recovers or is withheld: a 429 or a 503 a page then
        answers through is the site's state, not the page's breakage."""
        for status, n in self.answers.pop(url, {}).items():
            self.stats.inc_value(f"{FAILING_RESPONSES}{status}", -n)

    def _failing_key(self, request) -> str | None:
        """The item failing when the run began that ``request`` asks for (or was redirected from); in a
        distributed crawl, the one another worker asked for too (it may have a store of its own)."""
        return min(_asked_for(request) & self.failing_before, default=None) or request.meta.get(ASKED_AGAIN)

    def discard(self, urls, why: str) -> None:
        """Forget failing rows no run will ask for (``why``: e.g. not an item URL, left by an old version)."""
        self._forget(set(urls), why)

    def _forget(self, urls: set, outcome: str) -> None:
        """Forget the failing items among ``urls``: a request for them ended with ``outcome``."""
        if self.pipeline is None or self.pipeline.writer is None:
            return
        for url in urls & self.next_attempts.keys() - self.forgetting:
            self.forgetting.add(url)
            self.settled.add(url)
            cleared = self.pipeline.write(lambda store, url=url: failing.clear(store, url))
            cleared.addCallback(self._forgotten, url, outcome)
            cleared.addErrback(self._not_forgotten, url)

    def _forgotten(self, cleared: bool, url: str, outcome: str) -> None:
        self.next_attempts.pop(url, None)
        self._count_answers(url)
        if cleared:
            self.stats.inc_value("mayadeen/failing/recovered")
            logger.info("%s is no longer failing (%s)", url, outcome)

    def _not_forgotten(self, failure, url: str) -> None:  # the store is failing: it stays listed as failing
        self.forgetting.discard(url)
        logger.warning("Could not forget %s as failing in %s: %s", url, self.pipeline.target, failure.value)

    async def _unanswered(self) -> None:
        """The failing items fetched here whose requests came to no end (redirected off the site or to a
        duplicate): their next attempt later, not in every run. Only rows still there (another run
        sharing the store may have stored the item meanwhile)."""
        for url in sorted(self.asked - self.settled):
            row = await self.pipeline.writer.run(
                lambda store, url=url: failing.record_failure(
                    store, url, "asked for, no answer in this run", self.interval, self.longest, existing_only=True
                )
            )
            if row is not None:
                self.stats.inc_value("mayadeen/failing/unanswered")
                logger.info("Asked for %s, no answer in this run; next attempt after %s", url, row["next_attempt_at"])

    async def spider_closed(self, spider, reason: str) -> None:
        if self.pipeline is None or self.pipeline.writer is None:  # none, or the store pipeline closed it first
            return
        try:
            if reason in ENDED_REASONS and self.outcomes_here:  # not a pause, nor a limit
                await self._unanswered()
            rows = await self.pipeline.writer.run(failing.failing)
        except self.pipeline.writer.errors as exc:  # one line, not a signal handler's traceback
            logger.error("Could not list the failing items in %s: %s", self.pipeline.target, exc)
            return
        self.stats.set_value("mayadeen/failing/items", len(rows))
        if rows:
            listed = ", ".join(f"{url} ({n} runs, next after {at})" for url, n, at in rows[:LISTED])
            more = f" and {len(rows) - LISTED} more" if len(rows) > LISTED else ""
            logger.warning("%d item(s) keep failing and are retried by later runs: %s%s", len(rows), listed, more)


def _asked_for(request) -> set:
    """The URLs a request asked for: its own, those it was redirected from, the failing item it asks again."""
    return {request.url, *request.meta.get("redirect_urls", ()), request.meta.get(ASKED_AGAIN)}
