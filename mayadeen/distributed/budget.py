"""One politeness budget for the site, shared in Redis by every worker of every crawl of it.

Scrapy's ``DOWNLOAD_DELAY`` and ``CONCURRENT_REQUESTS_PER_DOMAIN`` hold per process: N workers would
hit the site N times as hard. In distributed mode they hold for the site instead, by this algorithm,
run atomically in Redis (``BUDGET_LUA``, part of the script that takes a request from the queue):

* **Delay: a next-allowed time.** ``<site>:next`` holds the Redis time before which no request to
  the site may start. A request is granted only when ``now >= next``, which then becomes
  ``now + DOWNLOAD_DELAY``. So grants are at least ``DOWNLOAD_DELAY`` apart on Redis's clock,
  whatever the number of workers (no random spread below the delay, unlike Scrapy's
  ``RANDOMIZE_DOWNLOAD_DELAY``: it would break the bound).
* **Concurrency: leased slots.** ``<site>:slots`` is a sorted set of slots in use, each with an
  expiry. A request is granted only while fewer than ``CONCURRENT_REQUESTS_PER_DOMAIN`` slots are in
  use; its slot is freed when the request leaves the downloader (``request_left_downloader``) — or,
  for a request refused before it got there (robots.txt, the URL guard), when the worker is done with
  it — and kept alive by its worker's heartbeat meanwhile. A worker that dies frees its slots when they
  expire (``MAYADEEN_REDIS_LEASE_TTL``).
* **Retry-After pauses everyone.** A 429/503 with ``Retry-After`` seen by any worker sets
  ``<site>:paused`` to that moment (capped by ``MAYADEEN_RETRY_AFTER_MAX``); nothing is granted
  before it.

A request that is not granted is not taken: it stays in the queue and the worker asks again when the
script says (the time until ``next`` or the pause ends, or the poll interval while all slots are
busy). Nothing waits inside the downloader. The local downloader runs with no delay of its own and
AutoThrottle off (``mayadeen.distributed.addon``): the budget replaces them.

Stats: ``mayadeen/budget/pauses`` (Retry-After pauses set by this worker).
"""

from __future__ import annotations

import logging

from scrapy import signals

from mayadeen.distributed.keys import BudgetKeys
from mayadeen.distributed.lua import PRELUDE
from mayadeen.extensions.retry_after import STATUSES, retry_after_seconds

logger = logging.getLogger(__name__)

#: Request meta key: the budget slot a granted request holds until it leaves the downloader.
SLOT = "mayadeen_budget_slot"

#: ``budget_grant(t, slots, next, paused, delay, concurrency, slot, slot_ttl)``: 0 when granted (the
#: slot is taken and ``next`` moved on), else seconds to wait (-1: until a slot is freed).
BUDGET_LUA = """
local function budget_grant(t, slots, nextk, paused, delay, concurrency, slot, slot_ttl)
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', fmt(t))
  local until_t = tonumber(redis.call('GET', paused) or '0')
  if t < until_t then return until_t - t end
  if concurrency > 0 and redis.call('ZCARD', slots) >= concurrency then return -1 end
  local n = tonumber(redis.call('GET', nextk) or '0')
  if t < n then return n - t end
  if delay > 0 then redis.call('SET', nextk, fmt(t + delay)) end
  redis.call('ZADD', slots, fmt(t + slot_ttl), slot)
  return 0
end
"""

# KEYS: slots, next, paused. ARGV: delay, concurrency, slot, slot_ttl. Returns the wait as a string.
# A slot still held was granted already: run again (its reply lost), the script grants it again as is,
# neither moving ``next`` on nor counting the slot against itself.
_GRANT = (
    PRELUDE
    + BUDGET_LUA
    + """
local t = now()
local held = redis.call('ZSCORE', KEYS[1], ARGV[3])
if held and tonumber(held) > t then return fmt(0) end
return fmt(budget_grant(t, KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3],
                        tonumber(ARGV[4])))
"""
)

# KEYS: paused. ARGV: seconds. The pause only ever grows (run again, it ends a few ms later at most).
_PAUSE = (
    PRELUDE
    + """
local until_t = now() + tonumber(ARGV[1])
if until_t > tonumber(redis.call('GET', KEYS[1]) or '0') then redis.call('SET', KEYS[1], fmt(until_t)) end
return fmt(until_t)
"""
)

