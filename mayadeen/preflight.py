"""What must hold before a crawl starts: somewhere to write to, and nothing that would be damaged.

Checked by the ``crawl`` command before the crawler is built, so that a run that cannot work stops
with one line instead of a traceback per item, before it fetches or writes anything:

* ``outputs``: at least one of the SQLite store and a feed (``-o``/``-O`` or the spider's default
  stream, ``mayadeen.feeds.default_feed``) — otherwise every record would be scraped to nowhere (a
  usage error);
* ``waits_within_lease``: in a distributed crawl, a wait that could outlast the request leases
  (``MAYADEEN_REDIS_LEASE_TTL``) is refused (a usage error). The heartbeat that renews them runs in the
  Redis link's thread (``mayadeen.distributed.heartbeat``), so nothing renews them while Redis is
  away: ``MAYADEEN_REDIS_RETRY_TIMEOUT`` must end before the heartbeat's backstop, which stops the
  worker before its leases can expire (``mayadeen.distributed.timing``: a retry window plus one
  heartbeat interval and one failed call, within the TTL less one heartbeat interval); else the
  setting would promise a wait the worker cannot make without other workers fetching its pages beyond
  the politeness budget. A store read (``MAYADEEN_STORE_REACTOR_TIMEOUT``) waits in a reader thread,
  not on the reactor, and holds its request — and lease, renewed meanwhile — that long; it must be
  below the TTL too, so that one stalled read does not hold a lease for longer than a killed worker's;
* ``make_log_directory``: ``LOG_FILE``'s directory is made when missing; a place the file cannot be
  written to is refused (a usage error);
* ``check_jobdir``: a JOBDIR that cannot be a directory (a file, under a file, read-only), or that
  holds another spider's paused crawl, is refused (a usage error: it would resume the other spider's
  queue with this spider's callbacks and lose that job);
* ``store_problem``: the store is a writable SQLite database whose header, schema and last run
  read well, and that passes ``PRAGMA integrity_check`` when the last run did not close cleanly
  (``mayadeen.store.soundness``; read-only: a damaged store is never written to);
* ``lock_problem``: no other process holds the SQLite store's lock for longer than
  ``MAYADEEN_SQLITE_BUSY_TIMEOUT`` (``store_busy``; another crawl's short transactions are waited out);
* ``feed_problem``: every local feed file can be written (not a directory, not read-only);
* ``archive_problem``: the WARC folder (``MAYADEEN_WARC_DIR``) exists or can be made, can be written
  to, and its file system has more than ``MAYADEEN_MIN_FREE_SPACE_MB`` free.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from scrapy.settings import SETTINGS_PRIORITIES

from mayadeen.distributed import timing
from mayadeen.feeds.default_feed import default_feed_path, stream_setting
from mayadeen.store import soundness
from mayadeen.store.engines import SQLITE, StoreTarget, connect, store_target
from mayadeen.validation import UsageProblem

#: Free space the WARC folder's file system must have before a crawl starts (``MAYADEEN_MIN_FREE_SPACE_MB``).
DEFAULT_MIN_FREE_SPACE_MB = 100
#: The JOBDIR job file (``mayadeen.extensions.resume``), read for the spider that owns the job.
JOB_FILE = "mayadeen-job.json"


@dataclass(frozen=True)
class EnvironmentProblem:
    reason: str  # the finish reason recorded for the run (``store_unusable``, ``feed_not_writable``)
    message: str  # one line
    store_usable: bool  # whether the run can still be recorded in crawl_runs


def feed_paths(settings, spidercls=None) -> list[Path]:
    """The local files of the feeds this crawl writes (``-o``/``-O``, else the spider's default stream)."""
    uris = list(settings.getdict("FEEDS")) or [p for p in [default_feed_path(settings, spidercls)] if p]
    out = []
    for uri in map(str, uris):
        parts = urlsplit(uri)
        if uri == "-" or "%(" in uri or parts.scheme not in ("", "file") and len(parts.scheme) > 1:
            continue  # stdout, a per-batch name, or a remote storage: not ours to check
        out.append(Path(url2pathname(parts.path)) if parts.scheme == "file" else Path(uri))
    return out


def outputs(settings, spidercls=None) -> None:
    """UsageProblem when the crawl would write its records nowhere."""
    if store_target(settings) is None and not settings.getdict("FEEDS") and not default_feed_path(settings, spidercls):
        raise UsageProblem(
            f"no output: MAYADEEN_STORE_URL, MAYADEEN_SQLITE_PATH and {stream_setting(spidercls)} are"
            " empty and no -o/-O is given; every record would be thrown away"
        )


def waits_within_lease(settings) -> None:
    """UsageProblem when a distributed crawl's Redis or store waits could outlast its leases; each
    names what the user gave (``-s NAME=VALUE``) or the default in force, and a change that starts."""
    if not (settings.get("MAYADEEN_REDIS_URL") or "").strip():
        return
    wait = settings.getfloat("MAYADEEN_STORE_REACTOR_TIMEOUT", 10.0)
    ttl = settings.getfloat("MAYADEEN_REDIS_LEASE_TTL", timing.DEFAULT_LEASE_TTL)
    if problem := timing.lease_ttl_problem(ttl):
        raise UsageProblem(f"{_named(settings, 'MAYADEEN_REDIS_LEASE_TTL', ttl)} {problem}")
    if wait >= ttl:
        raise UsageProblem(
            f"{_named(settings, 'MAYADEEN_STORE_REACTOR_TIMEOUT', wait)} is not below"
            f" {_named(settings, 'MAYADEEN_REDIS_LEASE_TTL', ttl)}: a store read would hold a request's lease"
            f" longer than a killed worker's; lower it (-s MAYADEEN_STORE_REACTOR_TIMEOUT={ttl / 2:g}) or"
            f" lengthen the TTL beyond {wait:g}s"
        )
    redis_wait, longest = timing.retry_timeout(settings), timing.longest_retry_timeout(ttl)
    if redis_wait > longest:
        raise UsageProblem(
            f"{_named(settings, 'MAYADEEN_REDIS_RETRY_TIMEOUT', redis_wait)} is more than"
            f" {_named(settings, 'MAYADEEN_REDIS_LEASE_TTL', ttl)} allows ({longest:.3g}s): nothing renews the"
            " leases while Redis is away, so other workers would fetch this worker's pages while it waits;"
            " shorten it (its default is the longest the TTL allows) or lengthen the TTL"
        )


def _named(settings, name: str, value: float) -> str:
    """``-s NAME=VALUE`` when the user set it (above the project's own settings), else ``NAME=VALUE
    (its default)``: a refusal never asks to lower a value the user did not give as if they had."""
    given = (settings.getpriority(name) or 0) > SETTINGS_PRIORITIES["project"]
    return f"-s {name}={value:g}" if given else f"{name}={value:g} (its default)"


def jobdir_owner(jobdir: str | None) -> str | None:
    """The spider whose crawl ``jobdir`` holds (paused or killed), or None."""
    if not jobdir:
        return None
    try:
        return json.loads(Path(jobdir, JOB_FILE).read_text("utf-8")).get("spider")
    except (OSError, ValueError, AttributeError):
        return None


def check_jobdir(jobdir: str | None, spider: str) -> None:
    """UsageProblem when the JOBDIR cannot be a directory of this crawl, or holds another spider's job."""
    if jobdir:
        place = Path(jobdir)
        ancestor = place if place.exists() else _existing_ancestor(place)
        if not ancestor.is_dir():
            where = "is a file" if ancestor == place else f"{ancestor} is a file"
            raise UsageProblem(f"-s JOBDIR={jobdir}: {where}, not a directory")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise UsageProblem(f"-s JOBDIR={jobdir}: cannot write in {ancestor} (read-only or no permission)")
    owner = jobdir_owner(jobdir)
    if owner and owner != spider:
        raise UsageProblem(
            f"-s JOBDIR={jobdir} holds a paused crawl of spider {owner}, not {spider}: resume it with"
            f" `scrapy crawl {owner} -s JOBDIR={jobdir}`, or give this crawl its own JOBDIR"
        )


def make_log_directory(log_file: str | None) -> None:
    """Makes ``LOG_FILE``'s directory, as the store's and the feeds' are made (Scrapy would end the
    process with a traceback when it opens the file); UsageProblem when the file cannot be written there."""
    if not log_file:
        return
    path = Path(log_file)
    if problem := _writable_place(path, "-s LOG_FILE"):
        raise UsageProblem(problem)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageProblem(f"-s LOG_FILE={log_file}: {exc.strerror or exc}") from exc


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable_place(path: Path, what: str) -> str | None:
    """Why a file cannot be created or written at ``path`` (None when it can)."""
    if path.is_dir():
        return f"{what}={path}: is a directory, not a file"
    if path.exists():
        if not os.access(path, os.W_OK):
            return f"{what}={path}: the file is not writable"
        directory = path.parent
    else:
        directory = _existing_ancestor(path.parent)
        if not directory.is_dir():
            return f"{what}={path}: {directory} is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"{what}={path}: cannot write in {directory} (read-only or no permission)"
    return None


def target_problem(target: StoreTarget | None, busy_timeout: float = 60.0) -> EnvironmentProblem | None:
    """Why the crawl's store cannot be used (None when it can, or when there is none); a SQLite store
    locked for longer than ``busy_timeout`` seconds (``MAYADEEN_SQLITE_BUSY_TIMEOUT``) too."""
    if target is None:
        return None
    if target.engine == SQLITE:
        return store_problem(target.location) or lock_problem(target.location, busy_timeout)
    return database_problem(target)


def database_problem(target: StoreTarget) -> EnvironmentProblem | None:
    """Why the PostgreSQL store cannot be used: connecting (and creating its tables) failed."""
    import psycopg

    try:
        connect(target).close()
    except (psycopg.Error, RuntimeError) as exc:
        reason = " ".join(str(exc).split())
        return EnvironmentProblem("store_unusable", f"MAYADEEN_STORE_URL={target}: {reason[:300]}", False)
    return None


def store_problem(path: str) -> EnvironmentProblem | None:
    """Why the SQLite store at ``path`` cannot be written safely (None when it can, or when it is off)."""
    if not path.strip():
        return None
    file = Path(path)
    problem = _writable_place(file, "MAYADEEN_SQLITE_PATH")
    if problem:
        return EnvironmentProblem("store_unusable", problem, False)
    if not file.exists() or file.stat().st_size == 0:
        return None
    recover = f'if it is a damaged store, recover it with: sqlite3 {path} ".recover" | sqlite3 recovered.sqlite'
    try:
        due = soundness.look(file).full_check_due
        problems = soundness.integrity_check(file) if due else []
    except soundness.NotSqlite:
        return EnvironmentProblem(
            "store_unusable",
            f"MAYADEEN_SQLITE_PATH={path}: not a SQLite database (is it the right file? {recover})",
            False,
        )
    except sqlite3.DatabaseError as exc:
        due, problems = "its header or schema cannot be read", [str(exc)]
    if problems:
        verdict = "; ".join(problems)
        verdict = verdict if len(verdict) <= 160 else verdict[:159] + "…"
        return EnvironmentProblem(
            "store_damaged",
            f"MAYADEEN_SQLITE_PATH={path}: the store is damaged ({due}; integrity_check: {verdict});"
            f" nothing was written to it; {recover}",
            False,
        )
    return None


def lock_problem(path: str, wait: float) -> EnvironmentProblem | None:
    """Why no write to the SQLite store at ``path`` can start within ``wait`` seconds: another process
    holds its lock (a ``sqlite3`` shell's open ``BEGIN EXCLUSIVE``, a backup). Asked before the crawl,
    off the reactor, so that it is one line rather than the first write's error in every component."""
    if not path.strip() or not Path(path).exists():
        return None
    try:
        conn = sqlite3.connect(path, timeout=wait, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock, as the first write takes it; released at once
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            return None  # not a lock: the crawl's own writes tell what it is
        return EnvironmentProblem(
            "store_busy",
            f"MAYADEEN_SQLITE_PATH={path}: another process has held the store's lock for more than {wait:g} s"
            " (an open transaction: a sqlite3 shell's BEGIN, a backup); nothing was written; try again once"
            " it is released, or wait longer with -s MAYADEEN_SQLITE_BUSY_TIMEOUT=SECONDS",
            False,
        )
    return None


def feed_problem(settings, spidercls=None) -> EnvironmentProblem | None:
    for path in feed_paths(settings, spidercls):
        problem = _writable_place(path, "feed")
        if problem:
            return EnvironmentProblem("feed_not_writable", problem, True)
    return None


def archive_problem(settings) -> EnvironmentProblem | None:
    """Why the WARC folder cannot take this crawl's archive (None when it can, or when archiving is off)."""
    directory = (settings.get("MAYADEEN_WARC_DIR") or "").strip()
    if not directory:
        return None
    path = Path(directory)
    place = path if path.is_dir() else _existing_ancestor(path)
    what = f"MAYADEEN_WARC_DIR={directory}"
    if not place.is_dir():
        return EnvironmentProblem("archive_not_writable", f"{what}: {place} is not a directory", True)
    if not os.access(place, os.W_OK | os.X_OK):
        return EnvironmentProblem(
            "archive_not_writable", f"{what}: cannot write in {place} (read-only or no permission)", True
        )
    minimum = settings.getfloat("MAYADEEN_MIN_FREE_SPACE_MB", DEFAULT_MIN_FREE_SPACE_MB)
    free = shutil.disk_usage(place).free / 1e6
    if free < minimum:
        return EnvironmentProblem(
            "archive_not_writable",
            f"{what}: only {free:.0f} MB free on its file system, less than MAYADEEN_MIN_FREE_SPACE_MB={minimum:g}",
            True,
        )
    return None
