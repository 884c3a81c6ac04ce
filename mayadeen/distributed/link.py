"""The worker's connection to Redis: while Redis is away it retries with backoff, then gives up once.

Every Redis call of the package goes through ``RedisLink.call``. A connection error, a timeout or a
Redis still loading its data after a restart is retried after 0.05 s, then twice as long each time (at
most 2 s between tries), for ``MAYADEEN_REDIS_RETRY_TIMEOUT`` seconds in all (default 60). The calls
are synchronous, like Scrapy's scheduler interface and scrapy-redis: while Redis is away the worker
waits, downloads included. Then the link gives up for good: one ERROR line names Redis, its address
(without password) and the last error, the ``on_give_up`` callback closes the crawl
(``redis_unavailable``, exit status 1), and every later call fails at once. The crawl's state stays in
Redis: starting the workers again continues it.

A script call that Redis ran but whose answer was lost is tried again; every script of the package
is written so that doing so loses nothing (at worst a request is fetched twice).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import redis

logger = logging.getLogger(__name__)

#: Errors after which a call is tried again (BusyLoadingError, "Redis is loading", is a ConnectionError).
RETRYABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
DEFAULT_RETRY_TIMEOUT = 60.0
FIRST_PAUSE, LONGEST_PAUSE = 0.05, 2.0


class RedisUnavailable(RuntimeError):
    """Redis stayed unreachable for longer than the retry timeout."""


def redacted(url: str) -> str:
    """``url`` without its password (for log lines)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


class RedisLink:
    def __init__(self, url: str, *, retry_timeout: float = DEFAULT_RETRY_TIMEOUT):
        self.url = url
        self.retry_timeout = retry_timeout
        self.client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.failure: str | None = None
        self.on_give_up: Callable[[str], None] | None = None

    def script(self, source: str):
        """A Lua script (redis-py loads it again by itself after a Redis restart)."""
        return self.client.register_script(source)

    def call(self, what: str, fn: Callable, *args, **kwargs):
        """``fn(*args, **kwargs)``, retried while Redis is away; ``RedisUnavailable`` once given up."""
        if self.failure:
            raise RedisUnavailable(self.failure)
        deadline = None
        pause = FIRST_PAUSE
        while True:
            try:
                return fn(*args, **kwargs)
            except RETRYABLE as exc:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.retry_timeout
                    logger.warning(
                        "Redis at %s: %s (%s); retrying for up to %gs",
                        redacted(self.url),
                        type(exc).__name__,
                        exc,
                        self.retry_timeout,
                    )
                if now >= deadline:
                    self._give_up(what, exc)
                time.sleep(min(pause, max(deadline - now, 0.0)))
                pause = min(pause * 2, LONGEST_PAUSE)

    def call_quietly(self, what: str, fn: Callable, *args, **kwargs):
        """``call``, but None instead of ``RedisUnavailable`` (for signal handlers: the give-up is
        already reported and the crawl closing)."""
        try:
            return self.call(what, fn, *args, **kwargs)
        except RedisUnavailable:
            return None

    def _give_up(self, what: str, exc: Exception):
        self.failure = (
            f"Redis at {redacted(self.url)} unreachable for {self.retry_timeout:g}s"
            f" ({what}: {type(exc).__name__}: {exc})"
        )
        logger.error("%s; the crawl stays in Redis: start the workers again to continue it", self.failure)
        if self.on_give_up is not None:
            self.on_give_up(self.failure)
        raise RedisUnavailable(self.failure) from exc
