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
``lost_archive``
    a response could not be written to the WARC archive (``mayadeen/warc/errors``: the archive is an
    output like the store, and ``reextract`` could not rebuild those items);
``source_unreadable``
    a discovery source (sitemap, RSS) could not be read (``mayadeen/sources/unreadable``, see
    ``mayadeen.middlewares.sources``) and no other source listed any item;
``errors_no_items``
    errors were logged and no item was scraped;
``too_many_dropped``
    more than ``MAYADEEN_MAX_DROPPED_SHARE`` of the records were dropped as invalid (duplicates are
    normal and do not count);
``too_many_given_up``
    more than ``MAYADEEN_MAX_GIVEN_UP_SHARE`` of the item pages tried, and more than
    ``GIVEN_UP_FLOOR`` (2), were given up after their retries (``mayadeen/given_up``; fewer is a
    warning, and they are retried by later runs, see ``mayadeen.extensions.failing_items``); items
    that were failing already when the run began and fail again (``mayadeen/failing/again``) are
    known breakage and do not count;
``coverage_below_minimum``
    reported by ``mayadeen.extensions.coverage``;
``browser_missing``
    client-side listings were skipped for want of a browser, and ``MAYADEEN_REQUIRE_BROWSER`` is on
    or no other listing was crawled (without a browser the run could do nothing it was asked);
``monitors_failed``
    a monitor that judges the data (field coverage, records dropped as invalid) failed at spider
    close (``mayadeen.monitors``, through ``RunOutcome.monitors_failed``), in a run not failed already.

Two ends of a run are neither success nor failure: a run stopped by a signal with a JOBDIR is
``paused`` (the same command resumes it), and a run that found its JOBDIR held by another run is
``skipped``; ``outcome(stats, paused=…)`` says so in ``Outcome.halt``.

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

from mayadeen.store.freshness import items_seen

logger = logging.getLogger(__name__)

SITE_UNREACHABLE = "site_unreachable"
LOST_RECORDS = "lost_records"
LOST_ARCHIVE = "lost_archive"
SOURCE_UNREADABLE = "source_unreadable"
ERRORS_NO_ITEMS = "errors_no_items"
TOO_MANY_DROPPED = "too_many_dropped"
TOO_MANY_GIVEN_UP = "too_many_given_up"
COVERAGE_BELOW_MINIMUM = "coverage_below_minimum"
BROWSER_MISSING = "browser_missing"
MONITORS_FAILED = "monitors_failed"
#: Every way a crawl that ran out of work can fail, in the order they are judged.
FAILURES = (
    SITE_UNREACHABLE,
    LOST_RECORDS,
    LOST_ARCHIVE,
    SOURCE_UNREADABLE,
    ERRORS_NO_ITEMS,
    TOO_MANY_DROPPED,
    TOO_MANY_GIVEN_UP,
    COVERAGE_BELOW_MINIMUM,
    BROWSER_MISSING,
    MONITORS_FAILED,
)
#: Finish reasons of a crawl that ran out of work: the crawl is over, whether it worked or not.
ENDED_REASONS = frozenset({"finished", *FAILURES})
#: The finish reason of a run refused because another run holds its JOBDIR.
JOBDIR_BUSY = "jobdir_busy"
#: The same, when that run has held it longer than ``MAYADEEN_JOBDIR_STUCK_AFTER``: a failure.
JOBDIR_STUCK = "jobdir_stuck"
#: Finish reasons of a run stopped by a signal (the second one: Scrapy stops at once).
INTERRUPTED = frozenset({"shutdown", "forced_shutdown"})
#: ``Outcome.halt`` of a run stopped by a signal with a JOBDIR, and of a run whose JOBDIR was busy.
PAUSED = "paused"
SKIPPED = "skipped"
#: Finish reasons of a run that did what it was asked (CLOSESPIDER_* limits the user set included).
OK_REASONS = frozenset({"finished", "closespider_timeout", "closespider_itemcount", "closespider_pagecount"})
DEFAULT_MAX_DROPPED_SHARE = 0.2
DEFAULT_MAX_GIVEN_UP_SHARE = 0.2
#: A run never fails for this many given-up item pages or fewer (one page that keeps failing is a warning).
GIVEN_UP_FLOOR = 2

