"""How a run went, decided in one place: the failure a crawl closes with, and the one-line summary.

``RunOutcome`` is the only component that closes an idle crawl as failed. Other components report
to it (``RunOutcome.add_check``: a function returning ``(problem, message)`` or None, e.g. the field
coverage); when the crawl runs out of work it asks its own checks first, then the reported ones, in
the fixed order of ``FAILURES``, and closes the crawl with the first problem as its finish reason.

A crawl failed when

``site_unreachable``
    requests were sent and not one response came back;
``lost_records``
    a record could not be written to the store or a feed (``mayadeen/lost/*``);
``errors_no_items``
    errors were logged and no item was scraped;
``too_many_dropped``
    more than ``MAYADEEN_MAX_DROPPED_SHARE`` of the records were dropped as invalid (duplicates are
    normal and do not count);
``too_many_given_up``
    more than ``MAYADEEN_MAX_GIVEN_UP_SHARE`` of the item pages tried, and more than
    ``GIVEN_UP_FLOOR`` (2), were given up after their retries (``mayadeen/given_up``; fewer is a
    warning, and they are retried by later runs, see ``mayadeen.extensions.failing_items``);
``coverage_below_minimum``
    reported by ``mayadeen.extensions.coverage``;
``browser_missing``
    client-side listings were skipped for want of a browser, and ``MAYADEEN_REQUIRE_BROWSER`` is on
    or no other listing was crawled (without a browser the run could do nothing it was asked).

The finish reason shows wherever Scrapy's does (the log, the stats, Scrapyd's job log,
``crawl_runs.finish_reason``). ``outcome()`` gives the verdict on a finished run (the ``crawl``
command turns it into the exit status) and ``summary_line()`` the run's last log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scrapy import signals
from scrapy.exceptions import CloseSpider

logger = logging.getLogger(__name__)

SITE_UNREACHABLE = "site_unreachable"
LOST_RECORDS = "lost_records"
ERRORS_NO_ITEMS = "errors_no_items"
TOO_MANY_DROPPED = "too_many_dropped"
TOO_MANY_GIVEN_UP = "too_many_given_up"
COVERAGE_BELOW_MINIMUM = "coverage_below_minimum"
BROWSER_MISSING = "browser_missing"
#: Every way a crawl that ran out of work can fail, in the order they are judged.
FAILURES = (SITE_UNREACHABLE, LOST_RECORDS, ERRORS_NO_ITEMS, TOO_MANY_DROPPED, TOO_MANY_GIVEN_UP,
            COVERAGE_BELOW_MINIMUM, BROWSER_MISSING)
#: Finish reasons of a crawl that ran out of work: the crawl is over, whether it worked or not.
ENDED_REASONS = frozenset({"finished", *FAILURES})
#: Finish reasons of a run that did what it was asked (CLOSESPIDER_* limits the user set included).
OK_REASONS = frozenset({"finished", "closespider_timeout", "closespider_itemcount", "closespider_pagecount"})
DEFAULT_MAX_DROPPED_SHARE = 0.2
DEFAULT_MAX_GIVEN_UP_SHARE = 0.2
#: A run never fails for this many given-up item pages or fewer (one page that keeps failing is a warning).
GIVEN_UP_FLOOR = 2

_DROPPED_PREFIX = "mayadeen/dropped/"
_LOST_PREFIX = "mayadeen/lost/"
_CAPPED_PREFIX = "mayadeen/capped/"


def invalid_drops(stats: Mapping[str, Any]) -> int:
    """Records dropped by validation (``mayadeen/dropped/<reason>``), duplicates left out."""
    return sum(v for k, v in stats.items()
               if k.startswith(_DROPPED_PREFIX) and not k[len(_DROPPED_PREFIX):].startswith("duplicate"))


def lost_records(stats: Mapping[str, Any]) -> int:
    """Records that could not be written (``mayadeen/lost/<output>``)."""
    return sum(v for k, v in stats.items() if k.startswith(_LOST_PREFIX))


def capped(stats: Mapping[str, Any]) -> list[str]:
    """The bounds the run hit (``mayadeen/capped/<bound>``: queue, sitemap, ticker, warc_record), sorted.

    A capped run is not a failed one: it stored what it fetched, and left the rest out on purpose.
    """
    return sorted(k[len(_CAPPED_PREFIX):] for k, v in stats.items() if k.startswith(_CAPPED_PREFIX) and v)


@dataclass(frozen=True)
class Thresholds:
    max_dropped_share: float = DEFAULT_MAX_DROPPED_SHARE
    max_given_up_share: float = DEFAULT_MAX_GIVEN_UP_SHARE
    require_browser: bool = False

    @classmethod
    def from_settings(cls, settings) -> Thresholds:
        return cls(settings.getfloat("MAYADEEN_MAX_DROPPED_SHARE", DEFAULT_MAX_DROPPED_SHARE),
                   settings.getfloat("MAYADEEN_MAX_GIVEN_UP_SHARE", DEFAULT_MAX_GIVEN_UP_SHARE),
                   settings.getbool("MAYADEEN_REQUIRE_BROWSER", False))


def failure(stats: Mapping[str, Any], limits: Thresholds = Thresholds()) -> str | None:
    """Why a crawl with these stats failed (one of the reasons above), or None when it worked."""
    if stats.get("downloader/request_count", 0) and not stats.get("downloader/response_count", 0):
        return SITE_UNREACHABLE
    if lost_records(stats):
        return LOST_RECORDS
    scraped = stats.get("item_scraped_count", 0)
    if stats.get("log_count/ERROR", 0) and not scraped:
        return ERRORS_NO_ITEMS
    dropped = invalid_drops(stats)
    if dropped and dropped > limits.max_dropped_share * (scraped + dropped):
        return TOO_MANY_DROPPED
    given_up = stats.get("mayadeen/given_up", 0)
    if given_up > GIVEN_UP_FLOOR and given_up > limits.max_given_up_share * (scraped + dropped + given_up):
        return TOO_MANY_GIVEN_UP
    if stats.get("mayadeen/js/no_browser") and (limits.require_browser or not stats.get("mayadeen/listing/pages")):
        return BROWSER_MISSING
    return None


@dataclass(frozen=True)
class Outcome:
    ok: bool
    finish_reason: str
    problem: str | None  # why the run counts as failed (None when ok)


def outcome(stats: Mapping[str, Any], limits: Thresholds = Thresholds()) -> Outcome:
    """The verdict on a finished run: ok only for an OK finish reason and no failure in the stats."""
    reason = stats.get("finish_reason") or "unknown"
    if reason not in OK_REASONS:  # judged at idle (FAILURES), or jobdir_busy, shutdown, cancelled…
        problem = reason
    else:
        problem = failure(stats, limits)
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
        f" given_up={stats.get('mayadeen/given_up', 0)} failing={stats.get('mayadeen/failing/items', 0)}"
        f" lost={lost_records(stats)} capped={','.join(capped(stats)) or 'no'}"
        f" requests={stats.get('downloader/request_count', 0)} errors={stats.get('log_count/ERROR', 0)}"
        f" warnings={stats.get('log_count/WARNING', 0)}"
        f" duration={'%.1fs' % duration if duration is not None else '?'}"
    )


#: What a component reporting to RunOutcome gives: ``(problem, message)`` when the run failed, else None.
Check = Callable[[], "tuple[str, str] | None"]


class RunOutcome:
    """Closes an idle crawl that failed with the failure as its finish reason.

    Settings: ``MAYADEEN_MAX_DROPPED_SHARE``, ``MAYADEEN_MAX_GIVEN_UP_SHARE`` (0–1, default 0.2),
    ``MAYADEEN_REQUIRE_BROWSER`` (default off). Stats: ``mayadeen/run/result`` (``ok`` or the
    problem), set when the spider closes.
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self.limits = Thresholds.from_settings(crawler.settings)
        self.checks: list[Check] = []

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def add_check(self, check: Check) -> None:
        """Registers a component's judgement of an idle crawl (asked after the stats-based ones)."""
        self.checks.append(check)

    def judge(self) -> tuple[str, str] | None:
        problem = failure(self.crawler.stats.get_stats(), self.limits)
        if problem:
            return problem, f"The crawl failed: {problem.replace('_', ' ')}"
        reported = [found for check in self.checks if (found := check())]
        reported.sort(key=lambda found: FAILURES.index(found[0]) if found[0] in FAILURES else len(FAILURES))
        return reported[0] if reported else None

    def spider_idle(self, spider) -> None:
        found = self.judge()
        if found:
            problem, message = found
            logger.error("%s", message)
            raise CloseSpider(problem)

    def spider_closed(self, spider, reason: str) -> None:
        stats = {**self.crawler.stats.get_stats(), "finish_reason": reason}
        result = outcome(stats, self.limits)
        self.crawler.stats.set_value("mayadeen/run/result", "ok" if result.ok else result.problem)
