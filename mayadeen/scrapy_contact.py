"""The whole of mayadeen's contact with Scrapy beyond its public API: four needs it has no API for.

* Waking the engine. The engine asks the scheduler for requests when a download ends, when a request
  is scheduled, and on its heartbeat (every 5 s). A scheduler that holds a request until a moment (a
  retry's deadline, the end of a slot's delay) must make it ask then; the only public way,
  ``engine.crawl``, schedules a request and announces it (``request_scheduled``) once more.
* The requests the downloader has: from the moment the engine hands one over (its downloader
  middlewares may hold it, e.g. until robots.txt is read) until its download ends, whatever the
  outcome. Its signals only tell the part spent in a slot (``request_reached_downloader`` to
  ``request_left_downloader``), and a request a middleware answers or drops never reaches one.
* A download slot's delay. AutoThrottle changes it as the crawl goes, ``DOWNLOAD_SLOTS`` sets it per
  slot, and the downloader draws each wait within ``delay × (1 ± jitter)``; nothing public reads them.
* Whether a download slot's delay timer is still pending. After each request it sends, a slot arms a
  timer (drawn again until a draw falls within the time gone by) and sends nothing before it has run,
  even once its delay is over by the clock: under load the timer runs turns of the event loop late,
  and a request handed over meanwhile waits in the slot's queue.

``tests/test_scrapy_contact.py`` pins the behaviour relied on here: a Scrapy upgrade that changes it
fails there, not in a crawl.
"""

from __future__ import annotations


def wake_engine(crawler) -> None:
    """Makes the engine ask the scheduler for requests at its next turn, scheduling none."""
    slot = crawler.engine._slot
    if slot is not None:
        slot.nextcall.schedule()


def in_downloader(crawler) -> set:
    """The requests the downloader has been handed and not yet finished with (do not change it)."""
    return crawler.engine.downloader.active


def longest_delay(crawler, key: str) -> float:
    """The longest wait the downloader may draw between two requests of slot ``key``: ``delay × (1 +
    jitter)``; 0 for a slot it does not have (a new slot sends at once)."""
    slot = crawler.engine.downloader.slots.get(key)
    if slot is None:
        return 0.0
    return slot.delay * (1 + slot.jitter)


def delay_timer_pending(crawler, key: str) -> bool:
    """Whether slot ``key``'s delay timer has not run yet: until it does, the downloader queues every
    request of the slot instead of sending it, whatever the clock says."""
    slot = crawler.engine.downloader.slots.get(key)
    return slot is not None and slot.latercall is not None
