"""A script that Redis ran but whose reply was lost is run again by the link: on a real redis-server,
run again it answers what it answered the first time instead of doing its work twice (a second lease
nobody renews, an unfiltered request queued twice, a budget slot counted against itself)."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
import scrapy

from mayadeen.distributed.link import RedisLink
from mayadeen.distributed.queue import EMPTY, GRANTED, QUEUED, LeasedQueue
from tests.distributed import needs_redis
from tests.test_distributed_scripts import budget, queue_of, redis_srv, started_crawl  # noqa: F401 (a fixture)

pytestmark = needs_redis


class ReplyDropper:
    """A TCP relay to Redis on 127.0.0.1 that, once ``armed``, passes the next command on to Redis but
    drops Redis's reply and both connections: Redis ran the command, the client never hears of it."""

    def __init__(self, port: int):
        self.port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.armed, self.dropped = threading.Event(), threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(("127.0.0.1", self.port))
            threading.Thread(target=self._relay, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._relay, args=(upstream, client, True), daemon=True).start()

    def _relay(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        try:
            while data := src.recv(65536):
                if replies and self.armed.is_set():
                    self.armed.clear()
                    self.dropped.set()
                    break
                dst.sendall(data)
        except OSError:
            pass  # the other direction closed both
        for sock in (src, dst):
            # shutdown, not close alone: the client hears of it at once (a close leaves the socket open
            # while the other relay thread waits in recv on it, and the client waits its socket timeout)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def dropper(redis_srv):  # noqa: F811 (the fixture imported above)
    redis_srv.client().flushall()
    relay = ReplyDropper(redis_srv.port)
    yield relay
    relay.close()


@pytest.fixture
def link(dropper):
    link = RedisLink(dropper.url, retry_timeout=5)
    yield link
    if link.thread is not None:
        link.thread.stop()


def joined(link) -> LeasedQueue:
    return queue_of(link, "w1", started_crawl(link).epoch)


def queued(queue, *paths) -> None:
    for path in paths:
        assert queue.push(scrapy.Request(f"https://site.test/{path}"), fingerprint=path) == QUEUED


def test_a_take_run_again_with_its_nonce_grants_the_same_lease(link):
    queue, site = joined(link), budget(link)
    queued(queue, "a", "b")
    first, again = queue.take(site, nonce="n1"), queue.take(site, nonce="n1")
    assert first.kind == again.kind == GRANTED
    assert (again.lease, again.slot, again.request.url) == (first.lease, first.slot, first.request.url)
    assert link.client.zcard(queue.keys.leases) == 1 and len(queue) == 1
    assert link.client.zcard(site.keys.slots) == 1
    second = queue.take(site, nonce="n2")  # another take: another request
    assert second.kind == GRANTED and second.lease != first.lease
    assert link.client.zcard(queue.keys.leases) == 2 and len(queue) == 0


def test_a_nonce_whose_lease_is_gone_takes_anew(link):
    queue, site = joined(link), budget(link)
    queued(queue, "a", "b")
    first = queue.take(site, nonce="n1")
    assert queue.ack(first.lease) == 1
    again = queue.take(site, nonce="n1")  # the grant it remembers is no longer held: not handed twice
    assert again.kind == GRANTED and again.lease != first.lease
    assert link.client.zcard(queue.keys.leases) == 1


def test_a_take_whose_reply_was_lost_leases_one_request(link, dropper):
    queue, site = joined(link), budget(link)
    assert queue.take(site).kind == EMPTY  # loads the script before the relay drops a reply
    queued(queue, "a", "b")
    dropper.armed.set()
    taken = queue.take(site)  # Redis leases a; the reply is lost; the link tries again
    assert dropper.dropped.is_set()
    assert taken.kind == GRANTED and taken.request.url == "https://site.test/a"
    assert link.client.zrange(queue.keys.leases, 0, -1) == [taken.lease.encode()]
    assert len(queue) == 1  # b still waits for a worker that knows of it


def test_a_push_whose_reply_was_lost_queues_once(link, dropper):
    queue, site = joined(link), budget(link)
    queued(queue, "a")
    lease = queue.take(site).lease
    dropper.armed.set()
    retry = scrapy.Request("https://site.test/a", dont_filter=True)  # unfiltered: no duplicate filter to stop it
    assert queue.push(retry, replaces=lease) == QUEUED
    assert dropper.dropped.is_set()
    assert len(queue) == 1 and link.client.zcard(queue.keys.leases) == 0


def test_a_budget_grant_whose_reply_was_lost_is_granted(link, dropper):
    site = budget(link, concurrency=1)
    assert site.grant("robots:w0") == 0  # loads the script before the relay drops a reply
    site.free(["robots:w0"])
    dropper.armed.set()
    assert site.grant("robots:w1") == 0  # granted, reply lost, run again: still granted, not "wait"
    assert dropper.dropped.is_set()
    assert link.client.zrange(site.keys.slots, 0, -1) == [b"robots:w1"]
