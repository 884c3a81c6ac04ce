"""How a run went: a crawl that did not work closes as failed, and every run ends with a one-line summary.

When a crawl runs out of work (the spider is idle), its stats are judged. It failed when

``site_unreachable``
    requests were sent and not one response came back;
``errors_no_items``
    errors were logged and no item was scraped;
``too_many_dropped``
    more than ``MAYADEEN_MAX_DROPPED_SHARE`` of the records were dropped as invalid (duplicates are
    normal and do not count).

A failed crawl closes with that finish reason instead of ``finished``, so the failure shows wherever
Scrapy's finish reason does: the log ("Spider closed (site_unreachable)"), the stats, a Scrapyd job's
log and ``crawl_runs.finish_reason``. The ``crawl`` command (``mayadeen.commands.crawl``) turns the
outcome into the exit status and logs ``summary_line()`` as the run's last line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scrapy import signals
from scrapy.exceptions import CloseSpider

from mayadeen.extensions.coverage import COVERAGE_BELOW_MINIMUM

logger = logging.getLogger(__name__)

SITE_UNREACHABLE = "site_unreachable"
ERRORS_NO_ITEMS = "errors_no_items"
TOO_MANY_DROPPED = "too_many_dropped"
FAILURES = frozenset({SITE_UNREACHABLE, ERRORS_NO_ITEMS, TOO_MANY_DROPPED})
#: Finish reasons of a crawl that ran out of work: the crawl is over, whether it worked or not.
ENDED_REASONS = frozenset({"finished", COVERAGE_BELOW_MINIMUM, *FAILURES})
#: Finish reasons of a run that did what it was asked (CLOSESPIDER_* limits the user set included).
OK_REASONS = frozenset({"finished", "closespider_timeout", "closespider_itemcount", "closespider_pagecount"})
DEFAULT_MAX_DROPPED_SHARE = 0.2

_DROPPED_PREFIX = "mayadeen/dropped/"


def invalid_drops(stats: Mapping[str, Any]) -> int:
    """Records dropped by validation (``mayadeen/dropped/<reason>``), duplicates left out."""
    return sum(v for k, v in stats.items()
               if k.startswith(_DROPPED_PREFIX) and not k[len(_DROPPED_PREFIX):].startswith("duplicate"))


def failure(stats: Mapping[str, Any], max_dropped_share: float = DEFAULT_MAX_DROPPED_SHARE) -> str | None:
    """Why a crawl with these stats failed (one of the reasons above), or None when it worked."""
    if stats.get("downloader/request_count", 0) and not stats.get("downloader/response_count", 0):
        return SITE_UNREACHABLE
    scraped = stats.get("item_scraped_count", 0)
    if stats.get("log_count/ERROR", 0) and not scraped:
        return ERRORS_NO_ITEMS
    dropped = invalid_drops(stats)
    if dropped and dropped > max_dropped_share * (scraped + dropped):
        return TOO_MANY_DROPPED
    return None


@dataclass(frozen=True)
class Outcome:
    ok: bool
    finish_reason: str
    problem: str | None  # why the run counts as failed (None when ok)


def outcome(stats: Mapping[str, Any], max_dropped_share: float = DEFAULT_MAX_DROPPED_SHARE) -> Outcome:
    """The verdict on a finished run: ok only for an OK finish reason and no failure in the stats."""
    reason = stats.get("finish_reason") or "unknown"
    if reason not in OK_REASONS:  # judged at idle (FAILURES), or jobdir_busy, shutdown, cancelled…
        problem = reason
    else:
        problem = failure(stats, max_dropped_share)
    return Outcome(problem is None, reason, problem)


def summary_line(spider: str, stats: Mapping[str, Any], result: Outcome) -> str:
    """``Run summary: spider=feed result=ok finish_reason=finished items new=1 updated=1 …``."""
    duration = stats.get("elapsed_time_seconds")
    return (
        f"Run summary: spider={spider} result={'ok' if result.ok else 'FAILED (' + str(result.problem) + ')'}"
        f" finish_reason={result.finish_reason}"
        f" items new={stats.get('mayadeen/items/new', 0)} updated={stats.get('mayadeen/items/updated', 0)}"
        f" unchanged={stats.get('mayadeen/items/unchanged', 0)} dropped={stats.get('item_dropped_count', 0)}"
        f" scraped={stats.get('item_scraped_count', 0)}"
        f" skipped={stats.get('mayadeen/fresh/unchanged', 0) + stats.get('mayadeen/fresh/done', 0)}"
        f" requests={stats.get('downloader/request_count', 0)} errors={stats.get('log_count/ERROR', 0)}"
        f" duration={'%.1fs' % duration if duration is not None else '?'}"
    )


class RunOutcome:
    """Closes an idle crawl that failed with the failure as its finish reason.

    Setting: ``MAYADEEN_MAX_DROPPED_SHARE`` (0–1, default 0.2). Stats: ``mayadeen/run/result``
    (``ok`` or the problem), set when the spider closes.
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self.max_dropped_share = crawler.settings.getfloat("MAYADEEN_MAX_DROPPED_SHARE", DEFAULT_MAX_DROPPED_SHARE)

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_idle(self, spider) -> None:
        problem = failure(self.crawler.stats.get_stats(), self.max_dropped_share)
        if problem:
            logger.error("The crawl failed: %s", problem.replace("_", " "))
            raise CloseSpider(problem)

    def spider_closed(self, spider, reason: str) -> None:
        stats = {**self.crawler.stats.get_stats(), "finish_reason": reason}
        result = outcome(stats, self.max_dropped_share)
        self.crawler.stats.set_value("mayadeen/run/result", "ok" if result.ok else result.problem)
