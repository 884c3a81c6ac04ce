"""Makes a JOBDIR crawl resumable after any stop, SIGKILL included.

Scrapy keeps a paused crawl in ``JOBDIR``: the request queue (``requests.queue/``) and the fingerprint
of every request ever scheduled (``requests.seen``). That state is only sound after a clean stop: the
queue's index is written when the spider closes, and the requests that were in flight are already
in ``requests.seen``. After a SIGKILL, an OOM kill or a power cut, Scrapy would resume from a queue it
cannot read back and filter out, for good, the pages that were being fetched.

This extension keeps a small journal of its own next to Scrapy's files:

``mayadeen-job.json``
    ``{"spider", "state": "running" | "paused", "started_at", "runs", "run_ids", "feeds"}`` (``run_ids``:
    the job's ``crawl_runs`` ids; ``feeds``: JSON Lines file -> byte where this run's records start),
    replaced atomically; the ``crawl`` command refuses a JOBDIR whose job belongs to another spider
    (``mayadeen.preflight``).
``mayadeen-journal.txt``
    ``fetched <url>`` when an item page's response arrives, ``done <url>`` once its item has been
    stored and exported (or dropped): written by the JSON Lines storage (``mayadeen.feeds.storage``)
    right after the record's line, and again after the item's signals. An item is noted under every
    URL it was requested and answered under and under its record's URL (``mayadeen.identity``). One
    unbuffered ``write`` per line, so a kill never loses a line written before it. The journal stays
    bounded: past ``MAYADEEN_JOURNAL_MAX_LINES`` lines (default 10,000) it is rewritten, atomically,
    with only the items fetched and not yet done — the items done are in the store (without a store,
    their ``done`` lines are kept, and the next rewrite waits until the journal has doubled).

At start, when the job file says:

* nothing: a new job; leftover Scrapy state in the directory is removed.
* ``paused``: the last run stopped cleanly (Ctrl-C, SIGTERM, a ``CLOSESPIDER_*`` limit); Scrapy
  resumes its queue as usual.
* ``running``: the last run was killed. Scrapy's queue and fingerprints are discarded and the crawl
  starts again from discovery (robots.txt, sitemaps, feeds, listings: a few requests).
  ``mayadeen.store.freshness`` fetches again the items that were ``fetched`` but not ``done``
  (killed between the download and the end of the item's way through the pipelines and feed
  exports: the store's upsert makes a second pass harmless), skips the items that an earlier run of
  the job stored (``articles.last_run``: they were finished), and decides the others from the store
  as usual. A kill can also fall between a record's line and its ``done`` line: the last record the
  killed run wrote to each JSON Lines feed (its tail, read from where the run started) counts as
  done, under every URL the store knows its item by. So exactly the rest of the crawl is fetched,
  and nothing is stored or exported twice (without a store, an item is known only by its record's
  URL).

  A page that kills the crawler each time it is extracted is given up after a few killed runs
  (``mayadeen.extensions.killing_pages``): the journal names each item page while it is extracted
  (``extracting``, called by the spiders).

When a crawl runs out of work (it went idle, whatever the finish reason: ``finished``, or a failure
found at the end such as ``site_unreachable``, see ``mayadeen.extensions.run_outcome``) the job is
over and its state is removed: the same command with the same JOBDIR (a cron job) starts a new
crawl next time instead of resuming a finished one.

One run at a time per JOBDIR (``mayadeen.extensions.jobdir_lock``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured

from mayadeen.due_queue import HELD_QUEUE_DIR
from mayadeen.extensions.failing_items import item_given_up
from mayadeen.extensions.jobdir_lock import lock_jobdir
from mayadeen.extensions.killing_pages import count_kills, reason
from mayadeen.extensions.run_outcome import ENDED_REASONS
from mayadeen.feeds.storage import last_record_url
from mayadeen.identity import requested_url
from mayadeen.preflight import JOB_FILE
from mayadeen.record import utc_timestamp
from mayadeen.store.engines import store_target
from mayadeen.urls import canonical_url, item_kind

logger = logging.getLogger(__name__)

JOURNAL_FILE = "mayadeen-journal.txt"
#: The scheduler's JOBDIR state: Scrapy's queue and duplicate filter, and the requests waiting for
#: their deadline (``mayadeen.due_queue``).
SCHEDULER_STATE = ("requests.queue", "requests.seen", HELD_QUEUE_DIR)
#: The journal is rewritten with only the unfinished items once it holds more lines than this.
DEFAULT_JOURNAL_MAX_LINES = 10_000


class Journal(NamedTuple):
    fetched: frozenset[str]  # item pages whose response arrived in this job
    done: frozenset[str]  # items stored and exported (or dropped) in this job
    extracting: frozenset[str]  # item pages whose extraction had started and not ended (a kill's)


def read_journal(jobdir: Path) -> Journal:
    """The journal of the job in ``jobdir``; a torn last line (killed mid-write) is ignored."""
    path = Path(jobdir, JOURNAL_FILE)
    if not path.exists():
        return Journal(frozenset(), frozenset(), frozenset())
    lines = path.read_text("utf-8", errors="replace").split("\n")[:-1]  # after the last newline: torn
    pairs = [line.split(" ", 1) for line in lines if " " in line]
    extracting: set[str] = set()
    for kind, url in pairs:  # in order: a page extracted again (a retry) opens again
        if kind == "extracting":
            extracting.add(url)
        elif kind == "extracted":
            extracting.discard(url)
    return Journal(
        frozenset(u for kind, u in pairs if kind == "fetched"),
        frozenset(u for kind, u in pairs if kind == "done"),
        frozenset(extracting),
    )


class ResumeAfterKill:
    """Enabled by ``JOBDIR``; see the module docstring. Stats: ``mayadeen/job/runs``."""

    def __init__(self, crawler, jobdir: str):
        self.crawler = crawler
        self.jobdir = Path(jobdir)
        self.jobdir.mkdir(parents=True, exist_ok=True)
        self._journal_fd: int | None = None
        self._out_of_work = False  # idle, and nothing scheduled since: the crawl has ended
        self._ended = False  # spider_closed removed the job's state: nothing is written to it again
        self.keep_done = store_target(crawler.settings) is None
        self.max_lines = crawler.settings.getint("MAYADEEN_JOURNAL_MAX_LINES", DEFAULT_JOURNAL_MAX_LINES)
        # Runs before the scheduler opens the directory (extensions are built first).
        self._lock_fd = lock_jobdir(crawler, self.jobdir)
        self.job = self._begin()
        journal = read_journal(self.jobdir)
        #: URLs done in this job as far as the journal and the feeds tell (see ``_exported_unnoted``).
        self.finished = journal.done | self._exported_unnoted()
        #: Item URLs fetched and not done in this job: fetched again whatever the store says.
        self.inflight: set[str] = set(journal.fetched - self.finished)
        #: The item page being extracted now, if any (see ``extracting``).
        self.being_extracted: str | None = None
        #: Item pages extracted at too many of the job's kills: not requested again by this job; and
        #: those whose giving up no run has told yet (until one closes: it is told again after a kill).
        self.most_kills = crawler.settings.getint("MAYADEEN_MAX_KILLS_IN_FLIGHT", 3)
        self.given_up, self.untold = count_kills(self.job, journal.extracting, self.most_kills)
        self._write_job(self.job)
        self.inflight -= self.given_up
        self.unfinished = frozenset(self.inflight)
        #: URLs done in this job, kept only when there is no store to tell.
        self.done: set[str] = set(self.finished) if self.keep_done else set()
        #: The crawl runs of this job before this one: the items they stored were finished.
        self.done_runs = frozenset(self.job.get("run_ids", ()))
        self._lines = self._kept = 0
        self._compact()  # what was learnt above is kept before anything else is written

    @classmethod
    def from_crawler(cls, crawler):
        jobdir = crawler.settings.get("JOBDIR")
        if not jobdir:
            raise NotConfigured  # silently off without JOBDIR
        ext = cls(crawler, jobdir)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.item_finished, signal=signals.item_scraped)
        crawler.signals.connect(ext.item_finished, signal=signals.item_dropped)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    # --- the journal ----------------------------------------------------------------------------

    def _read_job(self) -> dict | None:
        try:
            return json.loads(Path(self.jobdir, JOB_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def _write_job(self, job: dict) -> None:
        tmp = Path(self.jobdir, JOB_FILE + ".tmp")
        tmp.write_text(json.dumps(job), "utf-8")
        os.replace(tmp, Path(self.jobdir, JOB_FILE))

    def _remove(self, names) -> None:
        for name in names:
            path = Path(self.jobdir, name)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()

    def _begin(self) -> dict:
        job = self._read_job()
        if job is None:
            self._remove(SCHEDULER_STATE + (JOURNAL_FILE,))
            job = {
                "spider": self.crawler.spidercls.name,
                "started_at": utc_timestamp(),
                "runs": 0,
                "resumed_after": None,
            }
        elif job.get("state") == "running":
            self._remove(SCHEDULER_STATE)
            job["resumed_after"] = "kill"
        else:
            job["resumed_after"] = "pause"
        job["runs"] = job.get("runs", 0) + 1
        job["state"] = "running"
        self._write_job(job)
        return job

    # --- signals --------------------------------------------------------------------------------

    @property
    def resumed_after_kill(self) -> bool:
        return self.job["resumed_after"] == "kill"

    def spider_opened(self, spider) -> None:
        self.crawler.stats.set_value("mayadeen/job/runs", self.job["runs"])
        if self.job["resumed_after"] == "kill":
            logger.warning(
                "JOBDIR %s: the previous run of this job (started %s) was killed; its request queue "
                "cannot be trusted and is discarded. Discovery starts again; items already finished "
                "are skipped.",
                self.jobdir,
                self.job["started_at"],
            )
        elif self.job["resumed_after"] == "pause":
            logger.info(
                "JOBDIR %s: resuming the job started %s (run %d)", self.jobdir, self.job["started_at"], self.job["runs"]
            )
        for url in sorted(self.untold):
            self.crawler.signals.send_catch_log(item_given_up, url=url, reason=reason(self.most_kills))
        run_id = self.crawler.stats.get_value("mayadeen/run_id")
        if run_id is not None:
            self.job["run_ids"] = [*self.job.get("run_ids", ()), run_id]
            self._write_job(self.job)

    def _note(self, kind: str, url) -> None:
        if self._journal_fd is None or not isinstance(url, str) or not url or any(c.isspace() for c in url):
            return
        if kind == "fetched":
            self.inflight.add(url)
        elif kind == "done":
            self.inflight.discard(url)
            if self.keep_done:
                self.done.add(url)
        os.write(self._journal_fd, f"{kind} {url}\n".encode())
        self._lines += 1
        if self._lines > max(self.max_lines, 2 * self._kept):
            self._compact()

    def _exported_unnoted(self) -> frozenset[str]:
        """After a kill: the record each JSON Lines feed wrote last, if the killed run wrote it.

        The storage notes ``done`` right after writing a record; a kill between the two leaves the
        record in the feed and its item fetched and not done. Records are written one at a time, so
        only a feed's last record can lack its note: the tail is read, never the whole file.
        """
        feeds = self.job.pop("feeds", {})  # where the killed run's records start in each file
        if self.job["resumed_after"] != "kill":
            return frozenset()
        return frozenset(filter(None, (last_record_url(Path(path), start) for path, start in feeds.items())))

    def feed_opened(self, path: Path, start: int) -> None:
        """Called by the JSON Lines storage when it opens ``path`` to write this run's records from byte
        ``start``. A feed that wrote nothing is opened only as the spider closes (Scrapy's
        ``FEED_STORE_EMPTY``), maybe after the job ended: its state is gone and stays gone."""
        if self._ended:
            return
        self.job.setdefault("feeds", {})[str(path)] = start
        self._write_job(self.job)

    def settle(self, urls) -> None:
        """``urls``, unfinished, turn out to be done (their item's record was exported under its address)."""
        for url in urls:
            self._note("done", url)
        self.unfinished = self.unfinished.difference(urls)

    def _compact(self) -> None:
        """Rewrites the journal with what it must tell a resumed run, and reopens it for appending."""
        path, tmp = Path(self.jobdir, JOURNAL_FILE), Path(self.jobdir, JOURNAL_FILE + ".tmp")
        lines = [f"fetched {u}\n" for u in sorted(self.inflight)] + [f"done {u}\n" for u in sorted(self.done)]
        if self.being_extracted is not None:  # its mark was the line that made the journal too long
            lines.append(f"extracting {self.being_extracted}\n")
        tmp.write_text("".join(lines), "utf-8")
        os.replace(tmp, path)
        if self._journal_fd is not None:
            os.close(self._journal_fd)
        self._journal_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lines = self._kept = len(lines)  # without a store the done items stay: the next rewrite waits

    def spider_idle(self, spider) -> None:
        self._out_of_work = True

    def request_scheduled(self, request, spider) -> None:
        if request.url in self.given_up:  # the URL its callback was noted under
            raise IgnoreRequest(f"given up after killed runs: {request.url}")
        self._out_of_work = False

    def response_received(self, response, request, spider) -> None:
        if item_kind(response.url):
            for url in _answered_urls(response):
                self._note("fetched", url)

    def note_done(self, url: str) -> None:
        """Called by the JSON Lines storage right after it wrote the record of ``url``."""
        self._note("done", url)

    @contextmanager
    def extracting(self, url: str):
        """Marks item page ``url`` (its request's URL) in the journal while the spider extracts it: a
        ``with`` block that does not pause (no ``await``), so it is the only page marked at a kill."""
        self.being_extracted = url
        self._note("extracting", url)
        try:
            yield
        finally:
            self.being_extracted = None
            self._note("extracted", url)

    def item_finished(self, item, response=None, **kwargs) -> None:
        self._note("done", ItemAdapter(item).get("url"))
        for url in _answered_urls(response) if response is not None else ():
            self._note("done", url)

    def spider_closed(self, spider, reason: str) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        if self._out_of_work or reason in ENDED_REASONS:
            self._ended = True
            self._remove(SCHEDULER_STATE + (JOURNAL_FILE, JOB_FILE))
            logger.info("JOBDIR %s: the crawl ended (%s); the next run starts a new one", self.jobdir, reason)
        else:
            self.job["state"] = "paused"
            self.job.pop("killed_in_flight", None)  # this run was not killed: the counts start again
            self.job.pop("untold", None)  # and it told (and its store recorded) what it gave up
            self._write_job(self.job)
            logger.info("JOBDIR %s: crawl paused (%s); run the same command again to resume", self.jobdir, reason)
        os.close(self._lock_fd)


def _answered_urls(response) -> list[str]:
    """The URLs an item page was requested and answered under (canonical, without repeats)."""
    return list(dict.fromkeys((requested_url(response), canonical_url(response.url) or response.url)))
