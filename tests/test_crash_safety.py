"""Crash safety: SIGKILL a crawl that writes SQLite at random moments; nothing is ever half-written.

10 seeded rounds in 2 groups of 5 (the two run side by side), each group on a fresh store: every round starts
`scrapy crawl sections` against a slowed fixture server and SIGKILLs it at a random moment of its
write phase, drawn from the seed and measured by the run's own progress: just after its k-th item
request, k drawn among the items it has to fetch (all of them in a full round, those not stored yet
in an incremental one; a round with nothing to fetch is not killed). Odd rounds re-fetch everything (``-a full=1``)
from a server whose
articles have changed, so kills also land in the middle of revisions (old version filed, row
replaced). After every kill: ``PRAGMA integrity_check`` is ok, every row (and every filed revision)
is a whole record that passes the schema and equals one of the two versions served, no URL or
article id is stored twice. After each group an unkilled run completes the set: every expected
record exactly, once. A reader thread polls the store through every round and must never get an
error.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse

from mayadeen.pages.article import ArticlePage
from mayadeen.record import validation_errors
from mayadeen.store.model import JSON_COLUMNS, RECORD_COLUMNS
from mayadeen.store.sqlite import ArticleStore
from mayadeen.urls import PUBLIC_URL, item_kind
from tests import inprocess
from tests.conftest import FAST, ROOT, expected_records
from tests.fault_server import FaultServer
from tests.fixture_server import Answer, FixtureSite

SEED = 5150
#: Two groups: one per core; more groups repeat the same kinds of kill moments at twice the cost.
GROUPS, ROUNDS = 2, 5
#: Seconds after the chosen item request within which the kill falls (around that item's write).
KILL_JITTER = 0.25
#: A slow server and few requests at a time spread the writes out over the crawl.
SLOW = {"CONCURRENT_REQUESTS": "3", "RETRY_TIMES": "2"}
SERVER_DELAY = 0.03
UPDATE = b"<p>Update: this report was revised after publication.</p>"

FIGURES = {
    "kills": 0,
    "rows_checked": 0,
    "reader_queries": 0,
    "reader_errors": 0,
    "completed_before_kill": 0,
    "rounds_with_work": 0,
}


def _changed(body: bytes) -> bytes:
    """The page with a paragraph added at the top of its body (a new revision of the article)."""
    marker = b'id="article-content"'
    at = body.find(marker)
    if at < 0:
        return body
    end = body.index(b">", at) + 1
    return body[:end] + UPDATE + body[end:]


class RevisingSite(FaultServer):
    """The fixture site, slowed down, serving the changed version of every item while ``changed``."""

    def __init__(self):
        super().__init__(delay=SERVER_DELAY)
        self.changed = False

    def handle(self, handler, answer: Answer) -> None:
        path = handler.path.split("?")[0]
        if self.changed and answer.status == 200 and item_kind(PUBLIC_URL + path):
            answer = Answer(answer.status, answer.content_type, _changed(answer.body), answer.headers)
        super().handle(handler, answer)

    def item_requests(self) -> int:
        return sum(1 for h in self.hits() if item_kind(PUBLIC_URL + h.path.split("?")[0]))


def _versions() -> dict[str, list[dict]]:
    """url -> the records of both versions the server serves (original, changed)."""
    site = FixtureSite()
    out = {}
    for url, want in expected_records().items():
        path = url.removeprefix(PUBLIC_URL)
        changed = dict(ArticlePage(HtmlResponse(url, body=_changed(site.body(path)), encoding="utf-8")).to_item())
        out[url] = [want, {k: changed.get(k) for k in want}]
        assert out[url][1]["body"] != want["body"], f"the changed version of {url} is not different"
    return out


def crawl_command(server_url: str, workdir: Path, sqlite: Path, full: bool) -> tuple[list[str], dict]:
    """What ``tests.conftest.run_crawl`` runs, as a command to start (and kill) ourselves."""
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        "sections",
        "-a",
        f"base_url={server_url}",
        "-a",
        "js=0",
        "-o",
        f"{workdir / 'articles.jsonl'}:jsonlines",
        "-s",
        f"MAYADEEN_SQLITE_PATH={sqlite}",
        "-s",
        f"MAYADEEN_WARC_DIR={workdir / 'warc'}",
    ]
    if full:
        cmd += ["-a", "full=1"]
    for k, v in {**FAST, **SLOW}.items():
        cmd += ["-s", f"{k}={v}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "mayadeen.settings"}
    return cmd, env


class Reader(threading.Thread):
    """Polls the store the way a user would while crawls write it; collects every error it gets."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.queries = 0
        self.errors: list[str] = []

    def run(self):
        while not self.stop.is_set():
            if not self._ready():
                time.sleep(0.01)
                continue
            try:
                with ArticleStore(self.path, readonly=True) as store:
                    store.count()
                    list(store.iter_records())
                    for row in store.conn.execute("SELECT * FROM articles"):
                        assert row[0].startswith(PUBLIC_URL)
                con = sqlite3.connect(self.path, timeout=10)
                try:
                    con.execute("SELECT count(*), max(revision) FROM articles").fetchone()
                    con.execute("SELECT count(*) FROM article_revisions").fetchone()
                finally:
                    con.close()
                self.queries += 1
            except Exception as exc:  # noqa: BLE001 - any error a reader sees is a failure
                self.errors.append(repr(exc))
            time.sleep(0.02)

    def _ready(self) -> bool:
        """The store exists with its tables (before that there is nothing to read)."""
        if not self.path.exists():
            return False
        try:
            con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
            try:
                query = "SELECT count(*) FROM sqlite_master WHERE name='article_revisions'"
                return con.execute(query).fetchone()[0] == 1
            finally:
                con.close()
        except sqlite3.Error:
            return False


