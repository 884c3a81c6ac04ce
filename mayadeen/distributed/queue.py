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

The scripts are atomic, so no request can be lost between two steps: ``push`` adds a request only if
its fingerprint is new to the crawl's duplicate filter (the crawler's ``REQUEST_FINGERPRINTER``, as in
a local run, in a Redis set tested and added in the same script as the push, so a crash cannot leave a
request "seen" but never queued), and can acknowledge the request it replaces (a retry or a redirect)
in the same step; ``take`` checks the politeness budget (``mayadeen.distributed.budget``) and leases
the head of the queue in one step, or says how long to wait, or that the crawl has ended: seeded, and
nothing queued, delayed or leased.

Each ``push`` and ``take`` carries a nonce, and ``replies`` keeps, per worker, the nonce of its last
push or grant with the answer: the same call run again after its answer was lost
(``mayadeen.distributed.link``) gets that answer, not a second request queued or leased.
"""

from __future__ import annotations

import pickle
import uuid
from dataclasses import dataclass

from scrapy.utils.request import request_from_dict

from mayadeen.distributed.budget import BUDGET_LUA
from mayadeen.distributed.keys import CrawlKeys
from mayadeen.distributed.lua import PRELUDE

_RUNNING = """
local function running(state, epoch)
  return redis.call('HGET', state, 'epoch') == epoch and redis.call('HGET', state, 'status') == 'running'
end
local function ack(leases, owner, data, prio, id, worker)
  if redis.call('HGET', owner, id) ~= worker then return 0 end
  redis.call('ZREM', leases, id)
  redis.call('HDEL', owner, id)
  redis.call('HDEL', data, id)
  redis.call('HDEL', prio, id)
  return 1
end
"""

# KEYS: state queue data prio delayed leases owner slots next paused dupefilter seq replies expiries given_up
# ARGV: epoch worker lease_ttl delay concurrency slot_ttl slot_prefix nonce max_expiries (0: no limit)
#       held (leases this worker holds)
# Every reply ends with the data of the requests this take gave up (usually none); a grant's has whether
# it is to be fetched alone before it.
_TAKE = (
    PRELUDE
    + BUDGET_LUA
    + _RUNNING
    + """
local t = now()
local given = {}
local function answer(reply)
  local data = {}
  for _, id in ipairs(given) do data[#data + 1] = redis.call('HGET', KEYS[3], id) end
  reply[#reply + 1] = data
  return reply
end
local function remember(id, slot)
  redis.call('HSET', KEYS[13], ARGV[2], cjson.encode({ARGV[8], id, slot, given}))
end
local function granted(id, slot)
  return answer({'granted', id, redis.call('HGET', KEYS[3], id), slot, redis.call('HEXISTS', KEYS[14], id)})
end
-- Run again (same nonce; its answer was lost): what it gave up, and below its grant while still held.
local last = redis.call('HGET', KEYS[13], ARGV[2])
last = last and cjson.decode(last)
if last and last[1] == ARGV[8] then
  for _, id in ipairs(last[4] or {}) do given[#given + 1] = id end
else
  last = nil
end
if not running(KEYS[1], ARGV[1]) then return answer({'ended'}) end
local most = tonumber(ARGV[9])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', fmt(t))) do
  redis.call('ZREM', KEYS[6], id)
  redis.call('HDEL', KEYS[7], id)
  redis.call('HINCRBY', KEYS[1], 'expired', 1)
  local expiries = redis.call('HINCRBY', KEYS[14], id, 1)
  if most > 0 and expiries >= most then
    redis.call('ZADD', KEYS[15], fmt(t), id)
    given[#given + 1] = id
  else
    redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[4], id), id)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', fmt(t))) do
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[4], id), id)
end
if last and last[2] ~= '' and redis.call('HGET', KEYS[7], last[2]) == ARGV[2] then  -- not expired above
  remember(last[2], last[3])  -- with what this run gave up too, should its answer be lost again
  return granted(last[2], last[3])
