"""When a leased request is finished, so that its lease can be acknowledged.

A request taken from the crawl's queue (``mayadeen.distributed.queue``) stays leased until this worker
has finished with it, and only then is it acknowledged — so a worker killed at any moment before that
leaves the request to another worker. Finished means:

* **a response**: the callback's output has been consumed, every request it yielded is in the queue,
  and every item it yielded has left the item pipelines stored or dropped (``item_scraped``,
  ``item_dropped``). ``AckWhenDone`` is the spider middleware nearest the engine, so
  it sees the final output, also the output of an errback Scrapy calls for an error status
  (``HttpError``). The end of the output is not the end of its pushes: Scrapy reads a callback's
  output ahead of handing its requests to the engine (``CONCURRENT_ITEMS`` at a time), so an
  acknowledgement sent then could leave, for a moment, nothing queued and nothing leased — and another
  worker would find the crawl over and end it, dropping the requests still to come. So a yielded
  request is pending until it is scheduled (``request_scheduled``; ``engine.crawl`` sends its push to
  the link's thread in the same call): an acknowledgement its scheduling allows is sent one turn of
  the event loop later, after that push (the link's one thread makes them in that order).
* **a callback that raised** before giving any output (a callback that is no generator, such as
  Scrapy's ``SitemapSpider._parse_sitemap``): finished as it is, the error logged as usual
  (``process_spider_exception``). Without this the lease would stay held by a live worker, renewed at
  every heartbeat, and the crawl would never end.
* **a failure** (download error, ``IgnoreRequest`` from robots.txt or the URL guard, ...): the errback,
  if any, has run and its output has been consumed. ``watch_errback`` wraps the request's errback when
  the request is taken; ``unwatch_errback`` puts the original back before a copy of the request
  (a retry) is serialised into the queue.
* **a retry or a redirect**: the new request takes the lease's place in the same Redis step
  (``DistributedScheduler.enqueue_request``), nothing to do here.

A page with an item that was **not stored** — the store refused its write (``item_not_stored``, sent by
the store pipeline: PostgreSQL away past its retry window, a full disk) or a pipeline raised
(``item_error``) — is not finished: acknowledged, it would never be fetched again in this crawl (its
url is in the duplicate filter) and the item would be lost. Once its output is done it is retried as
a download error is, through Scrapy's ``get_retry_request`` with the project's backoff
(``RETRY_TIMES``, ``retry_times`` in its meta, ``MAYADEEN_RETRY_BACKOFF_*``): the retry takes the
lease's place in the queue, and this or another worker fetches it again once its backoff is over. A
page whose retries are used up is acknowledged (``Gave up retrying <GET url> (failed N times): item
not stored``, ERROR) and its item is counted lost (``mayadeen/lost/store`` by the store pipeline,
``mayadeen/lost/pipeline`` for a pipeline's error: the run fails), so a store that never takes an item
cannot hold the crawl forever; with ``RETRY_ENABLED`` off or ``dont_retry`` in the page's meta it is
given up at once. The refused copy is dropped quietly (``not_stored``), so only the stored copy
reaches the feeds. Stats:
``mayadeen/redis/unstored/count`` (pages put back), ``mayadeen/redis/unstored/max_reached`` (given up).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable

from scrapy import Request, signals
from scrapy.utils.asyncio import call_later

from mayadeen.middlewares.retry import Backoff
from mayadeen.pipelines.store import item_not_stored

#: Request meta key: the id of the lease under which this worker holds the request.
LEASE = "mayadeen_lease"
#: Request meta key, until the request is scheduled: the lease of the response whose callback yielded it.
YIELDED_UNDER = "mayadeen_yielded_under"
#: Why a page is fetched again when one of its items was not stored (a retry reason, in the stats' keys).
NOT_STORED = "item not stored"


def lease_of(response_or_failure) -> str | None:
    """The lease of the request behind a response or a failure (None for requests not from the queue)."""
    request = getattr(response_or_failure, "request", None)
    return request.meta.get(LEASE) if request is not None else None


class AckWhenDone:
    """Spider middleware (distributed mode): acknowledges a leased request once it is finished."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.pending: Counter[str] = Counter()  # items in the pipelines and requests not yet scheduled
        self.output_done: set[str] = set()
        self.retries: dict[str, Request | None] = {}  # lease with an item not stored -> its retry (None: given up)
        self.backoff = Backoff.from_settings(crawler.settings)
        self.retry_enabled = crawler.settings.getbool("RETRY_ENABLED")
        self.max_retry_times = crawler.settings.getint("RETRY_TIMES")

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        for signal in (signals.item_scraped, signals.item_dropped):
            crawler.signals.connect(mw.item_finished, signal=signal)
        crawler.signals.connect(mw.item_failed, signal=signals.item_error)
        crawler.signals.connect(mw.item_not_stored, signal=item_not_stored)
        crawler.signals.connect(mw.request_scheduled, signal=signals.request_scheduled)
        return mw

    def process_spider_output(self, response, result: Iterable):
        lease = lease_of(response)
        return result if lease is None else _sync_then_done(result, self, response.request)

    async def process_spider_output_async(self, response, result: AsyncIterator):
        lease = lease_of(response)
        output = result if lease is None else _async_then_done(result, self, response.request)
        async for element in output:
            yield element

    def process_spider_exception(self, response, exception) -> None:
        """The callback (or a middleware nearer the spider) raised and nobody turned the error into
        output: the request is finished. An error raised while its output was iterated has been
        counted by the iteration already; finishing again is harmless."""
        lease = lease_of(response)
        if lease is not None:
            self.finished_output(lease)

    def count(self, page: Request, element) -> None:
        """One element of the output of the leased request ``page``: an item is pending until it leaves
        the pipelines, a request until it is scheduled."""
        lease = page.meta[LEASE]
        if isinstance(element, Request):
            if element.meta.get(YIELDED_UNDER) is not None:
                return  # the same request yielded twice: scheduled once
            element.meta[YIELDED_UNDER] = lease
        elif element is None:
            return
        elif hasattr(element, "note_leased_page"):  # what travels with an item travels in it
            element.note_leased_page(page)
        self.pending[lease] += 1

    def item_not_stored(self, item, reason) -> bool:
        """The store could not write ``item``: True when its page will be fetched again (the store
        pipeline then counts nothing lost), False when it is given up or not a leased page's."""
        page = _leased_page(item)
        return page is not None and self._refetch(page)

    def item_failed(self, item, response=None, **kwargs) -> None:
        """A pipeline raised (``item_error``): the item is not stored, its page is fetched again; once
        its retries are used up the item is counted lost (``mayadeen/lost/pipeline``: the run fails)."""
        page = _leased_page(item)
        if page is not None and not self._refetch(page):
            self.crawler.stats.inc_value("mayadeen/lost/pipeline")
        self.item_finished(item, response)

    def _refetch(self, page: Request) -> bool:
        """Decides, once per page, its retry (see the module docstring); True when there is one."""
        lease = page.meta[LEASE]
        if lease not in self.retries:
            retry = None
            if self.retry_enabled and not page.meta.get("dont_retry", False):  # as the retry middleware
                retry = self.backoff.retry(
                    page,
                    NOT_STORED,
                    self.crawler,
                    stats_base_key="mayadeen/redis/unstored",
                    max_retry_times=page.meta.get("max_retry_times", self.max_retry_times),
                )
            self.retries[lease] = retry
        return self.retries[lease] is not None

    def item_finished(self, item, response=None, **kwargs) -> None:
        lease = lease_of(response)
        if lease is not None:
            self.pending[lease] -= 1
            self._maybe_ack(lease)

    def request_scheduled(self, request, spider) -> None:
        # Popped before the scheduler serialises the request: another worker must not count it.
        lease = request.meta.pop(YIELDED_UNDER, None)
        if lease is not None:
            self.pending[lease] -= 1
            call_later(0, self._maybe_ack, lease)  # after the push that follows this signal

    def finished_output(self, lease: str) -> None:
        """The callback or errback output of ``lease`` has been consumed."""
        self.output_done.add(lease)
        self._maybe_ack(lease)

    def _maybe_ack(self, lease: str) -> None:
        if lease in self.output_done and self.pending[lease] <= 0:
            self.output_done.discard(lease)
            del self.pending[lease]
            retry = self.retries.pop(lease, None)
            if retry is not None:
                self.crawler.engine.crawl(retry)  # takes the lease's place in the queue
            else:
                self.crawler.engine.scheduler.ack(lease)


