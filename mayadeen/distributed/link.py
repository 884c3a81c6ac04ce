"""The worker's connection to Redis: short, bounded calls; an outage is waited out without blocking.

Every Redis call of the package goes through ``RedisLink.call``. A call blocks the reactor for a
bounded time only: socket timeouts of ``MAYADEEN_REDIS_LEASE_TTL`` / 10 (0.25 s to 3 s) and one retry
after 0.05 s, by redis-py's own ``Retry`` — at most about 0.4 of the lease TTL, so the heartbeat that
renews this worker's leases and budget slots (a ``LoopingCall`` on the same reactor) keeps beating.
A call that still fails raises ``RedisAway`` at once, and the caller waits without blocking: the
scheduler takes nothing and asks again later, writes that must reach Redis (a request to queue, a
lease to acknowledge, the end of seeding) wait in order in the scheduler's outbox, a heartbeat is
skipped. The first failure logs one WARNING (``Redis at redis://…: …; retrying for up to Ns``), the
first answer after it one INFO line.

Once Redis has been away for ``MAYADEEN_REDIS_RETRY_TIMEOUT`` seconds (default 60) the link gives up
for good: one ERROR line names Redis, its address (without password) and the last error, the
``on_give_up`` callback closes the crawl (``redis_unavailable``, exit status 1), and every later call
raises ``RedisUnavailable`` at once. The crawl's state stays in Redis: starting the workers again
continues it.

A script call that Redis ran but whose answer was lost is tried again; every script of the package
is written so that doing so loses nothing (at worst a request is fetched twice).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

#: Errors after which a call is tried again (BusyLoadingError, "Redis is loading", is a ConnectionError).
RETRYABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
DEFAULT_RETRY_TIMEOUT = 60.0
#: Pauses between two tries of joining a crawl while Redis is away (the scheduler's ``open``).
FIRST_PAUSE, LONGEST_PAUSE = 0.05, 2.0
#: redis-py's own retries of one call, and the pause before them (the outage is waited out above it).
CALL_RETRIES, CALL_BACKOFF = 1, 0.05


def socket_timeout(lease_ttl: float) -> float:
    """The longest one socket operation may block: a tenth of the lease TTL, within 0.25 s and 3 s."""
    return max(0.25, min(3.0, lease_ttl / 10))


class RedisAway(RuntimeError):
    """Redis did not answer this call; the link keeps trying until the retry timeout."""


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
    def __init__(self, url: str, *, retry_timeout: float = DEFAULT_RETRY_TIMEOUT, lease_ttl: float = 30.0):
        self.url = url
        self.retry_timeout = retry_timeout
        timeout = socket_timeout(lease_ttl)
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(ExponentialBackoff(cap=CALL_BACKOFF, base=CALL_BACKOFF), CALL_RETRIES),
        )
        self.failure: str | None = None
        self.away_since: float | None = None  # monotonic time of the first failure of this outage
        self.on_give_up: Callable[[str], None] | None = None

    def script(self, source: str):
        """A Lua script (redis-py loads it again by itself after a Redis restart)."""
        return self.client.register_script(source)

    def call(self, what: str, fn: Callable, *args, **kwargs):
        """``fn(*args, **kwargs)``; ``RedisAway`` while Redis does not answer, ``RedisUnavailable``
        once the link has given up."""
        if self.failure:
            raise RedisUnavailable(self.failure)
        try:
            result = fn(*args, **kwargs)
        except RETRYABLE as exc:
            self._away(what, exc)
        if self.away_since is not None:
            logger.info(
                "Redis at %s answers again, after %.1fs", redacted(self.url), time.monotonic() - self.away_since
            )
            self.away_since = None
        return result

    def call_quietly(self, what: str, fn: Callable, *args, **kwargs):
        """``call``, but None instead of raising (for what may be lost: an expired budget slot or lease
        frees itself; the outage is already reported)."""
        try:
            return self.call(what, fn, *args, **kwargs)
        except RedisAway:
            return None

    def _away(self, what: str, exc: Exception):
        now = time.monotonic()
        if self.away_since is None:
            self.away_since = now
            logger.warning(
                "Redis at %s: %s (%s); retrying for up to %gs",
                redacted(self.url),
                type(exc).__name__,
                exc,
                self.retry_timeout,
            )
        if now - self.away_since < self.retry_timeout:
            raise RedisAway(f"{what}: {type(exc).__name__}: {exc}") from exc
        self.failure = (
            f"Redis at {redacted(self.url)} unreachable for {self.retry_timeout:g}s"
            f" ({what}: {type(exc).__name__}: {exc})"
        )
        logger.error("%s; the crawl stays in Redis: start the workers again to continue it", self.failure)
        if self.on_give_up is not None:
            self.on_give_up(self.failure)
        raise RedisUnavailable(self.failure) from exc