#: The monitors that failed the run (names, comma-separated), set at spider close.
MONITORS_FAILED_STAT = "mayadeen/monitors/failed_run"
#: Seconds the run spent opening before Scrapy's clock (``elapsed_time_seconds``) started: a distributed
#: worker's join of its crawl, Redis retries included; the summary's duration counts them.
OPENING_SECONDS = "mayadeen/run/opening_seconds"
_DROPPED_PREFIX = "mayadeen/dropped/"
_LOST_PREFIX = "mayadeen/lost/"
_CAPPED_PREFIX = "mayadeen/capped/"


def invalid_drops(stats: Mapping[str, Any]) -> int:
    """Records dropped by validation (``mayadeen/dropped/<reason>``), duplicates left out."""
    return sum(
        v
        for k, v in stats.items()
        if k.startswith(_DROPPED_PREFIX) and not k[len(_DROPPED_PREFIX) :].startswith("duplicate")
    )


#: Items the store refused whose page is fetched again (a distributed crawl): dropped by Scrapy's count,
#: not by the run's (``items_dropped``).
REFUSED_STAT = "mayadeen/store/refused"


def items_dropped(stats: Mapping[str, Any]) -> int:
    """Items dropped (invalid, duplicate, or a version the store kept out: ``mayadeen/items/stale`` and
    ``mayadeen/items/degraded``): Scrapy's ``item_dropped_count`` without the refused copies
    whose page is fetched again, which are neither."""
    return stats.get("item_dropped_count", 0) - stats.get(REFUSED_STAT, 0)


def lost_records(stats: Mapping[str, Any]) -> int:
    """Records that could not be written (``mayadeen/lost/<output>``)."""
    return sum(v for k, v in stats.items() if k.startswith(_LOST_PREFIX))


def _lost_in(stats: Mapping[str, Any]) -> str:
    """`` lost_in=store,feed`` naming what could not be written (a ``coverage`` row or the run's own
    ``run_figures`` are no article), or nothing when all was."""
    where = sorted(k[len(_LOST_PREFIX) :] for k, v in stats.items() if k.startswith(_LOST_PREFIX) and v)
    return f" lost_in={','.join(where)}" if where else ""


def capped(stats: Mapping[str, Any]) -> list[str]:
    """The bounds the run hit (``mayadeen/capped/<bound>``: queue, sitemap, ticker, warc_record), sorted.

    A capped run is not a failed one: it stored what it fetched, and left the rest out on purpose.
    """
    return sorted(k[len(_CAPPED_PREFIX) :] for k, v in stats.items() if k.startswith(_CAPPED_PREFIX) and v)


@dataclass(frozen=True)
class Thresholds:
    max_dropped_share: float = DEFAULT_MAX_DROPPED_SHARE
    max_given_up_share: float = DEFAULT_MAX_GIVEN_UP_SHARE
    require_browser: bool = False

    @classmethod
    def from_settings(cls, settings) -> Thresholds:
        return cls(
            settings.getfloat("MAYADEEN_MAX_DROPPED_SHARE", DEFAULT_MAX_DROPPED_SHARE),
            settings.getfloat("MAYADEEN_MAX_GIVEN_UP_SHARE", DEFAULT_MAX_GIVEN_UP_SHARE),
            settings.getbool("MAYADEEN_REQUIRE_BROWSER", False),
        )


def failure(stats: Mapping[str, Any], limits: Thresholds = Thresholds()) -> str | None:
    """Why a crawl with these stats failed (one of the reasons above), or None when it worked."""
    if stats.get("downloader/request_count", 0) and not stats.get("downloader/response_count", 0):
        return SITE_UNREACHABLE
    if lost_records(stats):
        return LOST_RECORDS
    if stats.get("mayadeen/warc/errors"):
        return LOST_ARCHIVE
    if stats.get("mayadeen/sources/unreadable") and not items_seen(stats):
        return SOURCE_UNREADABLE
    scraped = stats.get("item_scraped_count", 0)
    if stats.get("log_count/ERROR", 0) and not scraped:
        return ERRORS_NO_ITEMS
    dropped = invalid_drops(stats)
    if dropped and dropped > limits.max_dropped_share * (scraped + dropped):
        return TOO_MANY_DROPPED
    given_up = stats.get("mayadeen/given_up", 0) - stats.get("mayadeen/failing/again", 0)
    if given_up > GIVEN_UP_FLOOR and given_up > limits.max_given_up_share * (scraped + dropped + given_up):
        return TOO_MANY_GIVEN_UP
    if stats.get("mayadeen/js/no_browser") and (limits.require_browser or not stats.get("mayadeen/listing/pages")):
        return BROWSER_MISSING
    if stats.get(MONITORS_FAILED_STAT):
        return MONITORS_FAILED
    return None


