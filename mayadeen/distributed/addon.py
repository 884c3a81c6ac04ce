"""``MAYADEEN_REDIS_URL`` turns any spider into a worker of a crawl shared through Redis (``ADDONS``).

Add-ons run after the command line's settings and the spider's arguments are known, and before any
component is built. With ``MAYADEEN_REDIS_URL`` set this one

* refuses ``JOBDIR`` (Redis holds the crawl's state; a JOBDIR would be a second, diverging copy)
  before anything is fetched (``-a crawl_id=`` is checked with the other spider arguments);
* installs the distributed scheduler (``mayadeen.distributed.scheduler``: its duplicate filter is in
  Redis, so ``DUPEFILTER_CLASS`` is not used), the spider middlewares that seed the crawl once and tell
  when a request is finished, and the robots.txt middleware that reads the prefetched robots.txt;
* moves ``DOWNLOAD_DELAY`` and ``CONCURRENT_REQUESTS_PER_DOMAIN`` into the shared budget
  (``MAYADEEN_BUDGET_DELAY``, ``MAYADEEN_BUDGET_CONCURRENCY``) and runs the local downloader with no
  delay and AutoThrottle off: the budget holds for all workers together, a per-process delay on top
  would only slow each worker down (AutoThrottle adapts one process's delay; it has no shared view).
"""

from __future__ import annotations

from scrapy.settings import SETTINGS_PRIORITIES

from mayadeen.validation import check_jobdir_with_redis

SCRAPY_ROBOTS = "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"


class DistributedAddon:
    def __init__(self, crawler=None):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def update_settings(self, settings) -> None:
        if not settings.get("MAYADEEN_REDIS_URL"):
            return
        check_jobdir_with_redis(settings)  # the crawl command refuses it first, with exit status 2
        values = {
            "SCHEDULER": "mayadeen.distributed.scheduler.DistributedScheduler",
            "MAYADEEN_BUDGET_DELAY": settings.getfloat("DOWNLOAD_DELAY"),
            "MAYADEEN_BUDGET_CONCURRENCY": settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"),
            "DOWNLOAD_DELAY": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "SPIDER_MIDDLEWARES": {
                **settings.getdict("SPIDER_MIDDLEWARES"),
                # Nearest the engine: sees the final output of every callback and errback.
                "mayadeen.distributed.acks.AckWhenDone": 5,
                # Wraps start() before Scrapy's StartSpiderMiddleware (25) marks its requests.
                "mayadeen.distributed.seeding.SeedOnce": 20,
            },
            "DOWNLOADER_MIDDLEWARES": {
                **settings.getdict("DOWNLOADER_MIDDLEWARES"),
                SCRAPY_ROBOTS: None,
                "mayadeen.distributed.robots.BudgetedRobotsTxtMiddleware": 100,
            },
            # The budget pauses every worker on a Retry-After (mayadeen.distributed.budget).
            "EXTENSIONS": {**settings.getdict("EXTENSIONS"), "mayadeen.extensions.retry_after.RetryAfter": None},
        }
        for name, value in values.items():
            # At least the priority the setting already has: the command line must not undo the mode.
            settings.set(name, value, priority=max(settings.getpriority(name) or 0, SETTINGS_PRIORITIES["addon"]))
