"""The leases a worker holds, and whether it may take one more.

* At most ``cap``: ``2 × MAYADEEN_BUDGET_CONCURRENCY`` (``CONCURRENT_REQUESTS_PER_DOMAIN`` as the addon
  saved it; ``2 × CONCURRENT_REQUESTS`` when that is 0, unlimited). A lease is acknowledged only once its
  items are stored, so a store that waits would otherwise let the worker take (and the heartbeat renew)
  ever more leases, all of them fetched again if it is killed.
* Nothing beside a request fetched ``alone``: one whose lease expired before (its worker killed or lost),
  granted only to a worker holding no lease. If it kills this worker too, no other request is counted
  with it (``mayadeen.distributed.queue``).

A worker held back (``may_take`` False) is told, by ``finish``, when the lease that held it back is gone:
the scheduler then wakes the engine, which asks again.
"""

from __future__ import annotations


class HeldLeases:
    def __init__(self):
        self.ids: set[str] = set()  # of the requests this worker has not finished
        self.cap = 0  # most leases held at once (set at the open)
        self.alone: str | None = None  # a lease that expired before: nothing more is taken beside it
        self.held_back = False  # a take was skipped: ``finish`` says when one may be made again

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, lease: str) -> bool:
        return lease in self.ids

    def add(self, lease: str, alone: bool) -> None:
        self.ids.add(lease)
        if alone:
            self.alone = lease

    def _full(self) -> bool:
        return len(self.ids) >= self.cap or self.alone in self.ids

    def may_take(self) -> bool:
        """Whether one more lease may be taken now (if not, ``finish`` says when)."""
        self.held_back = self._full()
        return not self.held_back

    def finish(self, lease: str) -> bool:
        """``lease`` is no longer this worker's; True when that lets a worker held back take again."""
        self.ids.discard(lease)
        if self.held_back and not self._full():
            self.held_back = False
            return True
        return False

    def take_all(self) -> list[str]:
        """Every lease, sorted; none is held any more (a worker closing)."""
        ids, self.ids = sorted(self.ids), set()
        return ids