end
if #given > 0 then remember('', '') end
local candidates = redis.call('ZRANGE', KEYS[2], 0, 127)
if #candidates == 0 then
  if redis.call('HGET', KEYS[1], 'seeded') == '1' and redis.call('ZCARD', KEYS[6]) == 0
     and redis.call('ZCARD', KEYS[5]) == 0 then
    redis.call('HSET', KEYS[1], 'status', 'ended', 'ended_at', fmt(t), 'seen', redis.call('SCARD', KEYS[11]))
    redis.call('DEL', KEYS[11], KEYS[12], KEYS[14])  -- replies stay: the last answers, should one be lost
    return answer({'ended'})
  end
  local soonest = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  if #soonest > 0 then return answer({'wait', fmt(tonumber(soonest[2]) - t)}) end
  return answer({'empty'})
end
-- A request whose lease expired before goes to a worker holding nothing else, which takes nothing more
-- until it is done: when it kills that worker too, nothing beside it is counted with it. A worker holding
-- leases takes the first other request among the first 128 queued (after a mass expiry, more wait).
local id = nil
for _, candidate in ipairs(candidates) do
  if tonumber(ARGV[10]) == 0 or redis.call('HEXISTS', KEYS[14], candidate) == 0 then
    id = candidate
    break
  end
end
if not id then return answer({'wait', fmt(-1)}) end
local slot = ARGV[7] .. id
local wait = budget_grant(t, KEYS[8], KEYS[9], KEYS[10], tonumber(ARGV[4]), tonumber(ARGV[5]), slot,
                          tonumber(ARGV[6]))
if wait ~= 0 then return answer({'wait', fmt(wait)}) end
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', KEYS[6], fmt(t + tonumber(ARGV[3])), id)
redis.call('HSET', KEYS[7], id, ARGV[2])
remember(id, slot)
return granted(id, slot)
"""
)

# KEYS: state queue data prio delayed dupefilter seq leases owner replies expiries
# ARGV: epoch fingerprint ('' = unfiltered) data score delay replaces ('' = none) worker nonce
_PUSH = (
    PRELUDE
    + _RUNNING
    + """
if not running(KEYS[1], ARGV[1]) then return 'ended' end
local last = redis.call('HGET', KEYS[10], ARGV[7])
if last then
  last = cjson.decode(last)
  if last[1] == ARGV[8] then return last[2] end
end
local result, id = 'filtered', nil
if ARGV[2] == '' or redis.call('SADD', KEYS[6], ARGV[2]) == 1 then
  id = string.format('%012d', redis.call('INCR', KEYS[7]))
  redis.call('HSET', KEYS[3], id, ARGV[3])
  redis.call('HSET', KEYS[4], id, ARGV[4])
  local delay = tonumber(ARGV[5])
  if delay > 0 then
    redis.call('ZADD', KEYS[5], fmt(now() + delay), id)
  else
    redis.call('ZADD', KEYS[2], ARGV[4], id)
  end
  result = 'queued'
end
if ARGV[6] ~= '' then
  -- A retry or redirect keeps what its request's leases went through: fetched alone, given up in time.
  local expiries = redis.call('HGET', KEYS[11], ARGV[6])
  if expiries and id then redis.call('HSET', KEYS[11], id, expiries) end
  ack(KEYS[8], KEYS[9], KEYS[3], KEYS[4], ARGV[6], ARGV[7])
end
redis.call('HSET', KEYS[10], ARGV[7], cjson.encode({ARGV[8], result}))
return result
"""
)

# KEYS: leases owner data prio. ARGV: worker id...  Again: acknowledges nothing more (counts 0).
_ACK = (
    PRELUDE
    + _RUNNING
    + """
local n = 0
for i = 2, #ARGV do n = n + ack(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[i], ARGV[1]) end
return n
"""
)

# KEYS: leases owner. ARGV: worker ttl id...  Renews this worker's leases (an expired one is not revived).
_RENEW = (
    PRELUDE
    + """
local expiry = fmt(now() + tonumber(ARGV[2]))
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
end
return 0
"""
)

# KEYS: queue prio leases owner. ARGV: worker id...  Puts this worker's leased requests back in the queue
# (again: releases nothing more, counts 0).
_RELEASE = """
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[4], id) == ARGV[1] then
    redis.call('ZREM', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    redis.call('ZADD', KEYS[1], redis.call('HGET', KEYS[2], id), id)
    n = n + 1
  end
end
return n
"""

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
        self._take = link.script(_TAKE)
        self._push = link.script(_PUSH)
        self._ack = link.script(_ACK)
        self._renew = link.script(_RENEW)
        self._release = link.script(_RELEASE)

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