@dataclass(frozen=True)
class Outcome:
    ok: bool
    finish_reason: str
    problem: str | None  # why the run counts as failed (None when ok, paused or skipped)
    halt: str | None = None  # PAUSED or SKIPPED: the run stopped without failing

    @property
    def result(self) -> str:
        """``crawl_runs.result``: ``ok``, ``paused``, ``skipped`` or the problem."""
        return "ok" if self.ok else self.halt or str(self.problem)

    @property
    def words(self) -> str:
        """The summary's ``result=``: ``ok``, ``paused``, ``skipped (jobdir busy)``, ``FAILED (problem)``."""
        if self.ok or self.halt == PAUSED:
            return self.result
        if self.halt == SKIPPED:
            return f"{SKIPPED} ({self.finish_reason.replace('_', ' ')})"
        return f"FAILED ({self.problem})"


def outcome(stats: Mapping[str, Any], limits: Thresholds = Thresholds(), *, paused: bool = False) -> Outcome:
    """The verdict on a finished run: ok only for an OK finish reason and no failure in the stats.

    ``paused``: the run's JOBDIR keeps its job, so a run stopped by a signal can be resumed.
    """
    reason = stats.get("finish_reason") or "unknown"
    if reason == JOBDIR_BUSY:
        return Outcome(False, reason, None, SKIPPED)
    if reason in INTERRUPTED and paused:
        return Outcome(False, reason, None, PAUSED)
    if reason not in OK_REASONS:  # judged at idle (FAILURES), or shutdown, cancelled…
        problem = reason
    else:
        problem = failure(stats, limits)
    return Outcome(problem is None, reason, problem)


#: What a spider collects, in its words: ``(label, {name: (stat, …)})``, shown as ``label name=sum …``.
Counts = tuple[str, Mapping[str, tuple[str, ...]]]


def _collected(stats: Mapping[str, Any], counted: Counts | None) -> str:
    if counted is not None:
        label, names = counted
        return label + "".join(f" {name}={sum(stats.get(k, 0) for k in keys)}" for name, keys in names.items())
    return (
        f"items new={stats.get('mayadeen/items/new', 0)} updated={stats.get('mayadeen/items/updated', 0)}"
        f" unchanged={stats.get('mayadeen/items/unchanged', 0)} dropped={items_dropped(stats)}"
        f" scraped={stats.get('item_scraped_count', 0)}"
        f" skipped={stats.get('mayadeen/fresh/unchanged', 0) + stats.get('mayadeen/fresh/done', 0)}"
    )


def summary_line(
    spider: str,
    stats: Mapping[str, Any],
    result: Outcome,
    counted: Counts | None = None,
    measured: float | None = None,
) -> str:
    """``Run summary: spider=feed result=ok finish_reason=finished items new=1 updated=1 …``.

    ``counted``: what the spider collects in its own words (its ``summary_counts``), else the items.
    ``measured``: the run's seconds as its command measured them, for a run Scrapy's clock never
    timed (refused before it started, skipped for a busy JOBDIR).
    """
    duration = stats.get("elapsed_time_seconds")
    if duration is not None:
        duration += stats.get(OPENING_SECONDS, 0)
    else:
        duration = measured
    return (
        f"Run summary: spider={spider} result={result.words}"
        f" finish_reason={result.finish_reason} {_collected(stats, counted)}"
        f" given_up={stats.get('mayadeen/given_up', 0)} failing={stats.get('mayadeen/failing/items', 0)}"
        f" lost={lost_records(stats)}{_lost_in(stats)} capped={','.join(capped(stats)) or 'no'}"
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
        self.crawler.stats.set_value("mayadeen/run/result", result.result)

    def monitors_failed(self, names: str) -> None:
        """The monitors run after the spider closed found wrong data (``names``): the run failed."""
        self.crawler.stats.set_value(MONITORS_FAILED_STAT, names)
        if self.crawler.stats.get_value("mayadeen/run/result") == "ok":
            self.crawler.stats.set_value("mayadeen/run/result", MONITORS_FAILED)
