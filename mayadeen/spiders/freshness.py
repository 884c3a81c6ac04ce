"""The crawl's ``Freshness`` (``mayadeen.store.freshness``): looking up the crawl's store off the reactor
thread (``mayadeen.pipelines.store.open_store``) and, in a JOBDIR crawl, built from the journal of the
job's earlier runs (``mayadeen.extensions.resume``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from mayadeen.extensions.resume import ResumeAfterKill
from mayadeen.pipelines.store import open_store
from mayadeen.store.freshness import Freshness

logger = logging.getLogger(__name__)


async def open_freshness(crawler, *, full: bool = False) -> Freshness:
    """The freshness of ``crawler``'s crawl (``full``: every item is fetched again)."""
    reads = await open_store(crawler)
    resume = crawler.get_extension(ResumeAfterKill) if crawler.settings.get("JOBDIR") else None
    if resume and reads is not None and resume.unfinished and resume.finished:
        # An item exported under its address just before a kill can still be unfinished under the
        # other URLs it was fetched under (its aliases): the store knows them. Unanswered, they are
        # fetched again (at least once).
        try:
            found = await reads.run(lambda store: store.lookup(list(resume.unfinished)))
        except reads.errors as exc:
            logger.warning("The store could not say which unfinished items were exported (%s)", exc)
        else:
            resume.settle([url for url, state in found.items() if state.url in resume.finished])
    unfinished = resume.unfinished if resume else frozenset()
    done_runs = resume.done_runs if resume else frozenset()
    if full:
        logger.info("Full crawl: every item is fetched again")
    elif reads is not None:
        logger.info("Incremental crawl: items in %s are fetched again only if newer", reads.location)
    else:
        logger.info("No store (MAYADEEN_STORE_URL and MAYADEEN_SQLITE_PATH are empty): every item is fetched")
    if resume and resume.resumed_after_kill:
        logger.info(
            "Resumed job: items stored by its runs %s are skipped, %d unfinished are fetched again",
            sorted(done_runs),
            len(unfinished),
        )
    return Freshness(
        (lambda urls: reads.run(lambda store: store.lookup(urls))) if reads is not None else None,
        lookup_errors=reads.errors if reads is not None else (),
        full=full,
        unfinished=unfinished,
        done_runs=done_runs,
        done=resume.done if resume and reads is None else (),
        stats=crawler.stats,
        started=datetime.now(UTC).replace(microsecond=0),
    )
