"""``scrapy crawl`` with an exit status that tells a scheduler how the run went.

Scrapy's own ``crawl`` exits 0 whatever happened. This one exits

* 0 when the crawl finished (or stopped at a ``CLOSESPIDER_*`` limit) and worked;
* 1 when it failed: the site could not be reached, errors and no items, too many records dropped
  (``MAYADEEN_MAX_DROPPED_SHARE``), the store was locked by another run, it was interrupted
  (``shutdown``: resume it with the same command and JOBDIR), or it could not start at all.

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


class Command(ScrapyCrawlCommand):
    def long_desc(self) -> str:
        return (super().long_desc() + " Exits 1 when the run failed (site unreachable, errors and no items,"
                " too many dropped records, store locked, interrupted), else 0; the last log line sums the run up.")

    def run(self, args, opts) -> None:
        if len(args) < 1:
            raise UsageError
        if len(args) > 1:
            raise UsageError("running 'scrapy crawl' with more than one spider is not supported")
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()

        stats = crawler.stats.get_stats() if crawler.stats else {}
        if self.crawler_process.bootstrap_failed or "finish_reason" not in stats:
            logger.error("Run summary: spider=%s result=FAILED (could not start; see the errors above)", args[0])
            self.exitcode = EXIT_FAILED
            return
        share = crawler.settings.getfloat("MAYADEEN_MAX_DROPPED_SHARE", DEFAULT_MAX_DROPPED_SHARE)
        result = outcome(stats, share)
        line = summary_line(args[0], stats, result)
        (logger.info if result.ok else logger.error)(line)
        self.exitcode = EXIT_OK if result.ok else EXIT_FAILED
