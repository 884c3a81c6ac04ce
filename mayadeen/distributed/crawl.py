"""One crawl shared by workers: who starts it, who seeds it, who is alive, and how it looks from outside.

The crawl's ``state`` hash says ``status`` (``running`` or ``ended``) and ``epoch`` (a random id of this
run of the crawl). A worker opening:

* finds no crawl: it starts one.
* finds a running crawl: it joins it. A crawl whose workers were all stopped (Redis went away, a
  machine rebooted) is still running: starting workers again continues it.
* finds an ended crawl: it does nothing (one INFO line; the spider closes with ``finished`` before
  any request, exit status 0). A worker restarted after the end (``restart: on-failure``, a late
  machine) must not crawl the site again. A crawl id is crawled again only on purpose: the spider
  argument ``-a restart=1`` starts a new run of an ended crawl (every key of the previous one — queue,
  leases, duplicate filter, workers — deleted in the same step, so it never inherits a filter or a
  queue; incremental decisions come from the store), or a new ``-a crawl_id``. ``restart=1`` never
  touches a running crawl: it joins it.

**Seeding.** The spider's start requests (robots.txt, the home page, the feeds: discovery) are made
once per crawl, by one worker, the seeder: the first to ask. The others wait (their start iterator
yields nothing meanwhile, and they work on the queue); once the seeder's start requests are all
queued the crawl is ``seeded``. If the seeder dies first (no heartbeat for ``MAYADEEN_REDIS_LEASE_TTL``),
the next worker to ask seeds instead; the duplicate filter drops what the first one already queued.

**The end.** A crawl ends when it is seeded and nothing is queued, delayed or leased: that is checked
atomically by the queue's take script (``mayadeen.distributed.queue``), which sets ``status=ended``,
keeps the count of requests seen in ``state`` and drops the duplicate filter (an ended crawl keeps
only its ``state``, its workers' last counts and the requests it gave up, for ``scrapy crawlstatus``).
Every worker then finishes what it is doing (nothing: it held no lease) and closes with ``finished``.
There is no idle timeout to guess: a worker with nothing to do keeps asking the queue every
``MAYADEEN_REDIS_POLL_INTERVAL`` seconds until the end is certain.

**Watching.** Every heartbeat (``MAYADEEN_REDIS_LEASE_TTL`` / 5) a worker writes its counts to the
crawl's ``workers`` hash; ``crawl_status`` reads the whole picture (``scrapy crawlstatus``).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass

from mayadeen.distributed.keys import CrawlKeys
from mayadeen.distributed.lua import PRELUDE
from mayadeen.distributed.queue import request_url

# KEYS: state alive <every other key of the crawl>. ARGV: new_epoch worker restart(1/0)
# Returns {'started'|'joined'|'ended', epoch}.
_JOIN = (
    PRELUDE
    + """
local t = now()
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'ended' and ARGV[3] ~= '1' then return {'ended', redis.call('HGET', KEYS[1], 'epoch')} end
local result = 'joined'
if status ~= 'running' then
  for i = 1, #KEYS do redis.call('DEL', KEYS[i]) end
  redis.call('HSET', KEYS[1], 'status', 'running', 'epoch', ARGV[1], 'started_at', fmt(t), 'seeded', '0',
             'seeder', '', 'expired', '0')
  result = 'started'
end
redis.call('ZADD', KEYS[2], fmt(t), ARGV[2])
return {result, redis.call('HGET', KEYS[1], 'epoch')}
"""
)

# KEYS: state alive. ARGV: epoch worker ttl
_SEED = (
    PRELUDE
    + """
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'status') ~= 'running' then
  return 'ended'
end
if redis.call('HGET', KEYS[1], 'seeded') == '1' then return 'seeded' end
local seeder = redis.call('HGET', KEYS[1], 'seeder')
if seeder and seeder ~= '' and seeder ~= ARGV[2] then
  local beat = redis.call('ZSCORE', KEYS[2], seeder)
  if beat and tonumber(beat) + tonumber(ARGV[3]) > now() then return 'wait' end
end
redis.call('HSET', KEYS[1], 'seeder', ARGV[2])
return 'seed'
"""
)

# KEYS: state. ARGV: epoch worker
_SEEDED = """
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] and redis.call('HGET', KEYS[1], 'seeder') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'seeded', '1')
  return 1
end
return 0
"""

# KEYS: alive workers. ARGV: worker info_json alive(1/0)
_BEAT = (
    PRELUDE
    + """
