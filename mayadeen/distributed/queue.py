"""The crawl's shared request queue, where a request taken is leased, not removed.

A request lives in Redis under an id (``data``: the request as Scrapy's ``Request.to_dict`` gives it,
callbacks by name, pickled as Scrapy's disk queues do, read back with ``request_from_dict``; ``prio``:
its queue score) and is, at any moment, in exactly one of

``queue``
    waiting; taken highest priority first, oldest first among equals;
``delayed``
    a retry waiting out its backoff (Redis time it may be taken);
``leases``
    taken by a worker (``owner``) until its lease expires. The worker's heartbeat renews it. It is
    acknowledged (and forgotten) once the worker has finished with the request: its response handled,
    every request it led to queued, every item it gave stored (``mayadeen.distributed.acks``).

A lease that expires — its worker was SIGKILLed, its machine lost — goes back to the queue the next
time any worker takes a request, and another worker fetches it in the same crawl. The store's upsert
by url makes a second fetch of an item already stored harmless. A request whose lease has expired
``MAYADEEN_REDIS_MAX_LEASE_EXPIRIES`` times (``expiries`` counts them) is not queued again but given
up (``given_up``: its data stays, for ``scrapy crawlstatus``): a page that kills every worker that
fetches it would otherwise take them down one after the other for as long as the crawl runs.

The scripts (``mayadeen.distributed.queue_scripts``) are atomic, so no request can be lost between
two steps: ``push`` adds a request only if its fingerprint is new to the crawl's duplicate filter (the
crawler's ``REQUEST_FINGERPRINTER``, as in a local run, in a Redis set tested and added in the same
script as the push, so a crash cannot leave a request "seen" but never queued), and can acknowledge
the request it replaces (a retry or a redirect) in the same step; ``take`` checks the politeness
budget (``mayadeen.distributed.budget``) and leases the head of the queue in one step, or says how
long to wait, or that the crawl has ended: seeded, and nothing queued, delayed or leased.

Each ``push`` and ``take`` carries a nonce, and ``replies`` keeps, per worker, the nonce of its last
push or grant with the answer: the same call run again after its answer was lost
(``mayadeen.distributed.link``) gets that answer, not a second request queued or leased.
"""

from __future__ import annotations

import pickle
import uuid
from dataclasses import dataclass

from scrapy.utils.request import request_from_dict

from mayadeen.distributed.keys import CrawlKeys
from mayadeen.distributed.queue_scripts import ACK, PUSH, RELEASE, RENEW, TAKE

GRANTED, WAIT, EMPTY, ENDED = "granted", "wait", "empty", "ended"
QUEUED, FILTERED = "queued", "filtered"


@dataclass(frozen=True)
class Take:
    """What ``take`` gave: a request (``GRANTED``, with its lease id and budget slot; ``alone``: its lease
    expired before, so the worker takes nothing more until it is done with it), a wait in seconds
    (``WAIT``; -1: until a budget slot is freed or, holding leases, until a request that needs no
    worker of its own comes), nothing queued (``EMPTY``), or the crawl's end; and the URLs of the
    requests it gave up on the way (``given_up``: their leases expired too often; None for a request
    this code cannot read)."""

    kind: str
    request: object = None
    lease: str | None = None
    slot: str | None = None
    wait: float = 0.0
    given_up: tuple[str | None, ...] = ()
    alone: bool = False


def _nonce() -> str:
    """Names one push or take, made before the link's call so that every try of it sends the same."""
    return uuid.uuid4().hex


