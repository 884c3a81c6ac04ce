"""The crawl's ``breaking_news`` table, for the components that write it (recorder, harvest, linking).

One connection per crawl where there can be one: the store pipeline's, when it runs (the crawls that
store articles: their harvest and their links go through it). The ``breaking`` spider has no
pipeline, so its recorder opens a connection of its own to the store, for the whole run (a watch
runs for days: PostgreSQL's is connected again after a lost server, as the pipeline's is). Without
a store (neither ``MAYADEEN_STORE_URL`` nor ``MAYADEEN_SQLITE_PATH``) the table is kept in memory:
the run's ticker is still told apart, nothing is remembered after it.

Settings: ``MAYADEEN_BREAKING_LINK_SIMILARITY``, ``MAYADEEN_BREAKING_LINK_WINDOW`` (linking, see
``mayadeen.store.breaking``); the connection of its own waits and retries as the pipeline's
(``MAYADEEN_SQLITE_BUSY_TIMEOUT``, ``MAYADEEN_STORE_RETRY_TIMEOUT``).
"""

from __future__ import annotations

from pathlib import Path

from mayadeen.pipelines.store import StorePipeline
from mayadeen.store.breaking import DEFAULT_LINK_SIMILARITY, DEFAULT_LINK_WINDOW, BreakingStore
from mayadeen.store.engines import SQLITE, StoreTarget, connect, store_errors, store_target
from mayadeen.store.interface import Store
from mayadeen.store.sqlite import MEMORY, ArticleStore


class BreakingTable:
    """``flashes()``: the crawl's ``BreakingStore``, opened at first use; ``close()`` at the end of the crawl."""

    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.target = store_target(settings)
        self.link_similarity = settings.getfloat("MAYADEEN_BREAKING_LINK_SIMILARITY", DEFAULT_LINK_SIMILARITY)
        self.link_window = settings.getfloat("MAYADEEN_BREAKING_LINK_WINDOW", DEFAULT_LINK_WINDOW)
        self.busy_timeout = settings.getfloat("MAYADEEN_SQLITE_BUSY_TIMEOUT", 60.0)
        self.retry_timeout = settings.getfloat("MAYADEEN_STORE_RETRY_TIMEOUT", 60.0)
        self._flashes: BreakingStore | None = None
        self._own: Store | None = None  # the connection this table opened (and closes)

    @property
    def location(self) -> str:
        """For logs: the store's file or URL (without its password)."""
        return str(self.target) if self.target is not None else "memory"

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What a failed connection, read or write raises (the write was rolled back)."""
        return store_errors(self.target or StoreTarget(SQLITE, MEMORY))

    def flashes(self) -> BreakingStore:
        if self._flashes is None:
            self._flashes = BreakingStore(
                self._store(), link_similarity=self.link_similarity, link_window=self.link_window
            )
        return self._flashes

    def _store(self) -> Store:
        pipeline = self.crawler.get_item_pipeline(StorePipeline)
        if pipeline is not None and pipeline.store is not None:
            return pipeline.store
        if self.target is None:
            self._own = ArticleStore(MEMORY)
        else:
            if self.target.engine == SQLITE:
                Path(self.target.location).parent.mkdir(parents=True, exist_ok=True)
            self._own = connect(self.target, busy_timeout=self.busy_timeout, retry_timeout=self.retry_timeout)
        return self._own

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
        self._own = self._flashes = None