if ARGV[3] == '1' then redis.call('ZADD', KEYS[1], fmt(now()), ARGV[1]) else redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 0
"""
)

SEED, WAIT, SEEDED, ENDED = "seed", "wait", "seeded", "ended"
STARTED, JOINED = "started", "joined"


def new_worker_id() -> str:
    """``host:pid:random``: unique, and says where to look for the process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Joined:
    how: str  # STARTED (a new crawl or a new run of an ended one), JOINED (a running one) or ENDED
    epoch: str

    @property
    def started(self) -> bool:
        return self.how == STARTED

    @property
    def ended(self) -> bool:
        return self.how == ENDED


class Crawl:
    """This worker's membership of the crawl ``keys``."""

    def __init__(self, link, keys: CrawlKeys, worker: str, *, lease_ttl: float):
        self.link = link
        self.keys = keys
        self.worker = worker
        self.lease_ttl = lease_ttl
        self.epoch: str | None = None
        self._join = link.script(_JOIN)
        self._seed = link.script(_SEED)
        self._seeded = link.script(_SEEDED)
        self._beat = link.script(_BEAT)

    def join(self, *, restart: bool = False) -> Joined:
        """Join the running crawl, start it if there is none, or find it ended (``restart``: start a new
        run of it instead)."""
        k = self.keys
        others = [key for key in k.crawl_state() if key != k.alive]
        result, epoch = self.link.call(
            "crawl join",
            self._join,
            keys=[k.state, k.alive, *others],
            args=[secrets.token_hex(8), self.worker, "1" if restart else "0"],
        )
        self.epoch = epoch.decode()
        return Joined(result.decode(), self.epoch)

    def claim_seeding(self) -> str:
        """``SEED`` (this worker makes the start requests), ``WAIT`` (another one is), ``SEEDED`` or ``ENDED``."""
        reply = self.link.call(
            "crawl seed",
            self._seed,
            keys=[self.keys.state, self.keys.alive],
            args=[self.epoch, self.worker, f"{self.lease_ttl:.3f}"],
        )
        return reply.decode()

    def mark_seeded(self) -> None:
        self.link.call("crawl seeded", self._seeded, keys=[self.keys.state], args=[self.epoch, self.worker])

    def heartbeat(self, info: dict, *, alive: bool = True) -> None:
        self.link.call(
            "heartbeat",
            self._beat,
            keys=[self.keys.alive, self.keys.workers],
            args=[self.worker, json.dumps(info, sort_keys=True), "1" if alive else "0"],
        )


def crawl_status(client, keys: CrawlKeys) -> dict:
    """The crawl as Redis sees it: state, queue length, requests in flight, and each worker's counts."""
    pipe = client.pipeline(transaction=True)
    pipe.hgetall(keys.state).zcard(keys.queue).zcard(keys.delayed).zcard(keys.leases).scard(keys.dupefilter)
    pipe.hgetall(keys.workers).zrange(keys.alive, 0, -1, withscores=True).hvals(keys.owner).time()
    pipe.zrange(keys.given_up, 0, -1, withscores=True)
    state, queued, delayed, leased, seen, workers, alive, owners, (sec, usec), given_up = pipe.execute()
    data = client.hmget(keys.data, [request_id for request_id, _ in given_up]) if given_up else []
    state = {k.decode(): v.decode() for k, v in state.items()}
    now = sec + usec / 1e6
    beats = {w.decode(): score for w, score in alive}
    in_flight: dict[str, int] = {}
    for owner in owners:
        in_flight[owner.decode()] = in_flight.get(owner.decode(), 0) + 1
    return {
        "crawl": f"{keys.spider}/{keys.crawl_id}",
        **state,
        "queued": queued,
        "delayed": delayed,
        "in_flight": leased,
        "seen": int(state.get("seen", seen)),  # an ended crawl keeps the count, not the filter
        "given_up": [  # requests whose lease expired MAYADEEN_REDIS_MAX_LEASE_EXPIRIES times
            {"url": request_url(request) or f"(request {request_id.decode()}: unreadable here)", "at": at}
            for (request_id, at), request in zip(given_up, data, strict=True)
            if request
        ],
        "workers": {
            worker.decode(): {
                **json.loads(info),
                "in_flight": in_flight.get(worker.decode(), 0),
                "heartbeat_age": round(now - beats[worker.decode()], 1) if worker.decode() in beats else None,
            }
            for worker, info in sorted(workers.items())
        },
    }
