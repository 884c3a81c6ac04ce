"""Honour ``Retry-After``: when the site says "come back later", nothing is sent to it before then.

A ``429`` or ``503`` with ``Retry-After`` (delta-seconds or an HTTP-date) pauses the whole download
slot of the site — every request to it, queued or yet to come, not just the one that was refused —
until that moment, but never longer than ``MAYADEEN_RETRY_AFTER_MAX`` seconds (a header asking for
more is logged and capped; the request that got it is then retried at most ``RETRY_TIMES`` times
like any 429). Retrying the refused request itself is the retry middleware's job (429 and 503 are
in ``RETRY_HTTP_CODES``).

The pause is set from the ``response_downloaded`` signal, which Scrapy sends before it frees the
slot for the next queued request, so even at one request at a time no request slips out between the
refusal and the pause. The slot is held the way Scrapy holds it for ``DOWNLOAD_DELAY`` (its
``latercall``); ``process_request`` (at 960, after the mirror middleware, so it sees the slot a
request will really use) also waits out a pause, for requests whose slot Scrapy has recycled.

Stats: ``mayadeen/retry_after/pauses``, ``mayadeen/retry_after/capped``,
``mayadeen/retry_after/longest_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import parsedate_to_datetime

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import call_later

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


class RetryAfterMiddleware:
    def __init__(self, crawler):
        settings = crawler.settings
        if not settings.getbool("MAYADEEN_RETRY_AFTER_ENABLED", True):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.max_wait = settings.getfloat("MAYADEEN_RETRY_AFTER_MAX", 300.0)
        #: slot key -> time.monotonic() until which the slot is paused
        self.paused_until: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        crawler.signals.connect(mw.response_downloaded, signal=signals.response_downloaded)
        return mw

    @property
    def downloader(self):
        return self.crawler.engine.downloader

    def response_downloaded(self, response, request, spider):
        if response.status not in STATUSES:
            return
        wait = retry_after_seconds(response.headers.get(b"Retry-After"))
        if wait is None:
            return
        if wait > self.max_wait:
            self.stats.inc_value("mayadeen/retry_after/capped")
            logger.warning("%s asks to wait %.0fs (Retry-After); waiting MAYADEEN_RETRY_AFTER_MAX=%.0fs",
                           response.url, wait, self.max_wait)
            wait = self.max_wait
        key = request.meta.get(self.downloader.DOWNLOAD_SLOT) or self.downloader.get_slot_key(request)
        until = time.monotonic() + wait
        if until <= self.paused_until.get(key, 0.0):
            return
        self.paused_until[key] = until
        self.stats.inc_value("mayadeen/retry_after/pauses")
        self.stats.max_value("mayadeen/retry_after/longest_seconds", round(wait, 3))
        logger.info("%s answered %d: pausing every request to %s for %.1fs (Retry-After)",
                    response.url, response.status, key, wait)
        self._hold_slot(key, wait)

    def _hold_slot(self, key: str, wait: float) -> None:
        slot = self.downloader.slots.get(key)
        if slot is None:
            return
        if slot.latercall is not None:
            slot.latercall.cancel()
        # What the downloader does for DOWNLOAD_DELAY: a slot with a latercall sends nothing until
        # it fires, then processes its queue.
        slot.latercall = call_later(wait, self.downloader._latercall, slot)

    async def process_request(self, request):
        if not self.paused_until:
            return None
        key = self.downloader.get_slot_key(request)
        while (wait := self.paused_until.get(key, 0.0) - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        return None