def request_url(data: bytes) -> str | None:
    """The URL of a request as the queue holds it (its callbacks need no spider to read that); None when
    this code cannot read it (written by another version, naming a class this one lacks)."""
    try:
        return pickle.loads(data)["url"]  # noqa: S301 - see _decode_request
    except Exception:  # any unpickling error: the request is reported as unreadable, not a crash
        return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class LeasedQueue:
    """The crawl's queue as this worker sees it: push, take (with the budget), ack, renew, release.

    ``epoch`` is the crawl this worker joined: once it has ended (or a new crawl replaced it) ``push``
    and ``take`` say so instead of touching the next crawl's queue.
    """

    def __init__(
        self, spider, keys: CrawlKeys, link, *, worker: str, epoch: str, lease_ttl: float, max_expiries: int = 0
    ):
        self.spider = spider
        self.keys = keys
        self.link = link
        self.worker = worker
        self.epoch = epoch
        self.lease_ttl = lease_ttl
        self.max_expiries = max_expiries  # MAYADEEN_REDIS_MAX_LEASE_EXPIRIES (0: never give up)
        self.slot_prefix = f"{keys.spider}:{keys.crawl_id}:"
        self._take = link.script(TAKE)
        self._push = link.script(PUSH)
        self._ack = link.script(ACK)
        self._renew = link.script(RENEW)
        self._release = link.script(RELEASE)

    def __len__(self) -> int:
        return self.link.call("queue length", self.link.client.zcard, self.keys.queue)

    def _encode_request(self, request) -> bytes:
        return pickle.dumps(request.to_dict(spider=self.spider), protocol=4)

    def _decode_request(self, data: bytes):
        # Redis is the crawl's own store, written only by its workers (as JOBDIR's disk queues are).
        return request_from_dict(pickle.loads(data), spider=self.spider)  # noqa: S301

    def push(
        self,
        request,
        *,
        fingerprint: str = "",
        delay: float = 0.0,
        replaces: str | None = None,
        nonce: str | None = None,
    ) -> str:
        """Queue ``request`` (``QUEUED``), unless ``fingerprint`` was seen in this crawl (``FILTERED``) or
        the crawl has ended (``ENDED``). ``delay``: seconds before it may be taken. ``replaces``: the
        lease id of the request it takes the place of, acknowledged in the same step. ``nonce``: see
        ``take`` (an unfiltered request pushed again would be queued twice)."""
        k = self.keys
        data = self._encode_request(request)
        result = self.link.call(
            "queue push",
            self._push,
            keys=[
                *(k.state, k.queue, k.data, k.prio, k.delayed, k.dupefilter, k.seq),
                *(k.leases, k.owner, k.replies, k.expiries),
            ],
            args=[
                self.epoch,
                fingerprint,
                data,
                -request.priority,
                f"{max(delay, 0.0):.6f}",
                replaces or "",
                self.worker,
                nonce or _nonce(),
            ],
        )
        return _text(result)

    def take(self, budget, *, held: int = 0, nonce: str | None = None) -> Take:
        """Lease the head of the queue if the site's budget allows a request now.

        ``nonce`` (new for each call by default) names this take: the link tries a call again when its
        answer was lost, and the script, run again with the same nonce while this worker still holds
        the lease it granted, answers the same grant instead of leasing a second request that this
        worker would never know of (never renewed, it would expire and hold a budget slot meanwhile).
        The script remembers only this worker's last grant: the link's thread makes one call at a time,
        so only the last one can be tried again. ``held``: the leases this worker holds (a request whose
        lease expired before is granted only to a worker that holds none)."""
        k, b = self.keys, budget.keys
        delay, concurrency, slot_ttl = budget.args
        reply = self.link.call(
            "queue take",
            self._take,
            keys=[
                *(k.state, k.queue, k.data, k.prio, k.delayed, k.leases, k.owner),
                *(b.slots, b.next, b.paused),
                *(k.dupefilter, k.seq, k.replies, k.expiries, k.given_up),
            ],
            args=[
                *(self.epoch, self.worker, f"{self.lease_ttl:.3f}"),
                *(delay, concurrency, slot_ttl, self.slot_prefix),
                nonce or _nonce(),
                self.max_expiries,
                held,
            ],
        )
        kind, given_up = _text(reply[0]), tuple(request_url(data) for data in reply[-1])
        if kind == GRANTED:
            request = self._decode_request(reply[2])
            return Take(GRANTED, request, _text(reply[1]), _text(reply[3]), given_up=given_up, alone=bool(reply[4]))
        if kind == WAIT:
            return Take(WAIT, wait=float(reply[1]), given_up=given_up)
        return Take(kind, given_up=given_up)

    def ack(self, *leases: str) -> int:
        """Forget finished requests (only those this worker still holds); returns how many."""
        if not leases:
            return 0
        k = self.keys
        return self.link.call(
            "lease ack", self._ack, keys=[k.leases, k.owner, k.data, k.prio], args=[self.worker, *leases]
        )

    def renew(self, leases) -> None:
        if leases:
            self.link.call(
                "lease renew",
                self._renew,
                keys=[self.keys.leases, self.keys.owner],
                args=[self.worker, f"{self.lease_ttl:.3f}", *sorted(leases)],
            )

    def release(self, leases) -> int:
        """Put unfinished requests back in the queue for other workers (a worker closing early)."""
        if not leases:
            return 0
        k = self.keys
        return self.link.call(
            "lease release",
            self._release,
            keys=[k.queue, k.prio, k.leases, k.owner],
            args=[self.worker, *sorted(leases)],
        )