# KEYS: slots. ARGV: ttl, slot... Renews the slots still held (XX: a freed or expired one stays gone).
_RENEW = (
    PRELUDE
    + """
local expiry = fmt(now() + tonumber(ARGV[1]))
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
return 0
"""
)


class Budget:
    """This worker's side of the site's budget: the slots it holds, Retry-After pauses it sets.

    ``grant``, ``free``, ``pause`` and ``renew`` talk to Redis: they run in the link's thread
    (``mayadeen.distributed.link``). The rest runs on the reactor and sends its Redis work there."""

    def __init__(self, crawler, link, keys: BudgetKeys, *, delay: float, concurrency: int, slot_ttl: float):
        self.crawler = crawler
        self.link = link
        self.keys = keys
        self.delay = delay
        self.concurrency = concurrency
        self.slot_ttl = slot_ttl
        self.held: set[str] = set()
        settings = crawler.settings
        self.retry_after = settings.getbool("MAYADEEN_RETRY_AFTER_ENABLED", True)
        self.retry_after_max = settings.getfloat("MAYADEEN_RETRY_AFTER_MAX", 300.0)
        self._grant = link.script(_GRANT)
        self._pause = link.script(_PAUSE)
        self._renew = link.script(_RENEW)
        crawler.signals.connect(self.request_left_downloader, signal=signals.request_left_downloader)
        crawler.signals.connect(self.response_downloaded, signal=signals.response_downloaded)

    @property
    def args(self) -> list:
        """The budget's part of a granting script's arguments: delay, concurrency, slot_ttl."""
        return [f"{self.delay:.6f}", self.concurrency, f"{self.slot_ttl:.3f}"]

    # --- in the link's thread -------------------------------------------------------------------

    def grant(self, slot: str) -> float:
        """Take a slot for a request that is not in the queue (robots.txt): 0 when granted, else the wait.
        ``slot`` names one request: granted already and still held, it is granted again unchanged (so
        a try again after a lost reply)."""
        delay, concurrency, ttl = self.args
        return float(
            self.link.call("budget grant", self._grant, keys=list(self.keys), args=[delay, concurrency, slot, ttl])
        )

    def free(self, slots: list[str]) -> None:
        self.link.call("budget release", self.link.client.zrem, self.keys.slots, *slots)

    def pause(self, seconds: float) -> None:
        """Nothing is granted to any worker for ``seconds`` (a pause already longer stays)."""
        self.link.call("budget pause", self._pause, keys=[self.keys.paused], args=[f"{seconds:.3f}"])

    def renew(self, slots: list[str]) -> None:
        if slots:
            self.link.call("budget renew", self._renew, keys=[self.keys.slots], args=[f"{self.slot_ttl:.3f}", *slots])

    # --- on the reactor -------------------------------------------------------------------------

    def taken(self, request, slot: str) -> None:
        """A request was granted ``slot`` (by the queue's take script, or ``grant``)."""
        request.meta[SLOT] = slot
        self.held.add(slot)

    def release(self, slot: str | None) -> None:
        """Free ``slot`` if this worker still holds it (again is harmless)."""
        if slot in self.held:
            self.held.discard(slot)
            self.link.send("budget release", self.free, [slot])

    def give_back(self) -> list[str]:
        """Every slot this worker holds, no longer held (to free at close)."""
        slots = sorted(self.held)
        self.held.clear()
        return slots

    def request_left_downloader(self, request, spider) -> None:
        self.release(request.meta.get(SLOT))

    def response_downloaded(self, response, request, spider) -> None:
        if not self.retry_after or response.status not in STATUSES:
            return
        wait = retry_after_seconds(response.headers.get(b"Retry-After"))
        if wait is None or wait <= 0:
            return
        wait = min(wait, self.retry_after_max)
        self.link.send("budget pause", self.pause, wait)
        self.crawler.stats.inc_value("mayadeen/budget/pauses")
        logger.info(
            "%s answered %d: every worker pauses requests to the site for %.1fs (Retry-After)",
            response.url,
            response.status,
            wait,
        )
