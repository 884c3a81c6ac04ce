"""Writes WARC records off the reactor thread: compressing a page costs about a millisecond, the crawl's
thread has better things to do, and the machine has a second core.

``BackgroundWriter(writer, limit, planner)`` runs a ``WarcWriter``'s costly half (records built,
gzip, the file write) in one worker thread, in the order the exchanges are handed in. The cheap half
(payload digest, revisit lookup in the store) runs in the thread of the store's reads (``planner``, a
``mayadeen.pipelines.store_thread.StoreThread``, the only thread that may use its connection), so a
store that waits for a lock or a lost server does not stop the reactor; it hands each planned exchange
to the worker itself, so the records are written in the order planned. Without a store the cheap half
runs on the caller's thread. At most ``limit`` exchanges wait for the worker (each holds a response body):
``await submit(fetched)`` returns once there is room, so a crawl faster than its disk waits for it
without blocking the reactor. For asyncio code (Scrapy's asyncio reactor).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor

from mayadeen.archive.warc import Capture, Fetched, WarcWriter


class BackgroundWriter:
    def __init__(self, writer: WarcWriter, limit: int, planner=None):
        self.writer = writer
        self.limit = limit
        self.planner = planner
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warc-writer")  # one: in order
        self._room = asyncio.Semaphore(limit)  # released as each write ends

    async def submit(self, fetched: Fetched) -> asyncio.Future[Capture]:
        """Queue ``fetched`` once there is room; the future gives its ``Capture`` (or the write's ``OSError``)."""
        await self._room.acquire()
        try:
            if self.planner is None:
                queued = self._plan(fetched)
            else:
                queued = await self.planner.run(lambda store: self._plan(fetched))
        except BaseException:
            self._room.release()
            raise
        written = asyncio.wrap_future(queued)
        written.add_done_callback(lambda _: self._room.release())
        return written

    def _plan(self, fetched: Fetched) -> Future[Capture]:
        """Plans ``fetched`` and queues it for the worker: in the order planned."""
        return self._worker.submit(self.writer.write_planned, self.writer.plan(fetched))

    async def close(self) -> None:
        """Write what is queued, then close the current file."""
        await asyncio.wrap_future(self._worker.submit(self.writer.close))
        self._worker.shutdown()
