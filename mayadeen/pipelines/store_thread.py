"""The crawl's store work, off the reactor: one thread, its own connection, the work in order.

A store call can wait: for another crawl's transaction on a SQLite file
(``MAYADEEN_SQLITE_BUSY_TIMEOUT``), for a row lock, or for a PostgreSQL server that went away
(``MAYADEEN_STORE_RETRY_TIMEOUT``, retried with backoff). On the reactor thread such a wait would stop
every download and every ``LoopingCall`` (a distributed worker's lease heartbeat among them), so the
crawl hands its store work to a ``StoreThread``: ``submit(work)`` runs ``work(store)`` in the thread,
on a connection that thread opened and alone uses, and returns a Deferred that fires on the reactor
with the result. One thread does the work in the order it was submitted. The store pipeline has two:
one for its writes (each item waits for its Deferred, so the scraper takes no more responses than
``CONCURRENT_ITEMS`` and ``SCRAPER_SLOT_MAX_ACTIVE_SIZE`` allow), one for the reads other components
make (freshness lookups, sitemap reads, WARC revisit lookups, field coverage), so a read never waits
behind writes and the reactor never waits for either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred

from mayadeen.ordered_thread import OrderedThread
from mayadeen.store.interface import Store

T = TypeVar("T")


class StoreThread:
    """``submit(work)``: ``work(store)`` in the thread, in order. ``open_store()`` is called in that
    thread for its connection, at the first work. ``close()`` closes it and ends the thread.
    ``location``: the store's, for messages; ``errors``: what its connection raises when the store fails."""

    def __init__(
        self,
        reactor,
        open_store: Callable[[], Store],
        *,
        name: str,
        location: str,
        errors: tuple[type[BaseException], ...],
    ):
        self.open_store = open_store
        self.location = location
        self.errors = errors
        self.store: Store | None = None
        self.thread = OrderedThread(reactor, name)

    def _run(self, work: Callable[[Store], T]) -> T:
        if self.store is None:
            self.store = self.open_store()
        return work(self.store)

    def submit(self, work: Callable[[Store], T]) -> Deferred:
        """A Deferred that fires on the reactor with ``work(store)``, or fails with what it raised."""
        return self.thread.submit(self._run, work)

    async def run(self, work: Callable[[Store], T]) -> T:
        """``work(store)`` in the thread, awaited."""
        return await maybe_deferred_to_future(self.submit(work))

    def _close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    async def close(self) -> None:
        """Closes the connection once the work before is done, then ends the thread."""
        try:
            await maybe_deferred_to_future(self.thread.submit(self._close))
        finally:
            self.thread.stop()  # its thread is idle now: this returns at once
