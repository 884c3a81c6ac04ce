"""Alerts leave the crawl off the reactor thread, and the crawl waits for them before it ends.

``AlertDelivery`` (an extension, after Spidermon's) runs each send (an HTTP POST, an SMTP session)
in Twisted's thread pool (``deferToThread``): a slow or dead receiver never holds up the crawl, and a
send that fails is a WARNING, never an error of the run. When the spider closes it waits for the
sends under way, so the alert of a run's end is out before the process exits.

It also remembers what was alerted: a periodic check alerts only on monitors that were passing at the
previous check (a block by the site is said once, not every few minutes), the check at the end of the
run on every failed monitor. And it keeps Spidermon's own report of a failed monitor out of the
ERROR lines: an alert is no error of the run (``log_count/ERROR`` counts towards the run's verdict).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

from scrapy import signals
from scrapy.exceptions import ScrapyDeprecationWarning
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.threads import deferToThread

logger = logging.getLogger(__name__)

# Spidermon 1.27 logs its report through Spider.log(), which Scrapy 2.19 deprecates.
warnings.filterwarnings("ignore", r"Spider\.log\(\) is deprecated", ScrapyDeprecationWarning, r"spidermon\.")

_SPIDERMON_LINE = "[Spidermon]"


class SpidermonReportAsWarning(logging.Filter):
    """Spidermon's ERROR blocks: the traceback of a failed monitor's assertion is left out (its failure
    is logged in one line, ``mayadeen.monitors.actions.RecordMonitors``); that of a monitor that broke
    is kept, as a WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if record.levelno > logging.WARNING and message.startswith(_SPIDERMON_LINE):
            if "\nFAIL: " in message:
                return False
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


class AlertDelivery:
    """Setting: ``MAYADEEN_ALERT_TIMEOUT`` (seconds one send may take, default 10)."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.timeout = crawler.settings.getfloat("MAYADEEN_ALERT_TIMEOUT", 10.0)
        self.pending: set[Deferred] = set()
        self.failing: set[str] = set()  # monitors failed at the last check
        self.report_filter = SpidermonReportAsWarning()
        self.spider_logger: logging.Logger | None = None

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider) -> None:
        self.spider_logger = logging.getLogger(spider.name)  # the logger behind spider.logger
        self.spider_logger.addFilter(self.report_filter)

    def to_alert(self, failures: list[dict[str, Any]], closing: bool) -> list[dict[str, Any]]:
        """The failures worth an alert now: every one when the run ends, else those new since the last check."""
        new = failures if closing else [f for f in failures if f["monitor"] not in self.failing]
        self.failing = {f["monitor"] for f in failures}
        return new

    def send(self, what: str, work: Callable[..., Any], *args: Any) -> None:
        """Runs ``work(*args, timeout)`` in a thread; a failure is logged as a WARNING."""
        sending = deferToThread(work, *args, self.timeout)
        self.pending.add(sending)
        sending.addCallbacks(
            lambda _: logger.info("Sent the %s alert", what),
            lambda failure: logger.warning("Could not send the %s alert: %s", what, failure.value),
        )
        sending.addBoth(lambda _: self.pending.discard(sending))

    async def spider_closed(self, spider) -> None:
        if self.spider_logger is not None:
            self.spider_logger.removeFilter(self.report_filter)
        if self.pending:
            await maybe_deferred_to_future(DeferredList(list(self.pending)))
