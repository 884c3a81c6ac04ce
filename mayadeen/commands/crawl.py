"""``scrapy crawl`` with checked inputs and an exit status that tells a scheduler how the run went.

Before anything is built, every spider argument and ``MAYADEEN_*`` setting is checked
(``mayadeen.validation``) along with the outputs and the JOBDIR (``mayadeen.preflight``): a problem is
one line on stderr and exit status 2, before anything is fetched or written. Then the store, the
feed files and the WARC folder are checked; a problem there is one ERROR line, the summary line and
(when the store can take it) a ``crawl_runs`` row, exit status 1. The exit status:

* 0 when the crawl worked (also when nothing was new, or it stopped at a ``CLOSESPIDER_*`` limit);
* 1 when it failed (``mayadeen.extensions.run_outcome``), was interrupted without a JOBDIR, or
  could not start;
* 2 usage error: a spider argument, setting, spider name, output or JOBDIR it cannot run with;
* 3 paused: stopped by Ctrl-C / SIGTERM (or a second Ctrl-C) with a JOBDIR, at any moment, start-up
  included (``mayadeen.stop_signals``); the same command resumes;
* 75 (``EX_TEMPFAIL``) when another run holds the JOBDIR (``jobdir_busy``): nothing was done, try
  again later.

Its last log line is the run's summary (``mayadeen.extensions.run_outcome.summary_line``): an ERROR
for a failure, a WARNING for a skipped run, else INFO; the verdict goes to the run's
``crawl_runs.result`` (``ok``, ``paused``, ``skipped`` or the problem).
"""

from __future__ import annotations

import logging
import sys
import time

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError
from scrapy.spiderloader import get_spider_loader
from twisted.internet.defer import Deferred

from mayadeen import preflight
from mayadeen.empty_outputs import NewOutputs
from mayadeen.extensions.jobdir_lock import JobDirBusy
from mayadeen.extensions.run_outcome import PAUSED, SKIPPED, Outcome, Thresholds, outcome, summary_line
from mayadeen.feeds.default_feed import check_stream
from mayadeen.setting_docs import setting_help, settings_reference
from mayadeen.stop_signals import StopSignals
from mayadeen.store.engines import connect, store_target
from mayadeen.validation import UsageProblem, check_settings, closest

logger = logging.getLogger("mayadeen.run")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PAUSED = 3
EXIT_BUSY = 75  # sysexits.h EX_TEMPFAIL
#: The exit status of a run that stopped without failing (``Outcome.halt``).
HALTED = {PAUSED: EXIT_PAUSED, SKIPPED: EXIT_BUSY}


def exit_status(result: Outcome) -> int:
    if result.ok:
        return EXIT_OK
    return HALTED.get(result.halt, EXIT_FAILED)


def log_summary(line: str, result: Outcome) -> None:
    """Only a failure is an ERROR: a skipped run is a WARNING, a paused or good one INFO."""
    level = logging.INFO if result.ok or result.halt == PAUSED else logging.WARNING if result.halt else logging.ERROR
    logger.log(level, "%s", line)


