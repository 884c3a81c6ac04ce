"""Pages that kill the crawler, given up after a few killed runs of a JOBDIR job.

A page that kills the crawler each time it is extracted (its parse runs out of memory, say) would kill
every run of the job, each fetching it again first. So the job's journal (``mayadeen.extensions.resume``)
notes ``extracting <url>`` and ``extracted <url>`` around each item page's extraction: extraction runs
without a pause on the reactor thread, so at a kill at most one page is being extracted, and no page
beside it is named. The job file counts, per page, the kills it was being extracted at since the job's
last run that ended without one (``killed_in_flight``). At ``MAYADEEN_MAX_KILLS_IN_FLIGHT`` (3; 0: never)
the page is given up for the rest of the job (``given_up``: not requested again) as an item that keeps
failing (``item_given_up``: a warning, ``mayadeen/given_up``, the store's ``failing_items``, so later
jobs try it after the failing interval), told by each run until one closes (``untold``): a run killed
right after giving it up cannot leave it unrecorded.
"""

from __future__ import annotations


def count_kills(job: dict, extracting: frozenset[str], most: int) -> tuple[frozenset[str], frozenset[str]]:
    """The pages the job has given up, and those not told yet. After a kill (``job["resumed_after"]``),
    the page being extracted then (``extracting``, from the journal) gets one more kill in the job's
    counts; at ``most`` it is given up; ``job`` is updated (to be written). Values edited by hand into
    the job file that are not these are ignored."""
    given, untold = (_url_set(job.get(key)) for key in ("given_up", "untold"))
    if job["resumed_after"] == "kill":
        counts = job.get("killed_in_flight")
        counts = {u: n for u, n in counts.items() if isinstance(n, int)} if isinstance(counts, dict) else {}
        for url in extracting:
            counts[url] = counts.get(url, 0) + 1
        new = frozenset(u for u, n in counts.items() if most and n >= most)
        given, untold = given | new, untold | new
        job["killed_in_flight"] = {u: n for u, n in counts.items() if u not in new}
        job["given_up"], job["untold"] = sorted(given), sorted(untold)
    return given, untold


def reason(most: int) -> str:
    """Why a page was given up, as the failing item's reason says."""
    runs = "a run was killed" if most == 1 else f"{most} of the job's runs were killed"
    return f"being extracted when {runs}: a page that kills the crawler?"


def _url_set(value) -> frozenset[str]:
    """A list of URLs from the job file (anything else, edited by hand: none)."""
    return frozenset(u for u in value if isinstance(u, str)) if isinstance(value, list) else frozenset()