def _leased_page(item) -> Request | None:
    """The leased request ``item`` came from (items without the attribute: None, never retried)."""
    return item.leased_page() if hasattr(item, "leased_page") else None


def watch_errback(request: Request, acks: AckWhenDone) -> None:
    """Make the request's failure path tell ``acks`` when it is done (see the module docstring)."""
    lease = request.meta[LEASE]
    original = request.errback

    def errback(failure):
        if original is None:  # as Scrapy does without an errback: the failure is logged as usual
            acks.finished_output(lease)
            failure.raiseException()
        return _then_done(original(failure), acks, request)

    errback.mayadeen_original = original
    request.errback = errback


def unwatch_errback(request: Request) -> None:
    """Undo ``watch_errback`` on a copy of a watched request (the wrapper cannot be serialised)."""
    if hasattr(request.errback, "mayadeen_original"):
        request.errback = request.errback.mayadeen_original


def _then_done(output, acks: AckWhenDone, page: Request):
    if output is None or not (hasattr(output, "__iter__") or hasattr(output, "__aiter__")):
        acks.finished_output(page.meta[LEASE])
        return output
    if hasattr(output, "__aiter__"):
        return _async_then_done(output, acks, page)
    return _sync_then_done(output, acks, page)


def _sync_then_done(output, acks, page):
    lease = page.meta[LEASE]
    try:
        for element in output:
            acks.count(page, element)
            yield element
    finally:
        acks.finished_output(lease)


async def _async_then_done(output, acks, page):
    lease = page.meta[LEASE]
    try:
        async for element in output:
            acks.count(page, element)
            yield element
    finally:
        acks.finished_output(lease)
