"""A leased request is acknowledged only once the requests its page led to are queued.

Read with Redis's MONITOR, the crawl's queue, delays and leases (``mayadeen.distributed.queue``) must
never be all empty between two scripts before the crawl's end: at such a moment any other worker's
take finds the crawl seeded with nothing to do and ends it for everyone, and the requests still to
come are dropped (three workers exiting ok with no record between them). A request refused on its way
to its callback is finished and its lease acknowledged too; a page whose item the store refused is
not: it is fetched again, a bounded number of times. (One worker: in process.)
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from urllib.parse import urlsplit

import redis

from mayadeen.components import ITEM_PIPELINES
from mayadeen.distributed.crawl import crawl_status
from mayadeen.distributed.keys import CrawlKeys
from mayadeen.urls import PUBLIC_URL
from tests.conftest import expected_records
from tests.distributed import BUDGET, GATE_TIMEOUT, MeteredServer, RedisServer, needs_redis, worker_in_process
from tests.fixture_server import FixtureSite
from tests.scheduled import stored
from tests.test_store_off_reactor import Meanwhile, Said

pytestmark = needs_redis

END = "end-of-the-watch"


def watch(client, commands: list[dict]) -> threading.Thread:
    """Collects every command Redis runs (scripts' own included) until ``END`` is echoed."""
    monitor = client.monitor()
    monitor.__enter__()  # MONITOR is on once this returns: nothing after it is missed

    def collect() -> None:
        assert client  # held here: a client collected as garbage closes its connections, MONITOR's too
        try:
            while END not in (command := monitor.next_command())["command"]:
                commands.append(command)
        finally:
            monitor.__exit__(None, None, None)

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    return thread


def idle_gaps(commands: list[dict], keys: CrawlKeys) -> list[int]:
    """Indexes of the top-level commands before which the crawl had nothing queued, delayed or leased,
    with work before and after (the moments another worker's take would have ended it)."""
    held = {keys.queue: set(), keys.delayed: set(), keys.leases: set()}
    gaps, work = [], []
    for i, command in enumerate(commands):
        if command["client_type"] != "lua" and work and not any(held.values()):
            gaps.append(i)
        name, key, rest = (command["command"].split(" ", 2) + ["", ""])[:3]
        if key in held and name.upper() == "ZADD":
            held[key].update(rest.split(" ")[1::2])  # score member ...
            work.append(i)
        elif key in held and name.upper() == "ZREM":
            held[key].difference_update(rest.split(" "))
    return [i for i in gaps if i < work[-1]]


def test_a_lease_outlives_the_requests_its_page_yielded(tmp_path):
    """One worker: the home page is the only request seeded, and all of its output is requests."""
    keys = CrawlKeys("sections", "sections")
    commands: list[dict] = []
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        client = redis_srv.client()
        watcher = watch(redis.Redis(host="127.0.0.1", port=redis_srv.port, socket_timeout=300), commands)
        worker = worker_in_process(srv.url, redis_srv.url, tmp_path / "worker", spider="sections")
        client.echo(END)
        watcher.join(30)
    assert not watcher.is_alive(), "MONITOR did not see the end of the watch"
    assert worker.returncode == 0, worker.log[-3000:]
    assert len(srv.paths()) > 20  # the home page led to listings and items
    assert idle_gaps(commands, keys) == []


BROKEN_SITEMAP = "/sitemaps/all/sitemap-2025-2.xml"


def test_a_page_refused_on_the_spider_side_gives_up_its_lease(tmp_path):
    """When a response is refused on its way to the callback (here the discovery-source check raises
    ``IgnoreRequest`` on a monthly sitemap that is an XML declaration and nothing else; Scrapy hands it
    to the request's errback, which ``watch_errback`` wraps) the request is finished with the error
    logged, its lease acknowledged: the crawl ends. (A lease kept by a live worker is renewed at every
    heartbeat: the crawl would never end.) This test used to make the sitemap callback raise through a
    locked store, which now fetches the items instead (``mayadeen.store.freshness``)."""
    settings = {**BUDGET, "MAYADEEN_WARC_DIR": "", "MAYADEEN_REDIS_LEASE_TTL": "2"}
    settings["MAYADEEN_STORE_REACTOR_TIMEOUT"] = "1"  # below the lease TTL, or the worker is refused
    keys = CrawlKeys("sitemap", "sitemap")
    site = FixtureSite()
    site.override(BROKEN_SITEMAP, b'<?xml version="1.0"?>', content_type="application/xml")
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer(site) as srv:
        worker = worker_in_process(srv.url, redis_srv.url, tmp_path / "worker", settings=settings)
        status = crawl_status(redis_srv.client(), keys)
    log = worker.log
    assert f"Could not read the discovery source {PUBLIC_URL}{BROKEN_SITEMAP}: not a sitemap" in log, log[-3000:]
    assert worker.returncode in (0, 1) and "Run summary: spider=" in log.strip().splitlines()[-1], log[-3000:]
    assert (status["status"], status["queued"], status["in_flight"]) == ("ended", 0, 0)
    assert worker.stat("mayadeen/redis/acked") == worker.stat("mayadeen/redis/taken") > 0


#: The item whose write the store refuses, and the page it is on.
REFUSED = sorted(expected_records())[0]
REFUSED_PATH = urlsplit(REFUSED).path


class HoldsRefetch(MeteredServer):
    """The fixture site; a second request for ``REFUSED_PATH`` waits until ``release`` is set."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()
        self._fetches = 0
        self._count = threading.Lock()

    def handle(self, handler, answer) -> None:
        if urlsplit(handler.path).path == REFUSED_PATH:
            with self._count:
                self._fetches += 1
                again = self._fetches > 1
            if again:
                self.release.wait(GATE_TIMEOUT)
        super().handle(handler, answer)


def refuse_while(steps_after_refusal, tmp_path, settings: dict):
    """One worker crawls ``sitemap`` while its SQLite store refuses to write ``REFUSED`` (a trigger,
    made once the store is open and before any page is fetched); ``steps_after_refusal(store, srv)``
    runs in a thread of the test once the worker has logged the first refusal."""
    workdir = tmp_path / "worker"
    store = workdir / "mayadeen.sqlite"

    def steps() -> None:
        try:
            assert seeded.seen.wait(60), "the start requests were not queued"  # the store is open
            with sqlite3.connect(store) as con:
                con.execute(
                    f"CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.url = '{REFUSED}'"
                    " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            srv.gate.set()
            assert refused.seen.wait(60), "the store did not refuse the item"
            steps_after_refusal(store, srv)
        finally:
            srv.gate.set()
            srv.release.set()

    with (
        RedisServer(tmp_path / "redis") as redis_srv,
        HoldsRefetch() as srv,
        Said("mayadeen.distributed.seeding", "Start requests queued") as seeded,
        Said("mayadeen.pipelines.store", f"Could not store {REFUSED}") as refused,
    ):
        srv.gate.clear()
        meanwhile = Meanwhile(steps)
        meanwhile.start()
        worker = worker_in_process(
            srv.url, redis_srv.url, workdir, settings={**BUDGET, "MAYADEEN_WARC_DIR": "", **settings}
        )
        meanwhile.check()
        status = crawl_status(redis_srv.client(), CrawlKeys("sitemap", "sitemap"))
    assert (status["status"], status["queued"], status["in_flight"]) == ("ended", 0, 0), worker.log[-3000:]
    return worker, Counter(urlsplit(p).path for p in srv.paths()), stored(store)


def test_a_page_whose_item_the_store_refused_is_fetched_again(tmp_path):
    """The store refuses one item's write once (then the trigger is dropped): its page is not
    acknowledged but retried, fetched again, and its item stored, once; nothing is lost."""

    def accept(store, srv) -> None:
        with sqlite3.connect(store) as con:
            con.execute("DROP TRIGGER refuse")
        srv.release.set()  # the page's second fetch, held until the store accepts

    worker, fetched, records = refuse_while(accept, tmp_path, {"MAYADEEN_RETRY_BACKOFF_BASE": "0.1"})
    log = worker.log
    assert worker.returncode == 0 and "result=ok" in log.strip().splitlines()[-1], log[-3000:]
    assert " dropped=0 " in log.strip().splitlines()[-1]  # the refused copy is no drop: its page came again
    assert f"Could not store {REFUSED} in " in log and "its page will be fetched again" in log
    assert fetched[REFUSED_PATH] == 2
    assert set(records) == set(expected_records())  # every item, the refused one too
    lines = [json.loads(line)["url"] for line in (tmp_path / "worker" / "articles.jsonl").open(encoding="utf-8")]
    assert sorted(lines) == sorted(expected_records())  # the feed has the stored copy only
    assert worker.stat("mayadeen/store/refused") == worker.stat("mayadeen/redis/unstored/count") == 1
    assert worker.stat("mayadeen/lost/store") is None
    assert worker.stat("mayadeen/redis/acked") == worker.stat("mayadeen/redis/taken") - 1  # the retry replaced one


def test_a_page_whose_item_the_store_always_refuses_is_given_up(tmp_path):
    """The store never takes the item: its page is fetched 1 + RETRY_TIMES times, then given up with
    one clear line and counted lost (the run fails); the crawl still ends."""
    settings = {"RETRY_TIMES": "2", "MAYADEEN_RETRY_BACKOFF_BASE": "0.1"}
    worker, fetched, records = refuse_while(lambda store, srv: srv.release.set(), tmp_path, settings)
    log = worker.log
    assert worker.returncode == 1 and "result=FAILED (lost_records)" in log.strip().splitlines()[-1], log[-3000:]
    assert fetched[REFUSED_PATH] == 3
    assert f"Gave up retrying <GET {REFUSED}> (failed 3 times): item not stored" in log
    assert set(records) == set(expected_records()) - {REFUSED}
    assert worker.stat("mayadeen/store/refused") == worker.stat("mayadeen/redis/unstored/count") == 2
    assert worker.stat("mayadeen/lost/store") == worker.stat("mayadeen/redis/unstored/max_reached") == 1


class FailsOnce:
    """An item pipeline (before the store) that raises on ``REFUSED`` the first ``times`` times."""

    failed = 0
    times = 1

    def process_item(self, item):
        if item["url"] == REFUSED and FailsOnce.failed < FailsOnce.times:
            FailsOnce.failed += 1
            raise RuntimeError("a pipeline failed on the item")
        return item


def crawl_failing(tmp_path, times: int, settings: dict):
    """One worker crawls ``sitemap`` with ``FailsOnce`` raising on ``REFUSED`` ``times`` times: the
    worker, how often ``REFUSED``'s page was fetched, and the stored URLs (the crawl has ended)."""
    FailsOnce.failed, FailsOnce.times = 0, times
    pipelines = {**ITEM_PIPELINES, f"{__name__}.FailsOnce": 700}
    settings = {**BUDGET, "MAYADEEN_WARC_DIR": "", **settings, "ITEM_PIPELINES": json.dumps(pipelines)}
    workdir = tmp_path / "worker"
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        worker = worker_in_process(srv.url, redis_srv.url, workdir, settings=settings)
        status = crawl_status(redis_srv.client(), CrawlKeys("sitemap", "sitemap"))
    assert (status["status"], status["queued"], status["in_flight"]) == ("ended", 0, 0), worker.log[-3000:]
    fetched = Counter(urlsplit(p).path for p in srv.paths())[REFUSED_PATH]
    return worker, fetched, set(stored(workdir / "mayadeen.sqlite"))


def test_a_page_whose_item_a_pipeline_failed_on_is_fetched_again(tmp_path):
    """A pipeline raises on one item (``item_error``): its page is not acknowledged but fetched again,
    and its item stored."""
    worker, fetched, records = crawl_failing(tmp_path, 1, {"MAYADEEN_RETRY_BACKOFF_BASE": "0.1"})
    assert FailsOnce.failed == 1 and "a pipeline failed on the item" in worker.log, worker.log[-3000:]
    assert fetched == 2 and records == set(expected_records())
    assert worker.stat("mayadeen/redis/unstored/count") == 1


def test_an_item_a_pipeline_always_fails_on_is_lost_and_without_retries_given_up_at_once(tmp_path):
    """The pipeline raises every time and retries are off: the page is fetched once, acknowledged, and
    the item counted lost; the run fails ``lost_records``."""
    worker, fetched, records = crawl_failing(tmp_path, 99, {"RETRY_ENABLED": "False"})
    log = worker.log
    assert fetched == 1 and records == set(expected_records()) - {REFUSED}
    assert worker.stat("mayadeen/lost/pipeline") == 1 and worker.stat("mayadeen/redis/unstored/count") is None
    assert worker.returncode == 1 and "result=FAILED (lost_records)" in log.strip().splitlines()[-1], log[-3000:]
