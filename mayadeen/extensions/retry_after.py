"""Honour ``Retry-After``: when the site says "come back later", nothing is sent to it before then.

A ``429`` or ``503`` with ``Retry-After`` (delta-seconds or an HTTP-date) pauses the whole download
slot of the site — every request to it, queued or yet to come, not just the one that was refused —
until that moment, but never longer than ``MAYADEEN_RETRY_AFTER_MAX`` seconds (a header asking for
more is logged and capped; the request that got it is then retried at most ``RETRY_TIMES`` times
like any 429). Retrying the refused request itself is the retry middleware's job (429 and 503 are
in ``RETRY_HTTP_CODES``).

The pause is set from the ``response_downloaded`` signal, before the response goes anywhere else,
as a wall-clock hold on the slot in the scheduler (``mayadeen.scheduler.DueScheduler.hold_slot``):
requests wait there, not in the downloader, so the pause holds no download slot, a shutdown does
not wait for it, and a paused crawl keeps the waiting requests (with their deadlines) in JOBDIR.
The scheduler lets no more of a slot's requests into the downloader than its concurrency, so none
is already queued there when the refusal arrives.

Stats: ``mayadeen/retry_after/pauses``, ``mayadeen/retry_after/capped``,
``mayadeen/retry_after/longest_seconds``.
"""

from __future__ import annotations

import logging
import time
from email.utils import parsedate_to_datetime

from scrapy import signals
from scrapy.exceptions import NotConfigured

logger = logging.getLogger(__name__)

STATUSES = (429, 503)


def retry_after_seconds(value: bytes | str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait (never negative), or None if it is not valid."""
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if text.isdigit():
        return float(int(text))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:  # HTTP-dates are GMT; a zone-less one is not one
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class RetryAfter:
    """Extension: a ``Retry-After`` holds the site's download slot in the scheduler."""

    def __init__(self, crawler):
        settings = crawler.settings
        if not settings.getbool("MAYADEEN_RETRY_AFTER_ENABLED", True):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.max_wait = settings.getfloat("MAYADEEN_RETRY_AFTER_MAX", 300.0)
        #: slot key -> time.time() until which the slot is paused
        self.paused_until: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.response_downloaded, signal=signals.response_downloaded)
        return ext

    def response_downloaded(self, response, request, spider):
        if response.status not in STATUSES:
            return
        wait = retry_after_seconds(response.headers.get(b"Retry-After"))
        if wait is None:
            return
        if wait > self.max_wait:
            self.stats.inc_value("mayadeen/retry_after/capped")
            logger.warning(
                "%s asks to wait %.0fs (Retry-After); waiting MAYADEEN_RETRY_AFTER_MAX=%.0fs",
                response.url,
                wait,
                self.max_wait,
            )
            wait = self.max_wait
        engine = self.crawler.engine
        key = engine.downloader.get_slot_key(request)
        until = time.time() + wait
        if until <= self.paused_until.get(key, 0.0):
            return
        self.paused_until[key] = until
        self.stats.inc_value("mayadeen/retry_after/pauses")
        self.stats.max_value("mayadeen/retry_after/longest_seconds", round(wait, 3))
        logger.info(
            "%s answered %d: pausing every request to %s for %.1fs (Retry-After)",
            response.url,
            response.status,
            key,
            wait,
        )
        hold = getattr(engine.scheduler, "hold_slot", None)
        if hold is None:
            logger.warning(
                "SCHEDULER %s cannot hold requests: only the refused request waits", type(engine.scheduler).__name__
            )
            return
        hold(key, until)
