"""A ``Retry-After`` during a JOBDIR crawl with hundreds (quick) or thousands (soak) of requests
queued: the scheduler looks at the held slot's next request, it does not pull the queue into memory.

Measured before: one 429 with ``Retry-After: 3`` pulled 5,642 requests out of the JOBDIR disk queue
into the scheduler's memory, and each was announced again with ``request_scheduled`` when released
(then with 2,500 items: 3,638 requests queued for 2,506 to fetch; 400 items show the same).
The soak case is the issue's own: at least 2,000 requests queued when the site says "wait".
"""

from __future__ import annotations

import pytest

from tests.fault_server import FaultPlan, FaultServer
from tests.fixture_server import big_sitemap_site, huge_sitemap_item
from tests.inprocess import crawl as crawl_in_process

CONCURRENCY = 2  # CONCURRENT_REQUESTS_PER_DOMAIN: the downloader takes this many of the site at once
#: The scheduler may keep a retry waiting for its deadline and one request waiting for its slot.
SMALL_CONSTANT = 2


#: Items, and how many must still be queued when the 429 comes: 400 is enough for the queue to dwarf
#: what the downloader takes at once (the defect pulled all of it into memory).
@pytest.mark.parametrize(
    ("size", "queued"),
    [(400, 300), pytest.param(2_500, 2_000, marks=pytest.mark.soak)],
    ids=["hundreds", "thousands"],
)
def test_a_retry_after_with_many_queued_holds_only_what_the_downloader_can_take(tmp_path, size, queued):
    refused = huge_sitemap_item(size - size // 20)  # among the first fetched (the queue is last in, first out)
    plan = FaultPlan(once={refused: "429_seconds"}, retry_after=1)  # a pause's length is not the point
    settings = {
        "JOBDIR": str(tmp_path / "job"),
        "CONCURRENT_REQUESTS_PER_DOMAIN": str(CONCURRENCY),
        "MAYADEEN_WARC_DIR": "",  # no archive: the scheduler is the subject, and archiving every page costs CPU
    }
    with FaultServer(plan, site=big_sitemap_site(size)) as srv:
        result = crawl_in_process("sitemap", srv.url, tmp_path, settings=settings, timeout=600, check=False)
        hits = srv.hits()
    items = {huge_sitemap_item(i) for i in range(size)}
    refusals = [n for n, h in enumerate(hits) if h.path == refused and h.fault == "429_seconds"]
    assert len(refusals) == 1, result.log[-3000:]
    fetched_before = len({h.path for h in hits[: refusals[0]]} & items)
    assert size - fetched_before >= queued  # still queued when the site said "wait"
    assert result.stat("mayadeen/retry_after/pauses") == 1
    assert {h.path for h in hits} >= items  # every page fetched, the refused one again after the pause
    assert [h.fault for h in hits if h.path == refused] == ["429_seconds", None]
    assert result.stats["mayadeen/scheduler/held/max"] <= CONCURRENCY + SMALL_CONSTANT
    # Each request is queued once: none comes back through the engine to be announced again.
    assert result.stats["scheduler/enqueued/disk"] <= size + 10, result.stats
    # and none is sent back from the downloader's door (announced again) for want of room there: at
    # most one handed out in the very turn of the event loop the 429 arrived (seen under load)
    assert result.stats.get("mayadeen/due_guard/sent_back", 0) <= 1, result.stats
