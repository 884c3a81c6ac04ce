"""A leased request is acknowledged only once the requests its page led to are queued.

Read with Redis's MONITOR, the crawl's queue, delays and leases (``mayadeen.distributed.queue``) must
never be all empty between two scripts before the crawl's end: at such a moment any other worker's
take finds the crawl seeded with nothing to do and ends it for everyone, and the requests still to
come are dropped (three workers exiting ok with no record between them).
"""

from __future__ import annotations

import threading

import redis

from mayadeen.distributed.keys import CrawlKeys
from tests.distributed import MeteredServer, RedisServer, finish, log_of, needs_redis, start_worker

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
        (code,) = finish([start_worker("sections", srv.url, tmp_path / "worker", redis_srv.url)])
        client.echo(END)
        watcher.join(30)
    assert not watcher.is_alive(), "MONITOR did not see the end of the watch"
    assert code == 0, log_of(tmp_path / "worker")[-3000:]
    assert len(srv.paths()) > 20  # the home page led to listings and items
    assert idle_gaps(commands, keys) == []