def check_store(path: Path, versions: dict[str, list[dict]]) -> int:
    """Integrity, whole rows, no duplicates; returns the number of rows checked."""
    con = sqlite3.connect(path, timeout=10)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = con.execute(f"SELECT {', '.join(RECORD_COLUMNS)}, revision FROM articles").fetchall()
        urls = [r[0] for r in rows]
        assert len(urls) == len(set(urls))
        ids = [r[1] for r in rows]
        assert len(ids) == len(set(ids)), "an article stored under two URLs"
        for row in rows:
            record = {
                c: (json.loads(v) if c in JSON_COLUMNS and v is not None else v)
                for c, v in zip(RECORD_COLUMNS, row, strict=False)
            }
            assert validation_errors(record) == [], (record["url"], validation_errors(record))
            served = versions[record["url"]]
            assert {k: record[k] for k in served[0]} in served, f"{record['url']}: a row that was never served"
        for url, revision, blob in con.execute("SELECT url, revision, record FROM article_revisions"):
            old = json.loads(blob)
            assert validation_errors(old) == [], (url, revision)
            assert {k: old[k] for k in versions[url][0]} in versions[url]
        (orphans,) = con.execute(
            "SELECT count(*) FROM article_revisions r LEFT JOIN articles a USING (url)"
            " WHERE a.url IS NULL OR r.revision >= a.revision"
        ).fetchone()
        assert orphans == 0, "a filed revision without its newer row"
        return len(rows)
    finally:
        con.close()


def items_to_fetch(path: Path, full: bool) -> int:
    """How many item pages a round has to fetch: all in a full round, else those not stored yet."""
    expected = set(expected_records())
    if full or not path.exists():
        return len(expected)
    con = sqlite3.connect(path, timeout=10)
    try:
        return len(expected - {url for (url,) in con.execute("SELECT url FROM articles")})
    finally:
        con.close()


