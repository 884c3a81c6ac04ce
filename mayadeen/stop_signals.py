"""Ctrl-C and SIGTERM end a run cleanly at any moment, its start-up included.

Scrapy installs its handlers once the reactor runs, and they stop a crawl only once its engine runs:
a signal while the crawl was being set up (components built, the store opened, the spider opened)
stopped the reactor under it, and the run ended with no finish reason and an open ``crawl_runs`` row;
before the reactor ran, Python's default killed the process outright.

``StopSignals`` is installed by the ``crawl`` command as soon as it has read its arguments and stays
for the whole run (the command starts the crawler process without Scrapy's handlers). The first
signal stops the crawl as Scrapy's first one does (finish reason ``shutdown``): at once when the
engine runs, else as soon as it starts, before any request. A second one once the engine runs stops
the reactor at once, as Scrapy's second does (the command reports ``forced_shutdown``). A signal
after the crawl is over changes nothing: the run is being summed up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from scrapy import signals
from scrapy.utils.reactor import is_reactor_installed

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    def __init__(self):
        self.received: list[int] = []
        self.crawler = None
        self.loop: asyncio.AbstractEventLoop | None = None  # set once the engine has started
        self._stopping: asyncio.Future | None = None

    def install(self) -> None:
        for signum in SIGNALS:
            signal.signal(signum, self._handle)

    def watch(self, crawler) -> None:
        """The crawler a signal stops (it may come before the crawler exists: it is kept)."""
        self.crawler = crawler
        crawler.signals.connect(self._on_engine_started, signal=signals.engine_started)

    def _handle(self, signum, frame) -> None:
        # Nothing is logged here: the interrupted code may be writing to the same stream.
        self.received.append(signum)
        if self.loop is not None and len(self.received) <= 2:
            self.loop.call_soon_threadsafe(self._stop if len(self.received) == 1 else self._force)

    async def _on_engine_started(self) -> None:
        self.loop = asyncio.get_running_loop()
        if self.received:  # a signal during start-up: stop before the first request
            await self._graceful()

    def _stop(self) -> None:
        self._stopping = asyncio.ensure_future(self._graceful())  # referenced until done

    async def _graceful(self) -> None:
        logger.info("Received %s, shutting down gracefully. Send again to force", _name(self.received[0]))
        with contextlib.suppress(RuntimeError):  # the engine is already stopping, or closed
            await self.crawler.engine.stop_async()

    def _force(self) -> None:
        logger.info("Received %s twice, forcing unclean shutdown", _name(self.received[-1]))
        if not is_reactor_installed():
            self.loop.stop()
            return
        from twisted.internet import reactor

        with contextlib.suppress(RuntimeError):  # the reactor is already stopping
            reactor.stop()


def _name(signum: int) -> str:
    return signal.Signals(signum).name
