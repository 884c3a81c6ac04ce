"""``scrapy crawl`` in the test process: the same command line, project settings, add-ons, checks, exit
status and summary line as ``conftest.run_crawl``'s subprocess, without a new interpreter per crawl
(about 1.2 s of CPU for the imports alone).

The crawl command itself runs (``mayadeen.commands.crawl.Command``: its usage checks, its preflight,
its verdict and ``crawl_runs`` row); only its crawler process is replaced by a ``CrawlerRunner`` on
one asyncio reactor that serves the whole test run from a thread of its own (installed by
``install_reactor`` when the tests start; Scrapy's own tests run crawls the same way). Use it where
the process is not the point; signals, kills, exit after a crash and several workers stay in
subprocesses. ``command`` runs another Scrapy command the same way (``scrapy reextract``,
``scrapy runspider``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from scrapy.cmdline import ScrapyArgumentParser
from scrapy.commands import ScrapyCommand
from scrapy.crawler import CrawlerRunner
from scrapy.exceptions import UsageError
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings
from twisted.internet.defer import Deferred

from tests.conftest import FAST, CrawlResult, crawl_argv

_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


def install_reactor() -> None:
    """The asyncio reactor Scrapy asks for, on a loop of its own (before anything imports a reactor)."""
    global _loop
    from twisted.internet import asyncioreactor

    if _loop is None:
        _loop = asyncio.new_event_loop()
        asyncioreactor.install(eventloop=_loop)
        # Imported here, where the stack is short, rather than by the first crawl or test module that needs
        # it: its deprecated class aliases call inspect.stack(), whose cost grows with the stack's depth
        # (0.3 s of CPU under pytest's collection, 0.1 s here).
        import scrapy.core.downloader.contextfactory  # noqa: F401


def reactor():
    """The reactor, running in its thread (started at the first crawl, stopped with the process)."""
    global _thread
    from twisted.internet import reactor as installed

    with _lock:
        if _thread is None:

            def run() -> None:
                asyncio.set_event_loop(_loop)
                installed.run(installSignalHandlers=False)

            _thread = threading.Thread(target=run, name="reactor", daemon=True)
            _thread.start()
    return installed


class _RunnerOnSharedReactor(CrawlerRunner):
    """The crawler process the crawl command is given: ``crawl`` notes the crawl, ``start`` runs it on
    the shared reactor and returns once it has ended (or ``timeout`` passed: it is stopped)."""

    def __init__(self, settings, timeout: float):
        super().__init__(settings)
        self.timeout = timeout
        self.started: list = []

    def crawl(self, crawler, *args, **kwargs):
        """Notes the crawl; the Deferred returned fires as the real crawl's does (the command collects
        its start-up errors from it)."""
        done = Deferred()
        self.started.append((crawler, args, kwargs, done))
        return done

    def start(self, *args, **kwargs) -> None:
        ended = threading.Event()
        shared = reactor()

        def begin() -> None:
            for crawler, a, kw, done in self.started:
                d = CrawlerRunner.crawl(self, crawler, *a, **kw)
                d.chainDeferred(done)
                done.addErrback(
                    lambda failure: logging.getLogger("scrapy.crawler").error(
                        "The crawl failed", exc_info=(failure.type, failure.value, failure.getTracebackObject())
                    )
                )
                done.addBoth(lambda _: ended.set())

        shared.callFromThread(begin)
        if not ended.wait(self.timeout):
            shared.callFromThread(lambda: [c.stop() for c, *_ in self.started])
            ended.wait(60)
            raise AssertionError(f"the crawl did not end within {self.timeout}s")


class _Captured(logging.Handler):
    """Log lines formatted as ``scrapy crawl`` writes them, at the command's LOG_LEVEL."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def follow(self, settings) -> None:
        """The level and format of the command's settings, once its options have set them."""
        # LOG_ENABLED=False: Scrapy logs nowhere (a search prints only its answer).
        self.setLevel(settings.get("LOG_LEVEL") if settings.getbool("LOG_ENABLED") else logging.CRITICAL + 1)
        self.setFormatter(logging.Formatter(settings.get("LOG_FORMAT"), settings.get("LOG_DATEFORMAT")))
        root = logging.getLogger()
        if root.level and self.level < root.level:  # NOTSET passes everything already
            root.setLevel(self.level)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class _ThisThreads(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` for the command: what the calling thread writes (the command's usage
    errors, its report) is kept, other threads' writes (a test server's handler tracebacks) go on to the
    real stream, not into the command's output."""

    def __init__(self, real):
        self.real, self.kept, self.thread = real, io.StringIO(), threading.get_ident()

    def write(self, text: str) -> int:
        return (self.kept if threading.get_ident() == self.thread else self.real).write(text)

    def flush(self) -> None:
        self.real.flush()


@contextlib.contextmanager
def _capture(settings):
    handler, root = _Captured(), logging.getLogger()
    level = root.level
    handler.follow(settings)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@dataclass
class CommandResult:
    returncode: int
    stdout: str
    log: str  # stderr: the usage errors, then the log lines
    stats: dict


def command(cmd: ScrapyCommand, argv: list[str], settings: Settings, *, timeout: float = 300) -> CommandResult:
    """``scrapy ARGV`` in this process: ``cmd`` is a new instance of the command's class (as
    ``scrapy.cmdline`` would make it), ``settings`` the project's; a crawl it starts runs on the shared
    reactor. Its stdout, stderr then log lines, exit status and the crawl's stats."""
    settings.setdict(cmd.default_settings, priority="command")
    cmd.settings = settings
    parser = ScrapyArgumentParser(conflict_handler="resolve")
    # mayadeen's commands take over Ctrl-C and SIGTERM for their run (mayadeen.stop_signals): give them back after.
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    cmd.add_options(parser)
    opts, rest = parser.parse_known_args(argv[1:])
    stdout, stderr = _ThisThreads(sys.stdout), _ThisThreads(sys.stderr)
    runner = None
    with _capture(settings) as log, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            try:
                cmd.process_options(rest, opts)
                log.follow(settings)
                if cmd.requires_crawler_process:  # as scrapy.cmdline
                    cmd.crawler_process = runner = _RunnerOnSharedReactor(settings, timeout)
                cmd.run(rest, opts)
            except UsageError as problem:  # as scrapy.cmdline: the message on stderr, exit status 2
                parser.error(str(problem))
            returncode = cmd.exitcode
        except SystemExit as exc:  # a usage error: one line on stderr, exit status 2
            returncode = exc.code
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
    stats = dict(runner.started[0][0].stats.get_stats()) if runner and runner.started else {}
    text = stderr.kept.getvalue() + "".join(line + "\n" for line in log.lines)
    return CommandResult(returncode, stdout.kept.getvalue(), text, stats)


def project_settings() -> Settings:
    """The project's settings, as a command run in its environment gets them."""
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "mayadeen.settings")  # as run_crawl's environment says
    return get_project_settings()


def crawl(
    spider: str,
    server_url: str,
    workdir: Path,
    *,
    args: dict | None = None,
    settings: dict | None = None,
    jsonl: Path | None = None,
    sqlite: Path | None = None,
    timeout: float = 300,
    check: bool = True,
) -> CrawlResult:
    """``conftest.run_crawl`` in this process (same arguments, same result, plus ``stats``)."""
    from mayadeen.commands.crawl import Command

    workdir.mkdir(parents=True, exist_ok=True)
    jsonl = jsonl or workdir / "articles.jsonl"
    sqlite = sqlite or workdir / "mayadeen.sqlite"
    argv = crawl_argv(spider, server_url, jsonl, sqlite, workdir / "warc", args=args, settings=settings)
    ran = command(Command(), argv, project_settings(), timeout=timeout)
    result = CrawlResult(ran.returncode, ran.log, jsonl, sqlite, ran.stats)
    if check and ran.returncode != 0:
        raise AssertionError(f"crawl failed ({ran.returncode}):\n{ran.log[-5000:]}")
    return result


def bare_crawl(spider: str, server_url: str, cwd: Path, *extra: str, timeout: float = 300) -> CommandResult:
    """``scrapy crawl`` run in ``cwd`` with no output options of ours: the embedded defaults (relative
    paths) apply."""
    from mayadeen.commands.crawl import Command

    argv = ["crawl", spider, "-a", f"base_url={server_url}", *extra]
    for k, v in FAST.items():
        argv += ["-s", f"{k}={v}"]
    with contextlib.chdir(cwd):
        return command(Command(), argv, project_settings(), timeout=timeout)
