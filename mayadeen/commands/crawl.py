"""``scrapy crawl`` with an exit status that tells a scheduler how the run went.

Scrapy's own ``crawl`` exits 0 whatever happened. This one exits

* 0 when the crawl finished (or stopped at a ``CLOSESPIDER_*`` limit) and worked;
* 1 when it failed: the site could not be reached, errors and no items, too many records dropped
  (``MAYADEEN_MAX_DROPPED_SHARE``), it was interrupted (``shutdown``: resume it with the same
  command and JOBDIR), or it could not start at all;
* 75 (``EX_TEMPFAIL``) when another run holds the JOBDIR (``jobdir_busy``): nothing was done, try
  again later.

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
BUSY = frozenset({"jobdir_busy"})


class Command(ScrapyCrawlCommand):
    def long_desc(self) -> str:
        return (super().long_desc().rstrip(".") + ". Exits 1 when the run failed (site unreachable, errors"
                " and no items, too many dropped records, interrupted), 75 when another run holds"
                " the JOBDIR, else 0; the last log line sums the run up.")

    def run(self, args, opts) -> None:
        if len(args) < 1:
            raise UsageError
        if len(args) > 1:
            raise UsageError("running 'scrapy crawl' with more than one spider is not supported")
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()

        stats = crawler.stats.get_stats() if getattr(crawler, "stats", None) else {}
        if "finish_reason" not in stats:
            logger.error("Run summary: spider=%s result=FAILED (could not start; see the errors above)", args[0])
            self.exitcode = EXIT_FAILED
            return
        share = crawler.settings.getfloat("MAYADEEN_MAX_DROPPED_SHARE", DEFAULT_MAX_DROPPED_SHARE)
        result = outcome(stats, share)
        line = summary_line(args[0], stats, result)
        (logger.info if result.ok else logger.error)(line)
        if result.ok:
            self.exitcode = EXIT_OK
        else:
            self.exitcode = EXIT_BUSY if result.problem in BUSY else EXIT_FAILED
