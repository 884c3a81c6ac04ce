"""One thread that runs the calls handed to it in order, their results delivered on the reactor.

A component whose calls can wait (a store's writes, Redis) runs them here rather than on the reactor
thread, where a wait would stop every download and every ``LoopingCall``. One thread, so the calls run
in the order they were submitted (writes reach their server in order) and a connection that thread
opened is used by it alone. ``mayadeen.pipelines.store_thread`` (the store) and
``mayadeen.distributed.link`` (Redis) each own one.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool


class OrderedThread:
    def __init__(self, reactor, name: str):
        self.reactor = reactor
        self.pool = ThreadPool(minthreads=1, maxthreads=1, name=name)
        self.pool.start()
        # A crawl that fails while opening may never close its components: the reactor's shutdown still
        # ends the thread (after the calls submitted), or the process would not exit.
        self.shutdown_trigger = reactor.addSystemEventTrigger("during", "shutdown", self.pool.stop)

    def submit(self, fn: Callable, *args, **kwargs) -> Deferred:
        """A Deferred that fires on the reactor with ``fn(*args, **kwargs)``, or fails with what it raised."""
        return deferToThreadPool(self.reactor, self.pool, fn, *args, **kwargs)

    def stop(self) -> None:
        """Ends the thread. It finishes the call it is in first: call this once the calls submitted are
        done, and it returns at once."""
        self.reactor.removeSystemEventTrigger(self.shutdown_trigger)
        self.pool.stop()
