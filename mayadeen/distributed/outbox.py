"""The writes a distributed worker must get to Redis, in order, whether or not Redis answers now.

Requests to queue, leases to acknowledge, the end of seeding: each must reach Redis, and after the
ones before it (a lease is acknowledged after the retry that replaced it was queued). ``send`` makes
the write at once when nothing waits before it; while Redis is away (``RedisAway``: the link never
blocks for long) the write waits in the outbox, and ``flush`` (at the scheduler's next look at the
queue, or heartbeat) sends what waits, oldest first, until Redis fails again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from mayadeen.distributed.link import RedisAway


class Outbox:
    def __init__(self):
        self.waiting: deque[tuple[str, Callable[[], object]]] = deque()  # (what, write), oldest first

    def __len__(self) -> int:
        return len(self.waiting)

    def send(self, what: str, write: Callable[[], object]):
        """``write()``'s result when sent now; None when it waits behind earlier writes or for Redis
        to answer (sent at the next ``flush``)."""
        self.waiting.append((what, write))
        try:
            if len(self.waiting) == 1:
                result = write()
                self.waiting.popleft()
                return result
            self.flush()
        except RedisAway:
            pass
        return None

    def flush(self) -> None:
        """Sends what waits, oldest first; ``RedisAway`` when Redis fails again (the rest waits)."""
        while self.waiting:
            self.waiting[0][1]()
            self.waiting.popleft()
