"""Spider middleware (distributed mode): the spider's start requests are made once per crawl.

Only the worker that wins ``Crawl.claim_seeding`` runs the spider's ``start()``; when its start
requests are all queued the crawl is marked seeded. The others yield nothing from ``start()`` — they
wait, polling every heartbeat, while taking work from the queue, and take over the seeding if the
seeder dies before it is done (see ``mayadeen.distributed.crawl``).
"""

from __future__ import annotations

import asyncio
import logging

from scrapy.utils.defer import maybe_deferred_to_future

from mayadeen.distributed.crawl import SEED, WAIT
from mayadeen.distributed.link import RedisAway

logger = logging.getLogger(__name__)


class SeedOnce:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_start(self, start):
        scheduler = self.crawler.engine.scheduler
        if scheduler.over:  # the crawl had ended before this worker came (or Redis is gone)
            return
        try:
            role = await self._claim(scheduler)
            while role == WAIT:
                await asyncio.sleep(scheduler.heartbeat_interval)
                role = await self._claim(scheduler)
            if role != SEED:
                logger.info("The crawl is seeded by another worker: this one takes its work from the queue")
                return
            async for element in start:
                yield element
            scheduler.mark_seeded()  # after the start requests' pushes, in order
            logger.info("Start requests queued for the whole crawl")
        except RedisAway:
            return  # the link gave up (reported) or is closing: the crawl is closing

    @staticmethod
    async def _claim(scheduler) -> str:
        """The seeding role, asked in the link's thread (which waits out an outage)."""
        return await maybe_deferred_to_future(scheduler.link.submit(scheduler.crawl.claim_seeding))
