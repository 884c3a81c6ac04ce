"""How long a worker may wait for Redis while it holds leases: the bounds that keep a wait shorter
than the lease TTL (``MAYADEEN_REDIS_LEASE_TTL``), pure arithmetic shared by the link, the heartbeat
and the crawl's preflight (no import of Redis: the preflight runs in every crawl).

Leases and budget slots expire by Redis's clock ``ttl`` seconds after the last renewal that reached
Redis, whatever the worker does meanwhile. So a worker that cannot reach Redis must stop before then,
or another worker fetches its pages while it still does, beyond the politeness budget. From a renewal
that reached Redis, the longest the worker can go on without knowing Redis is away is

* one heartbeat interval (``ttl / 5``) to the next beat, plus one Redis call that fails
  (``call_bound``: a connect and a read, each bounded by the socket timeout), and then
* the link's retry window (``MAYADEEN_REDIS_RETRY_TIMEOUT``): it gives up before a try could end
  after it.

The heartbeat's backstop (``mayadeen.distributed.heartbeat``) ends the process one heartbeat interval
before the leases can expire, so the link's window must end before that:
``interval + call_bound + retry_timeout <= ttl - interval``. ``longest_retry_timeout`` is that limit
(15 s at the default TTL of 30 s), the default of ``MAYADEEN_REDIS_RETRY_TIMEOUT``; a longer value is
refused at start (``mayadeen.preflight.waits_within_lease``).

Not covered: a Redis that answers every call just below the socket timeout, with many calls queued
in front of a heartbeat, delays the beat without ever being "away"; the backstop still ends the worker
before its leases expire.
"""

from __future__ import annotations

import math

DEFAULT_LEASE_TTL = 30.0
#: Heartbeats per lease TTL.
BEATS_PER_TTL = 5
#: The longest lease TTL accepted: a killed worker's pages wait that long for another worker.
LONGEST_LEASE_TTL = 3600.0
#: The shortest socket timeout (``socket_timeout``).
SHORTEST_SOCKET_TIMEOUT = 0.25
#: The shortest lease TTL accepted (0.84 s, rounded up to the hundredth): one failed call, two socket
#: timeouts at their floor, fits between a beat and the backstop (``_room`` is not below 0).
SHORTEST_LEASE_TTL = math.ceil(100 * 2 * SHORTEST_SOCKET_TIMEOUT / (1 - 2 / BEATS_PER_TTL)) / 100


def heartbeat_interval(lease_ttl: float) -> float:
    return lease_ttl / BEATS_PER_TTL


def socket_timeout(lease_ttl: float) -> float:
    """The longest one socket operation may block: a twentieth of the lease TTL, within 0.25 s and 3 s."""
    return max(SHORTEST_SOCKET_TIMEOUT, min(3.0, lease_ttl / 20))


def call_bound(lease_ttl: float) -> float:
    """The longest one Redis call takes to fail: a connect and a read, each within the socket timeout."""
    return 2 * socket_timeout(lease_ttl)


def _room(lease_ttl: float) -> float:
    """What a TTL leaves for the retry window after a beat, a failed call and the backstop's interval
    (below 0: not even one failed call fits)."""
    return lease_ttl - 2 * heartbeat_interval(lease_ttl) - call_bound(lease_ttl)


def longest_retry_timeout(lease_ttl: float) -> float:
    """The longest ``MAYADEEN_REDIS_RETRY_TIMEOUT`` that ends before the heartbeat's backstop (0 when the
    TTL leaves no room for a wait: the link then gives up at the first failure)."""
    return max(0.0, _room(lease_ttl))


def lease_ttl_problem(lease_ttl: float) -> str | None:
    """Why ``lease_ttl`` cannot bound the waits (too short for one failed Redis call between two
    beats, or so long that a killed worker's pages wait for hours), or None."""
    if lease_ttl > LONGEST_LEASE_TTL:
        return f"is more than {LONGEST_LEASE_TTL:g}s: a killed worker's pages would wait that long for another worker"
    if not lease_ttl >= SHORTEST_LEASE_TTL:
        return (
            f"leaves no room for one Redis call ({call_bound(lease_ttl):g}s) between a heartbeat and the"
            f" backstop: the leases could expire while a worker still works; it takes at least {SHORTEST_LEASE_TTL:g}s"
        )
    return None


def retry_timeout(settings) -> float:
    """``MAYADEEN_REDIS_RETRY_TIMEOUT``, or its default: the longest the lease TTL allows."""
    ttl = settings.getfloat("MAYADEEN_REDIS_LEASE_TTL", DEFAULT_LEASE_TTL)
    value = settings.get("MAYADEEN_REDIS_RETRY_TIMEOUT")
    return longest_retry_timeout(ttl) if value in (None, "") else settings.getfloat("MAYADEEN_REDIS_RETRY_TIMEOUT")
