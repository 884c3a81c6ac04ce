"""``scrapy crawl`` with an exit status that tells a scheduler how the run went.

Scrapy's own ``crawl`` exits 0 whatever happened. This one exits

* 0 when the crawl finished (or stopped at a ``CLOSESPIDER_*`` limit) and worked;
* 1 when it failed: the site could not be reached, errors and no items, too many records dropped
  (``MAYADEEN_MAX_DROPPED_SHARE``), it was interrupted (``shutdown``: resume it with the same
  command and JOBDIR), or it could not start at all;
* 75 (``EX_TEMPFAIL``) when another run holds the store (``store_locked``) or the JOBDIR
  (``jobdir_busy``): nothing was done, try again later.

Its last log line is the run's summary (``mayadeen.extensions.run_outcome.summary_line``).
"""

from __future__ import annotations

import logging

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from mayadeen.extensions.run_outcome import DEFAULT_MAX_DROPPED_SHARE, outcome, summary_line

logger = logging.getLogger("mayadeen.run")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BUSY = 75  # sysexits.h EX_TEMPFAIL
#: Problems that mean "another run is at it", not "this run went wrong".
BUSY = frozenset({"store_locked", "jobdir_busy"})


class Command(ScrapyCrawlCommand):
    def long_desc(self) -> str:
        return (super().long_desc().rstrip(".") + ". Exits 1 when the run failed (site unreachable, errors"
                " and no items, too many dropped records, interrupted), 75 when another run holds the store or"
                " the JOBDIR, else 0; the last log line sums the run up.")

    def run(self, args, opts) -> None:
        if len(args) < 1:
            raise UsageError
        if len(args) > 1:
            raise UsageError("running 'scrapy crawl' with more than one spider is not supported")
        self.run_spider(args[0], opts.spargs)

    def run_spider(self, spider, spargs: dict) -> None:
        """Run one spider (a name or a class) and set the exit status from how its run went."""
        assert self.crawler_process
        crawler = self._create_crawler(spider)
        self.crawler_process.crawl(crawler, **spargs)
        self.crawler_process.start()

        try:
            stats = crawler.stats.get_stats()
        except (AttributeError, RuntimeError):  # the crawl never started: Scrapy had not set its stats yet
            stats = {}
        name = spider if isinstance(spider, str) else spider.name
        if "finish_reason" not in stats:
            logger.error("Run summary: spider=%s result=FAILED (could not start; see the errors above)", name)
            self.exitcode = EXIT_FAILED
            return
        share = crawler.settings.getfloat("MAYADEEN_MAX_DROPPED_SHARE", DEFAULT_MAX_DROPPED_SHARE)
        result = outcome(stats, share)
        line = summary_line(name, stats, result)
        (logger.info if result.ok else logger.error)(line)
        if result.ok:
            self.exitcode = EXIT_OK
        else:
            self.exitcode = EXIT_BUSY if result.problem in BUSY else EXIT_FAILED
