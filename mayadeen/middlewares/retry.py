"""Retries with exponential backoff: Scrapy's RetryMiddleware, but a retry waits before it goes out.

Scrapy retries a 5xx answer or a timeout at once, which hammers a server that is already struggling.
Here the n-th retry of a request waits ``MAYADEEN_RETRY_BACKOFF_BASE * 2**(n-1)`` seconds (capped by
``MAYADEEN_RETRY_BACKOFF_MAX``, spread by ±``MAYADEEN_RETRY_BACKOFF_JITTER``) before it is sent.
Everything else is Scrapy's: ``RETRY_TIMES``, ``RETRY_HTTP_CODES``, ``RETRY_EXCEPTIONS``, the
``dont_retry`` / ``max_retry_times`` meta keys, the ``retry/*`` stats, and the "Gave up retrying"
line (at ``RETRY_GIVE_UP_LOG_LEVEL``) when a page keeps failing — the crawl goes on without it.

The retried request carries its wall-clock deadline (meta ``mayadeen_not_before``, ``time.time()``)
and waits for it in the scheduler (``mayadeen.scheduler.DueScheduler``; on disk with a JOBDIR), not in
the downloader: it holds no download slot meanwhile, other requests keep flowing, and a paused crawl
saves it in JOBDIR with its deadline. Other components that retry (the integrity and redirect-loop middlewares, the
rendered listings) go through ``Backoff.retry`` to get the same waits.

A page that keeps failing is given up: an item page with a WARNING (the run goes on, the item is
remembered and retried by later runs, see ``mayadeen.extensions.failing_items``), any other page
(a feed, a sitemap, a listing) at ``RETRY_GIVE_UP_LOG_LEVEL`` (ERROR).

Stats: ``mayadeen/retry/backoff_seconds`` (total time retries were held back).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.response import response_status_message

from mayadeen.identity import first_url
from mayadeen.scheduler import NOT_BEFORE
from mayadeen.urls import item_kind


class GaveUp(IgnoreRequest):
    """A page dropped after its retries (incomplete answers, redirect loops): the spider's errback
    tells it from a request that was only filtered."""


class Withheld(IgnoreRequest):
    """A page the site kept from us without saying it is gone (a challenge page no browser got past):
    not a give-up, and not a filter either; an item page is asked for again later
    (``mayadeen.extensions.failing_items``)."""


@dataclass(frozen=True)
class Backoff:
    base: float
    cap: float
    jitter: float

    @classmethod
    def from_settings(cls, settings) -> Backoff:
        return cls(
            settings.getfloat("MAYADEEN_RETRY_BACKOFF_BASE", 2.0),
            settings.getfloat("MAYADEEN_RETRY_BACKOFF_MAX", 60.0),
            min(max(settings.getfloat("MAYADEEN_RETRY_BACKOFF_JITTER", 0.25), 0.0), 1.0),
        )

    def delay(self, retry_times: int) -> float:
        """Seconds before the ``retry_times``-th retry (1 for the first)."""
        nominal = min(self.cap, self.base * 2 ** max(retry_times - 1, 0))
        return nominal * random.uniform(1 - self.jitter, 1 + self.jitter)  # noqa: S311

    def retry(self, request, reason, crawler, **kwargs):
        """``get_retry_request`` plus the backoff wait; None when the request's retries are used up."""
        new = get_retry_request(request, spider=crawler.spider, reason=reason, **kwargs)
        if new is not None:
            wait = self.delay(new.meta["retry_times"])
            new.meta[NOT_BEFORE] = time.time() + wait
            crawler.stats.inc_value("mayadeen/retry/backoff_seconds", round(wait, 3))
        return new


class BackoffRetryMiddleware(RetryMiddleware):
    """Drop-in for ``scrapy.downloadermiddlewares.retry.RetryMiddleware`` (disable that one): its
    settings, its answers to retry, and ``get_retry_request`` through ``Backoff.retry``."""

    def __init__(self, settings):
        super().__init__(settings)
        self.backoff = Backoff.from_settings(settings)

    def process_response(self, request, response):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        return self.backoff_retry(request, response_status_message(response.status)) or response

    def process_exception(self, request, exception):
        if isinstance(exception, self.exceptions_to_retry) and not request.meta.get("dont_retry", False):
            return self.backoff_retry(request, exception)
        return None

    def backoff_retry(self, request, reason):
        # An item redirected elsewhere is still one.
        give_up_level = logging.WARNING if item_kind(first_url(request)) else self.give_up_log_level
        return self.backoff.retry(
            request,
            reason,
            self.crawler,
            max_retry_times=request.meta.get("max_retry_times", self.max_retry_times),
            priority_adjust=request.meta.get("priority_adjust", self.priority_adjust),
            give_up_log_level=request.meta.get("give_up_log_level", give_up_level),
        )
