"""A download that failed on the network is one log line, not a traceback.

Scrapy logs a download that failed for good with its traceback when nothing handles the failure: the
scraper for a request without an errback (``Error downloading <GET …>``), the robots.txt middleware
for its own request. For a failure of a kind Scrapy retries (``RETRY_EXCEPTIONS``: connection refused
or lost, timeouts, DNS), that traceback walks Twisted's and Scrapy's internals and tells an operator
nothing the line does not: an unreachable site printed two of them before its one-line summary. The
line stays, at its level, naming the request and the error (added when it did not); only the
traceback goes. Any other exception, and any other line (a pipeline's or a callback's error), keeps
its traceback.
"""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.utils.misc import load_object

#: The loggers that log an unhandled download failure with its traceback, and how that line begins.
LOGGERS = ("scrapy.core.scraper", "scrapy.downloadermiddlewares.robotstxt")
DOWNLOAD_FAILED = "Error downloading"


class NetworkErrorsInOneLine(logging.Filter):
    def __init__(self, crawler):
        super().__init__()
        self.kinds = tuple(
            kind if isinstance(kind, type) else load_object(kind)
            for kind in crawler.settings.getlist("RETRY_EXCEPTIONS")
        )

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        # Added once the engine starts, so that a crawl whose spider closed before (no engine_stopped)
        # leaves nothing behind; another crawler of this process then logs as Scrapy does.
        crawler.signals.connect(ext.engine_started, signal=signals.engine_started)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def engine_started(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).addFilter(self)

    def engine_stopped(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if isinstance(record.exc_info, tuple) else None
        # A download's failure only: a pipeline's or a callback's OSError (disk full, permissions) keeps it.
        download = isinstance(record.msg, str) and record.msg.startswith(DOWNLOAD_FAILED)
        if download and error is not None and isinstance(error, self.kinds):
            message = record.getMessage()
            if str(error) not in message:  # the traceback's last line was the only word on the error
                record.msg, record.args = f"{message}: {error}", ()
            record.exc_info, record.exc_text = None, None
        return True
