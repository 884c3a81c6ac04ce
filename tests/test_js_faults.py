"""Faults on the client-side listings: every item is still found, exactly, in both outputs.

On the old crawler a rendered listing that showed no cards (its page cut short, its script's API call
failing) was only logged, and the items reachable only from it were lost. Here every client-side
listing document, and every listing API page (asked for by the browser or by the crawler), faults
on its first one or two requests (seeded); renders that fail (the page's error line, a cut page) are retried.
"""

from __future__ import annotations

import pytest

from tests.conftest import expected_records
from tests.fault_server import FaultPlan, FaultServer
from tests.inprocess import crawl as crawl_in_process
from tests.test_faults import assert_all_items_exact
from tests.test_js_listings import ONLY_CLIENT_SIDE, needs_chromium, path_of

KINDS = ("500", "502", "503", "cut_body", "cut_body_unsized", "truncated_gzip", "stall", "empty_200")
SETTINGS = {
    "RETRY_TIMES": "5",
    "DOWNLOAD_TIMEOUT": "3",
    "MAYADEEN_RETRY_BACKOFF_BASE": "0.1",
    "MAYADEEN_RENDER_TIMEOUT": "4",
    "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": "4000",
}
#: Seconds a stalled answer hangs before the server drops it: within every timeout above, so the drop,
#: not a timeout, ends it (each stall is on a chain of retries: a longer one only adds its length).
STALL = 1.0


@needs_chromium
@pytest.mark.soak
def test_faults_on_client_side_listings_lose_no_item(tmp_path):
    plan = FaultPlan(
        seed=8, share=1.0, kinds=KINDS, only=("/videos", "/in-pictures", "/api/listing"), stall_seconds=STALL
    )
    with FaultServer(plan) as srv:
        result = crawl_in_process("sections", srv.url, tmp_path, settings=SETTINGS, check=False, timeout=300)
        hits = srv.hits()
    faults = {h.fault for h in hits if h.fault}
    assert len(faults) >= 4, faults  # several kinds were served to the listings
    assert result.returncode == 0, result.log[-3000:]
    assert {path_of(u) for u in ONLY_CLIENT_SIDE} <= {h.path for h in hits}  # reached through the listings
    assert_all_items_exact(result, set(expected_records()))
    assert result.stat("retry/reason_count/render_failed") > 0  # failed renders (error line, cut page) were retried
    assert result.stat("mayadeen/js/empty_listings") is None  # a broken listing is never taken for an empty one
