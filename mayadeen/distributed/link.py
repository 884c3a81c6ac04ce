"""The worker's connection to Redis, in a thread of its own: no Redis call runs on the reactor thread.

The reactor side ``submit``s (or ``send``s, when nobody waits for the answer) a function; it runs in
the link's one thread (``mayadeen.ordered_thread``) and its result comes back as a Deferred fired on the
reactor. Inside that thread the package's Redis code (``queue``, ``budget``, ``crawl``: plain
synchronous functions) makes each Redis call through ``call``. One thread runs the functions in the
order they were submitted, so writes reach Redis in order by construction: a lease is acknowledged
only after the retry that replaced it was queued, the crawl is marked seeded after its start requests.

Why a thread rather than ``redis.asyncio``: Scrapy's scheduler interface (``enqueue_request``,
``next_request``, ``__len__``) is synchronous, so the scheduler would keep a local buffer and an ordered
queue of writes either way; with the thread the ordered queue is the thread's own, and the Lua scripts'
code stays synchronous, tested as such (``tests/test_distributed_scripts.py``).

**An outage is waited out in the thread.** A call that fails with a connection error or a timeout is
tried again, after 0.05 s doubling to 2 s, until Redis answers: the reactor meanwhile keeps
downloading, parsing and storing, and what it submits waits in order behind that call. One socket
operation blocks the thread for ``MAYADEEN_REDIS_LEASE_TTL`` / 20 at most (0.25 s to 3 s,
``mayadeen.distributed.timing``) and redis-py does not retry by itself (a connection dropped by a
Redis restart is tried again here, after 0.05 s): so one failed call takes at most a connect and a
read, the bound the lease arithmetic counts on. The first failure logs one WARNING (``Redis at
redis://…: …; retrying for up to Ns``), the first answer after it one INFO line.

The link gives up for good before a try could end more than ``MAYADEEN_REDIS_RETRY_TIMEOUT`` seconds
after the outage's first failure (by default, and at most, what the lease TTL allows: see
``mayadeen.distributed.timing``): one ERROR line names Redis, its address (without password) and the
last error, the ``on_give_up`` callback closes the crawl (``redis_unavailable``, exit status 1), and
every later call fails with ``RedisUnavailable`` at once. The crawl's state stays in Redis: starting
the workers again continues it; what this worker held expires with its leases (at-least-once, as for
a killed worker). Logging and ``on_give_up`` run on the reactor (``callFromThread``), never in the
thread. ``away`` tells the reactor side that Redis does not answer: the scheduler then hands no request
to the downloader, as it could not renew its grant.

``close`` runs a last function after everything submitted before, refuses what comes later, and ends
the thread. While closing, a call that fails is not tried again, nor is any call after it: what did not
reach Redis expires with this worker's leases.

A call that Redis ran but whose answer was lost (the socket timed out, the connection dropped) is
tried again, by redis-py's ``Retry`` or by the link; every script of the package answers a second run
as it did the first, doing nothing twice. ``take`` and ``push`` send a nonce made once per call: the
script remembers this worker's last one with its answer and, run again with it, answers the same lease
(still held by this worker) or the same push result, instead of leasing a second request this worker
would never renew or queueing an unfiltered request twice (``mayadeen.distributed.queue``). A budget
grant names its slot, and a slot still held is granted again unchanged. Acknowledging, renewing and
releasing leases, freeing slots and a pause are idempotent by themselves (run again, an ack or release
counts 0).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from twisted.internet.defer import Deferred, fail, succeed

from mayadeen.distributed.timing import DEFAULT_LEASE_TTL, call_bound, longest_retry_timeout, socket_timeout
from mayadeen.ordered_thread import OrderedThread

logger = logging.getLogger(__name__)

#: Errors after which a call is tried again (BusyLoadingError, "Redis is loading", is a ConnectionError).
RETRYABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
#: Pauses between two tries of a call while Redis is away (in the link's thread).
FIRST_PAUSE, LONGEST_PAUSE = 0.05, 2.0


class RedisAway(RuntimeError):
    """Redis did not answer and the link is closing: the call is not tried again."""


class RedisUnavailable(RedisAway):
    """Redis stayed unreachable for longer than the retry timeout: the link has given up."""


def redacted(url: str) -> str:
    """``url`` without its password (for log lines)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + netloc, parts.path, parts.query, parts.fragment))


