"""One thread that runs the calls handed to it in order, their results delivered on the reactor.

A component whose calls can wait (a store's writes, Redis) runs them here rather than on the reactor
thread, where a wait would stop every download and every ``LoopingCall``. One thread, so the calls run
in the order they were submitted (writes reach their server in order) and a connection that thread
opened is used by it alone. ``mayadeen.pipelines.store_thread`` (the store) and
``mayadeen.distributed.link`` (Redis) each own one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

#: Seconds the reactor's shutdown waits for a thread its components never closed to end.
SHUTDOWN_WAIT = 5.0


class _DaemonThreadPool(ThreadPool):
    # A call that hangs (a server that stopped answering) never keeps the process from exiting.
    threadFactory = partial(threading.Thread, daemon=True)


class OrderedThread:
    def __init__(self, reactor, name: str):
        self.reactor = reactor
        self.pool = _DaemonThreadPool(minthreads=1, maxthreads=1, name=name)
        self.pool.start()
        # A crawl that fails while opening, or is shut down unclean (a second Ctrl-C), may never close
        # its components: the reactor's shutdown still ends the thread, waiting a while for the calls
        # submitted, or the process would not exit.
        self.shutdown_trigger = reactor.addSystemEventTrigger("during", "shutdown", self._stop_at_shutdown)

    def _stop_at_shutdown(self) -> None:
        stopping = threading.Thread(target=self.pool.stop, name=f"{self.pool.name}-stop", daemon=True)
        stopping.start()
        stopping.join(SHUTDOWN_WAIT)

    def submit(self, fn: Callable, *args, **kwargs) -> Deferred:
        """A Deferred that fires on the reactor with ``fn(*args, **kwargs)``, or fails with what it raised."""
        return deferToThreadPool(self.reactor, self.pool, fn, *args, **kwargs)

    def stop(self) -> None:
        """Ends the thread. It finishes the call it is in first: call this once the calls submitted are
        done, and it returns at once."""
        self.reactor.removeSystemEventTrigger(self.shutdown_trigger)
        self.pool.stop()