class Group:
    """One group of rounds on a fresh store, its server and its reader (started and stopped with ``with``)."""

    def __init__(self, group: int, tmp: Path):
        self.rng = random.Random(SEED + group)
        self.sqlite = tmp / f"group{group}" / "mayadeen.sqlite"
        self.sqlite.parent.mkdir(parents=True)
        self.reader = Reader(self.sqlite)
        self.site = RevisingSite()
        self.figures = {"kills": 0, "rows_checked": 0, "completed_before_kill": 0, "rounds_with_work": 0}

    def __enter__(self) -> Group:
        self.site.__enter__()
        self.reader.start()
        return self

    def __exit__(self, *exc) -> None:
        self.reader.stop.set()
        self.reader.join(timeout=10)
        self.site.__exit__(*exc)

    def kill_rounds(self, versions) -> None:
        """The ROUNDS crawls, each SIGKILLed at its drawn moment (the process is the point: subprocesses)."""
        rng, site, sqlite, figures = self.rng, self.site, self.sqlite, self.figures
        for n in range(ROUNDS):
            full = n % 2 == 1
            site.changed = full and rng.random() < 0.7
            todo = items_to_fetch(sqlite, full)
            kill_after = rng.randint(1, todo) if todo else None  # the item request to kill after
            kill_delay = rng.uniform(0, KILL_JITTER)
            site.log.clear()
            cmd, env = crawl_command(site.url, sqlite.parent / f"round{n}", sqlite, full)
            (sqlite.parent / f"round{n}").mkdir()
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
            try:
                if kill_after is not None:
                    figures["rounds_with_work"] += 1
                    deadline = time.monotonic() + 60
                    while proc.poll() is None and site.item_requests() < kill_after and time.monotonic() < deadline:
                        time.sleep(0.005)
                    time.sleep(kill_delay)
                    if proc.poll() is None:
                        os.killpg(proc.pid, signal.SIGKILL)
                        figures["kills"] += 1
                    else:
                        figures["completed_before_kill"] += 1
            finally:
                proc.wait(timeout=60)
            figures["rows_checked"] += check_store(sqlite, versions)

    def complete(self, versions) -> dict:
        """A run left alone completes the set (in this process: it is not killed; the reader still reads)."""
        self.site.changed = False
        workdir = self.sqlite.parent / "final"
        inprocess.crawl(
            "sections", self.site.url, workdir, args={"js": "0", "full": "1"}, settings=SLOW, sqlite=self.sqlite
        )
        self.reader.stop.set()
        self.reader.join(timeout=10)
        self.figures["rows_checked"] += check_store(self.sqlite, versions)
        con = sqlite3.connect(self.sqlite)
        final = {r[0]: r for r in con.execute(f"SELECT {', '.join(RECORD_COLUMNS)} FROM articles")}
        con.close()
        return {
            **self.figures,
            "reader_queries": self.reader.queries,
            "reader_errors": self.reader.errors,
            "final": final,
        }


@pytest.mark.soak
def test_sigkill_at_random_moments_never_corrupts_or_loses(tmp_path):
    versions = _versions()
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        groups = [stack.enter_context(Group(g, tmp_path)) for g in range(GROUPS)]
        with ThreadPoolExecutor(max_workers=GROUPS) as pool:
            list(pool.map(lambda group: group.kill_rounds(versions), groups))
        # One at a time: an in-process crawl is the main thread's (its signal handlers, its log capture).
        results = [group.complete(versions) for group in groups]
    expected = expected_records()
    for figures in results:
        assert figures["reader_errors"] == [], figures["reader_errors"][:5]
        assert figures["reader_queries"] > 0
        final = figures["final"]
        assert set(final) == set(expected), f"lost: {set(expected) - set(final)}"
        for url, row in final.items():
            record = {
                c: (json.loads(v) if c in JSON_COLUMNS and v is not None else v)
                for c, v in zip(RECORD_COLUMNS, row, strict=False)
            }
            assert {k: record[k] for k in expected[url]} == expected[url], url
        for key in ("kills", "rows_checked", "reader_queries", "completed_before_kill", "rounds_with_work"):
            FIGURES[key] += figures[key]
    # The first round and the full rounds always have work; most rounds with work were killed mid-crawl.
    assert FIGURES["rounds_with_work"] >= GROUPS * (1 + ROUNDS // 2), FIGURES
    assert FIGURES["kills"] >= FIGURES["rounds_with_work"] * 0.75, FIGURES
    print(
        f"\ncrash safety: {FIGURES['kills']} SIGKILLs survived in {FIGURES['rounds_with_work']} rounds with work"
        f" ({FIGURES['completed_before_kill']} runs ended before their kill), {FIGURES['rows_checked']} rows"
        f" checked whole, integrity_check ok after every kill, {FIGURES['reader_queries']} reader polls"
        f" without an error, items lost: 0"
        f" ({time.monotonic() - started:.0f}s)"
    )
