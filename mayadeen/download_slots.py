"""When a slot of Scrapy's downloader would send a request at once: below its concurrency, its delay over.

The downloader spaces a slot's requests by its delay (``DOWNLOAD_DELAY``, AutoThrottle's, or
``DOWNLOAD_SLOTS``), drawn anew for each request within ``delay × (1 ± jitter)``, and keeps the time
of the slot's last request on ``time.monotonic()``; so do these helpers. Nothing here is saved: the
deadlines a crawl keeps in JOBDIR are wall-clock (``mayadeen.scheduler``).
"""

from __future__ import annotations

import time


def slot_clock() -> float:
    """Now, on the clock the downloader keeps a slot's last request on."""
    return time.monotonic()


def delay_left(slot, last_sent: float) -> float:
    """Seconds until the slot's delay after ``last_sent`` (``slot_clock()``) is over whatever the
    downloader draws: its longest, ``delay × (1 + jitter)``."""
    if not slot.delay:
        return 0.0
    return max(0.0, last_sent + slot.delay * (1 + slot.jitter) - slot_clock())


def sends_at_once(slot) -> bool:
    """Whether the slot would send one more request the moment it gets it."""
    return len(slot.active) < slot.concurrency and delay_left(slot, slot.lastseen) <= 0