class RedisLink:
    def __init__(self, url: str, *, retry_timeout: float | None = None, lease_ttl: float = DEFAULT_LEASE_TTL):
        self.url = url
        self.retry_timeout = longest_retry_timeout(lease_ttl) if retry_timeout is None else retry_timeout
        self.call_bound = call_bound(lease_ttl)
        timeout = socket_timeout(lease_ttl)
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # the link tries again itself, within its bound
        )
        self.failure: str | None = None  # set in the thread when the link gives up
        self.away_since: float | None = None  # thread only: monotonic time of this outage's first failure
        self.on_give_up: Callable[[str], None] | None = None  # called on the reactor
        self.closing = threading.Event()
        self.thread: OrderedThread | None = None  # started by the first submit

    @property
    def away(self) -> bool:
        """Redis did not answer the last try (or the link gave up); read on the reactor."""
        return self.away_since is not None or self.failure is not None

    def script(self, source: str):
        """A Lua script (redis-py loads it again by itself after a Redis restart)."""
        return self.client.register_script(source)

    # --- the reactor side -----------------------------------------------------------------------

    def submit(self, fn: Callable, *args, **kwargs) -> Deferred:
        """``fn(*args, **kwargs)`` in the link's thread, after what was submitted before: a Deferred
        fired on the reactor with its result, or failed with ``RedisAway``/``RedisUnavailable``."""
        if self.closing.is_set():
            return fail(RedisAway("the link to Redis is closed"))
        if self.thread is None:
            from twisted.internet import reactor

            self.thread = OrderedThread(reactor, "mayadeen-redis")
        return self.thread.submit(fn, *args, **kwargs)

    def send(self, what: str, fn: Callable, *args, then: Callable | None = None) -> None:
        """``submit``, nobody waiting: ``then(result)`` on the reactor once it is done. A write the
        link could not make is dropped silently (the outage is reported; leases and budget slots
        expire by themselves); any other error is logged."""
        done = self.submit(fn, *args)
        if then is not None:
            done.addCallback(then)
        done.addErrback(self.dropped, what)

    @staticmethod
    def dropped(failure, what: str) -> None:
        """Errback: ``RedisAway`` is expected (already reported), anything else is logged."""
        if not failure.check(RedisAway):
            logger.error("Redis %s failed", what, exc_info=(failure.type, failure.value, failure.getTracebackObject()))

    def close(self, last: Callable | None = None) -> Deferred:
        """``last()`` in the thread once everything submitted before is done (calls submitted later are
        refused); then the thread ends. A Deferred fired with ``last``'s result (None without it)."""
        if self.thread is None and last is None:
            self.closing.set()
            return succeed(None)
        done = self.submit(last or (lambda: None))
        self.closing.set()

        def stop(result):
            if self.thread is not None:
                self.thread.stop()  # idle: the last call is done
            return result

        return done.addBoth(stop)

    # --- the thread side ------------------------------------------------------------------------

    def call(self, what: str, fn: Callable, *args, **kwargs):
        """``fn(*args, **kwargs)``, tried again while Redis does not answer; in the link's thread (or in
        a test), never on the reactor. ``RedisUnavailable`` once the link has given up; ``RedisAway``
        when Redis does not answer while the link closes."""
        pause = FIRST_PAUSE
        while True:
            if self.failure:
                raise RedisUnavailable(self.failure)
            if self.closing.is_set() and self.away_since is not None:
                raise RedisAway(f"{what}: not tried, Redis is away and the link is closing")
            try:
                result = fn(*args, **kwargs)
            except RETRYABLE as exc:
                self._away(what, exc, pause)
                self.closing.wait(pause)  # the thread's own wait; close() ends it early
                pause = min(pause * 2, LONGEST_PAUSE)
                continue
            if self.away_since is not None:
                self._on_reactor(
                    logger.info,
                    "Redis at %s answers again, after %.1fs",
                    redacted(self.url),
                    time.monotonic() - self.away_since,
                )
                self.away_since = None
            return result

    def _away(self, what: str, exc: Exception, pause: float) -> None:
        """Notes a failed try; gives up (``RedisUnavailable``) when the next one, after ``pause``, could
        end after the retry window."""
        now = time.monotonic()
        if self.away_since is None:
            self.away_since = now
            self._on_reactor(
                logger.warning,
                "Redis at %s: %s (%s); retrying for up to %gs",
                redacted(self.url),
                type(exc).__name__,
                exc,
                self.retry_timeout,
            )
        if self.closing.is_set():
            raise RedisAway(f"{what}: {type(exc).__name__}: {exc}") from exc
        if now + pause + self.call_bound - self.away_since <= self.retry_timeout:
            return
        self.failure = (
            f"Redis at {redacted(self.url)} unreachable within MAYADEEN_REDIS_RETRY_TIMEOUT={self.retry_timeout:.3g}s"
            f" ({what}: {type(exc).__name__}: {exc})"
        )
        self._on_reactor(self._gave_up, self.failure)
        raise RedisUnavailable(self.failure) from exc

    def _gave_up(self, failure: str) -> None:
        logger.error("%s; the crawl stays in Redis: start the workers again to continue it", failure)
        if self.on_give_up is not None:
            self.on_give_up(failure)

    @staticmethod
    def _on_reactor(fn: Callable, *args) -> None:
        from twisted.internet import reactor

        reactor.callFromThread(fn, *args)