class Command(ScrapyCrawlCommand):
    #: Whether ``-h`` lists each spider's ``-a`` arguments (not for a command that runs its own spider).
    lists_spider_arguments = True
    #: The stats of the run, once it has ended (empty if it never started).
    stats: dict = {}

    def add_options(self, parser) -> None:
        # The first call Scrapy makes to the command it runs: from here on, a signal is a clean stop.
        self.stop_signals = StopSignals()
        self.stop_signals.install()
        super().add_options(parser)
        if self.lists_spider_arguments:
            loader = self.spider_loader()
            for name in sorted(loader.list()):
                accepted = getattr(loader.load(name), "arguments", {})
                parser.add_argument_group(
                    f"Spider {name} arguments",
                    "; ".join(_argument_help(arg, argument.help) for arg, argument in accepted.items()),
                )
            # The settings of MAYADEEN_REDIS_URL's section, which -a crawl_id and -a restart name.
            settings = settings_reference()
            section = next(s.section for s in settings if s.name == "MAYADEEN_REDIS_URL")
            redis = [s for s in settings if s.section == section]
            parser.add_argument_group("Distributed crawl settings", "; ".join(map(setting_help, redis)))

    def long_desc(self) -> str:
        return (
            super().long_desc().rstrip(".") + ". Checks every argument and setting first (exit 2 on a"
            " usage error); exits 1 when the run failed, 3 when it was paused (signal with JOBDIR), 75 when"
            " another run holds the JOBDIR, else 0; the last log line sums the run up."
        )

    def process_options(self, args, opts) -> None:
        super().process_options(args, opts)
        self.resumed_feeds: list[str] = []
        if len(args) != 1:
            return  # run() says what is wrong
        try:
            self.check_usage(args[0], opts)
        except UsageProblem as problem:
            print(f"scrapy crawl {args[0]}: error: {problem}", file=sys.stderr)
            sys.exit(EXIT_USAGE)

    def spider_loader(self):
        """Scrapy's spider loader for the command's spider modules, made once: each new one copies the
        settings and walks the modules again (about 20 ms, three times a run)."""
        modules = tuple(self.settings.getlist("SPIDER_MODULES"))
        if getattr(self, "_loader_for", None) != modules:
            self._loader, self._loader_for = get_spider_loader(self.settings), modules
        return self._loader

    def check_usage(self, spider: str, opts) -> None:
        loader = self.spider_loader()
        names = loader.list()
        if spider not in names:
            raise UsageProblem(
                f"no spider named {spider}{closest(spider, names)}; the spiders are {', '.join(sorted(names))}"
            )
        check_settings(self.settings)
        preflight.make_log_directory(self.settings.get("LOG_FILE"))
        spider_cls = loader.load(spider)
        if hasattr(spider_cls, "parse_arguments"):
            spider_cls.parse_arguments(opts.spargs)
        check_stream(self.settings, spider_cls)
        preflight.outputs(self.settings, spider_cls)
        preflight.waits_within_lease(self.settings)
        jobdir = self.settings.get("JOBDIR")
        preflight.check_jobdir(jobdir, spider)
        if preflight.jobdir_owner(jobdir):  # resuming: -O must not overwrite what the job exported so far
            feeds = self.settings.getdict("FEEDS")
            self.resumed_feeds = [uri for uri, options in feeds.items() if options.get("overwrite")]
            if self.resumed_feeds:
                self.settings.set(
                    "FEEDS",
                    {uri: {**options, "overwrite": False} for uri, options in feeds.items()},
                    priority="cmdline",
                )

    def run(self, args, opts) -> None:
        if len(args) < 1:
            raise UsageError
        if len(args) > 1:
            raise UsageError("running 'scrapy crawl' with more than one spider is not supported")
        self.run_spider(args[0], opts.spargs)

    def run_spider(self, spider, spargs: dict) -> None:
        """Run one spider (a name or a class) and set the exit status from how its run went."""
        assert self.crawler_process
        started = time.monotonic()
        spidercls = self.spider_loader().load(spider) if isinstance(spider, str) else spider
        name = spidercls.name
        settings = self.settings
        limits = Thresholds.from_settings(settings)
        new_outputs = NewOutputs.before(settings, spidercls)  # removed at the end if this run leaves them empty
        problem = (
            preflight.target_problem(store_target(settings), settings.getfloat("MAYADEEN_SQLITE_BUSY_TIMEOUT", 60.0))
            or preflight.feed_problem(settings, spidercls)
            or preflight.archive_problem(settings)
        )
        if problem:
            new_outputs.discard_empty(self.refuse(name, spargs, problem, limits, time.monotonic() - started))
            return
        for uri in self.resumed_feeds:
            logger.info("Resuming the job in JOBDIR: %s is appended to, not overwritten (-O)", uri)

        crawler = self.crawler_process.create_crawler(spider)
        self.stop_signals.watch(crawler)
        errors = _startup_errors(self.crawler_process.crawl(crawler, **spargs))
        self.crawler_process.start(install_signal_handlers=False)  # StopSignals handles them from start-up on
        for exc in errors:
            if not isinstance(exc, JobDirBusy):  # said by the JOBDIR lock, as a warning
                logger.error("The crawl could not start: %s", exc, exc_info=exc)

        try:
            stats = crawler.stats.get_stats()
        except (AttributeError, RuntimeError):  # the crawl never started: Scrapy had not set its stats yet
            stats = {}
        self.stats = stats
        if "finish_reason" not in stats:
            if "start_time" not in stats:
                logger.error("Run summary: spider=%s result=FAILED (could not start; see the errors above)", name)
                self.exitcode = EXIT_FAILED
                new_outputs.discard_empty(stats.get("mayadeen/run_id"))
                return
            stats = {**stats, "finish_reason": "forced_shutdown"}  # a second Ctrl-C: stopped at once
        result = outcome(stats, limits, paused=preflight.jobdir_owner(settings.get("JOBDIR")) is not None)
        counted = getattr(crawler.spidercls, "summary_counts", None)
        log_summary(summary_line(name, stats, result, counted, time.monotonic() - started), result)
        self.exitcode = exit_status(result)
        self.record(stats, result)
        new_outputs.discard_empty(stats.get("mayadeen/run_id"))

    def record(self, stats, result: Outcome) -> None:
        """The verdict in this run's ``crawl_runs`` row (and its end, if the run never got to close it)."""
        target, run_id = store_target(self.settings), stats.get("mayadeen/run_id")
        if target is not None and run_id:
            try:
                # The run's retry window: a server gone during the run does not hold its exit longer.
                retry = self.settings.getfloat("MAYADEEN_STORE_RETRY_TIMEOUT", 60.0)
                with connect(target, busy_timeout=30, retry_timeout=retry) as store:
                    store.record_result(run_id, result.result, result.finish_reason)
            except Exception as exc:  # the verdict is in the summary line anyway
                logger.warning("Could not record the result of run %s in %s: %s", run_id, target, exc)

    def refuse(
        self, spider: str, spargs, problem: preflight.EnvironmentProblem, limits: Thresholds, took: float
    ) -> int | None:
        """A run that cannot start: its one line, its summary (``took``: its seconds so far), and its
        crawl_runs row where possible (its id is returned)."""
        logger.error("%s", problem.message)
        stats = {"finish_reason": problem.reason, "log_count/ERROR": 1}
        result = outcome(stats, limits)
        target, run_id = store_target(self.settings), None
        if problem.store_usable and target is not None:
            with connect(target, busy_timeout=self.settings.getfloat("MAYADEEN_SQLITE_BUSY_TIMEOUT", 60)) as store:
                run_id = store.start_run(spider, dict(spargs))
                store.finish_run(run_id, finish_reason=problem.reason, errors=1)
                store.record_result(run_id, problem.reason)
        logger.error("%s", summary_line(spider, stats, result, measured=took))
        self.exitcode = EXIT_FAILED
        return run_id


def _argument_help(name: str, text: str) -> str:
    """``-a full=1: fetch every item again`` from the help ``1: fetch every item again``."""
    value, sep, rest = text.partition(": ")
    if sep and " " not in value:
        return f"-a {name}={value}: {rest}"
    return f"-a {name}=…: {text}"


def _startup_errors(started) -> list[BaseException]:
    """The exceptions a crawl could not start with, once it is over: collected here (reported by the
    command) rather than left to asyncio's "Task exception was never retrieved" traceback."""
    errors: list[BaseException] = []
    if isinstance(started, Deferred):
        started.addErrback(lambda failure: errors.append(failure.value))
    else:
        started.add_done_callback(
            lambda task: task.cancelled() or not task.exception() or errors.append(task.exception())
        )
    return errors
