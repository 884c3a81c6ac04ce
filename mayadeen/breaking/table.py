"""The crawl's ``breaking_news`` table, for the components that write it (recorder, harvest, linking).

Read and written off the reactor thread (``mayadeen.pipelines.store_thread``), so a locked store or a
lost server stops no download: by the store pipeline's writer when it runs (the crawls that store
articles: their harvest and their links go through it, after the items before them). The
``breaking`` spider has no pipeline, so its recorder has a thread and a connection of its own to the
store, for the whole run (a watch runs for days: PostgreSQL's is connected again after a lost server,
as the pipeline's is). Without a store (neither ``MAYADEEN_STORE_URL`` nor ``MAYADEEN_SQLITE_PATH``)
the table is kept in memory: the run's ticker is still told apart, nothing is remembered after it.

Settings: ``MAYADEEN_BREAKING_LINK_SIMILARITY``, ``MAYADEEN_BREAKING_LINK_WINDOW`` (linking, see
``mayadeen.store.breaking``); the connection of its own waits and retries as the pipeline's
(``MAYADEEN_SQLITE_BUSY_TIMEOUT``, ``MAYADEEN_STORE_RETRY_TIMEOUT``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mayadeen.pipelines.store import StorePipeline
from mayadeen.pipelines.store_thread import StoreThread
from mayadeen.store.breaking import DEFAULT_LINK_SIMILARITY, DEFAULT_LINK_WINDOW, BreakingStore
from mayadeen.store.engines import SQLITE, StoreTarget, connect, store_errors, store_target
from mayadeen.store.interface import Store
from mayadeen.store.sqlite import MEMORY, ArticleStore

T = TypeVar("T")


class BreakingTable:
    """``await run(work)``: ``work(flashes)`` on the crawl's ``BreakingStore``, off the reactor (its
    connection opened at first use); ``await close()`` at the end of the crawl."""

    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.target = store_target(settings)
        self.link_similarity = settings.getfloat("MAYADEEN_BREAKING_LINK_SIMILARITY", DEFAULT_LINK_SIMILARITY)
        self.link_window = settings.getfloat("MAYADEEN_BREAKING_LINK_WINDOW", DEFAULT_LINK_WINDOW)
        self.busy_timeout = settings.getfloat("MAYADEEN_SQLITE_BUSY_TIMEOUT", 60.0)
        self.retry_timeout = settings.getfloat("MAYADEEN_STORE_RETRY_TIMEOUT", 60.0)
        self._flashes: BreakingStore | None = None  # over the connection of the thread it runs in
        self._own: StoreThread | None = None  # the thread this table started (and ends)

    @property
    def location(self) -> str:
        """For logs: the store's file or URL (without its password)."""
        return str(self.target) if self.target is not None else "memory"

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What a failed connection, read or write raises (the write was rolled back)."""
        return store_errors(self.target or StoreTarget(SQLITE, MEMORY))

    async def run(self, work: Callable[[BreakingStore], T]) -> T:
        return await self._thread().run(lambda store: work(self._flashes_in(store)))

    def _flashes_in(self, store: Store) -> BreakingStore:
        if self._flashes is None or self._flashes.store is not store:
            self._flashes = BreakingStore(store, link_similarity=self.link_similarity, link_window=self.link_window)
        return self._flashes

    def _thread(self) -> StoreThread:
        pipeline = self.crawler.get_item_pipeline(StorePipeline)
        if pipeline is not None and pipeline.writer is not None:
            return pipeline.writer
        if self._own is None:
            from twisted.internet import reactor

            self._own = StoreThread(
                reactor, self._connect, name="mayadeen-breaking", location=self.location, errors=self.errors
            )
        return self._own

    def _connect(self) -> Store:
        if self.target is None:
            return ArticleStore(MEMORY)
        if self.target.engine == SQLITE:
            Path(self.target.location).parent.mkdir(parents=True, exist_ok=True)
        return connect(self.target, busy_timeout=self.busy_timeout, retry_timeout=self.retry_timeout)

    async def close(self) -> None:
        own, self._own = self._own, None
        if own is not None:
            await own.close()
