"""The monitors: Spidermon ``Monitor`` classes, one judgement each, thresholds from settings.

Each monitor says, when it fails, what it saw (``figures``, for the alert) and whether its failure
fails the run (``fails_run``: the data is wrong) or is only an alert (a trend worth a look). A monitor
that has nothing to judge (no store, no earlier runs, no item page) passes.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, ClassVar

from spidermon import monitors
from spidermon.contrib.scrapy.monitors.base import BaseScrapyMonitor

from mayadeen.extensions.coverage import FieldCoverage
from mayadeen.extensions.failing_items import FAILING_RESPONSES
from mayadeen.extensions.run_outcome import INTERRUPTED, OK_REASONS, Thresholds, invalid_drops
from mayadeen.monitors.history import EarlierRuns
from mayadeen.preflight import jobdir_owner
from mayadeen.store.freshness import comparable_items_seen

DEFAULT_HISTORY_MIN_RUNS = 3
DEFAULT_ITEM_COUNT_RATIO = 0.7
DEFAULT_UNWANTED_STATUSES = ("403", "429", "5xx")
DEFAULT_MAX_UNWANTED_SHARE = 0.1
DEFAULT_MIN_UNWANTED = 3
DEFAULT_MAX_ERRORS = 0
DEFAULT_TICKER_MAX_AGE = 1800.0

_STATUS_PREFIX = "downloader/response_status_count/"


class MayadeenMonitor(BaseScrapyMonitor):
    """A monitor whose failure carries its figures; ``fails_run``: its failure fails the run."""

    fails_run: ClassVar[bool] = False

    def judge(self, ok: bool, message: str, **figures: Any) -> None:
        self.message, self.figures = message, figures
        self.assertTrue(ok, msg=message)

    def setting(self, name: str, default: Any, kind=float) -> Any:
        value = self.crawler.settings.get(name)
        return default if value in (None, "") else kind(value)


@monitors.name("Field coverage")
class FieldCoverageMonitor(MayadeenMonitor):
    """Every field reaches its floor (MAYADEEN_COVERAGE_MIN, the schema's never-empty fields 100 %)."""

    fails_run = True

    @monitors.name("fields reach their coverage floors")
    def test_coverage_floors(self):
        coverage = self.crawler.get_extension(FieldCoverage)
        if coverage is None:
            self.skipTest("field coverage is off")
        below = coverage.shortfalls()
        report = coverage.final or coverage.report()
        self.judge(
            not below,
            f"field coverage below the floor: {', '.join(below)}",
            below=below,
            records=report["records"],
            item_pages=report["pages"],
        )


@monitors.name("Record validation")
class ValidationMonitor(MayadeenMonitor):
    """Records dropped as invalid stay within MAYADEEN_MAX_DROPPED_SHARE (duplicates are normal)."""

    fails_run = True

    @monitors.name("invalid records within the limit")
    def test_invalid_records(self):
        invalid = invalid_drops(self.stats)
        records = self.stats.get("item_scraped_count", 0) + invalid
        limit = Thresholds.from_settings(self.crawler.settings).max_dropped_share
        share = invalid / records if records else 0.0
        self.judge(
            not invalid or share <= limit,
            f"{invalid} of {records} records dropped as invalid ({share:.0%} > {limit:.0%})",
            invalid=invalid,
            records=records,
            share=round(share, 4),
            limit=limit,
        )


@monitors.name("Item count")
class ItemCountMonitor(MayadeenMonitor):
    """The items discovery showed (fetched or skipped as unchanged) against the median of the last
    MAYADEEN_MONITOR_HISTORY_RUNS finished runs of the spider with the same arguments. A run whose
    discovery left unchanged sitemaps unread is not compared (nor stored as history)."""

    @monitors.name("items seen near the usual count")
    def test_items_seen(self):
        if self.stats.get("finish_reason") != "finished":
            self.skipTest("only a run that ran out of work is comparable")
        history = self.crawler.get_extension(EarlierRuns)
        if history is None or history.items_seen is None:
            self.skipTest(history.problem if history is not None else "no store, no history")
        usual = history.items_seen
        if len(usual) < self.setting("MAYADEEN_MONITOR_HISTORY_MIN_RUNS", DEFAULT_HISTORY_MIN_RUNS, int):
            self.skipTest("too few earlier runs to compare with")
        seen = comparable_items_seen(self.stats)
        if seen is None:
            self.skipTest("discovery left unchanged sitemaps unread: the count does not compare")
        median = statistics.median(usual)
        ratio = self.setting("MAYADEEN_MONITOR_ITEM_COUNT_RATIO", DEFAULT_ITEM_COUNT_RATIO)
        self.judge(
            seen >= ratio * median,
            f"{seen} items seen, the last {len(usual)} runs saw {median:g} (median); below {ratio:.0%} of it",
            items_seen=seen,
            median=median,
            runs=len(usual),
            ratio=ratio,
        )


@monitors.name("Unwanted HTTP statuses")
class UnwantedStatusMonitor(MayadeenMonitor):
    """Responses with a status of MAYADEEN_MONITOR_UNWANTED_STATUSES (403, 429, 5xx: a block by the
    site) stay within MAYADEEN_MONITOR_MAX_UNWANTED_SHARE of all responses. The responses to items
    that were failing when the run began (``mayadeen.extensions.failing_items``) are known breakage
    of those pages, not a block: they do not count."""

    @monitors.name("unwanted statuses within the share")
    def test_unwanted_statuses(self):
        wanted = self.crawler.settings.getlist("MAYADEEN_MONITOR_UNWANTED_STATUSES", list(DEFAULT_UNWANTED_STATUSES))
        counts = {
            # At least 0: a response dropped nearer the downloader than DownloaderStats is counted only there.
            key[len(_STATUS_PREFIX) :]: max(0, n - self.stats.get(FAILING_RESPONSES + key[len(_STATUS_PREFIX) :], 0))
            for key, n in self.stats.items()
            if key.startswith(_STATUS_PREFIX)
        }
        unwanted = {code: n for code, n in counts.items() if any(matches(code, str(p)) for p in wanted)}
        total, bad = sum(counts.values()), sum(unwanted.values())
        limit = self.setting("MAYADEEN_MONITOR_MAX_UNWANTED_SHARE", DEFAULT_MAX_UNWANTED_SHARE)
        least = self.setting("MAYADEEN_MONITOR_MIN_UNWANTED", DEFAULT_MIN_UNWANTED, int)
        share = bad / total if total else 0.0
        self.judge(
            bad < least or share <= limit,
            f"{bad} of {total} responses had an unwanted status ({share:.0%} > {limit:.0%}):"
            f" {', '.join(f'{c}: {n}' for c, n in sorted(unwanted.items()))}",
            unwanted=unwanted,
            responses=total,
            share=round(share, 4),
            limit=limit,
        )


def matches(code: str, pattern: str) -> bool:
    """``"403"`` is 403; ``"5xx"`` any 5.. status."""
    pattern = pattern.strip().lower()
    return code == pattern or (pattern.endswith("xx") and len(pattern) == 3 and code[:1] == pattern[0])


@monitors.name("Errors")
class ErrorCountMonitor(MayadeenMonitor):
    """ERROR log lines stay within MAYADEEN_MONITOR_MAX_ERRORS."""

    @monitors.name("errors within the limit")
    def test_errors(self):
        errors = self.stats.get("log_count/ERROR", 0)
        limit = self.setting("MAYADEEN_MONITOR_MAX_ERRORS", DEFAULT_MAX_ERRORS, int)
        self.judge(errors <= limit, f"{errors} errors logged (more than {limit})", errors=errors, limit=limit)


@monitors.name("Finish reason")
class FinishReasonMonitor(MayadeenMonitor):
    """The run ended as a run that did its work ends (finished, or a CLOSESPIDER_* limit); a run
    paused by a signal with a JOBDIR is not judged (exit 3: a normal stop, resumed by the next run)."""

    @monitors.name("finished as expected")
    def test_finish_reason(self):
        reason = self.stats.get("finish_reason")
        if reason in INTERRUPTED and jobdir_owner(self.crawler.settings.get("JOBDIR")) is not None:
            # as the run's verdict says (run_outcome.outcome): a pause, which the same command resumes
            self.skipTest("paused: its JOBDIR keeps the job")
        self.judge(reason in OK_REASONS, f"the run ended with finish reason {reason}", finish_reason=reason)


@monitors.name("Ticker read")
class TickerMonitor(MayadeenMonitor):
    """A spider that reads the breaking ticker has read it in the last MAYADEEN_MONITOR_TICKER_MAX_AGE
    seconds (since it started, when it has not read it yet)."""

    @monitors.name("ticker read recently")
    def test_ticker_read(self):
        if not getattr(self.spider, "reads_ticker", False):
            self.skipTest("this spider does not read the ticker")
        last = self.stats.get("mayadeen/breaking/last_read") or self.stats["start_time"].timestamp()
        age, limit = time.time() - last, self.setting("MAYADEEN_MONITOR_TICKER_MAX_AGE", DEFAULT_TICKER_MAX_AGE)
        self.judge(
            age <= limit,
            f"no ticker read for {age:.0f} s (more than {limit:g} s)",
            seconds_since_read=round(age),
            limit=limit,
        )
