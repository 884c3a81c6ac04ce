"""Drops records that break the contract, saying which page and why.

A record without url, headline or publication date is useless downstream; any other schema breach
means the parser met a page it does not understand. Both are dropped rather than stored half-right,
logged at WARNING (they need a look) and counted per reason so a crawl's stats show what went wrong.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy.exceptions import DropItem

from mayadeen.plain_record import plain_record
from mayadeen.record import validation_errors

logger = logging.getLogger(__name__)

#: Keys without which a record is not worth keeping, checked first for a short, countable reason.
ESSENTIAL_KEYS = ("url", "headline", "date_published")
STATS_PREFIX = "mayadeen/dropped/"
#: How many schema errors go into the log line and the DropItem message.
MAX_REPORTED_ERRORS = 3


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class ValidatePipeline:
    """Drops (``DropItem``) a record missing url/headline/date_published or failing the JSON Schema.

    Stats: ``mayadeen/dropped/missing_<key>`` or ``mayadeen/dropped/schema``. Scrapy's own
    "Dropped:" line (which dumps the whole item) is lowered to DEBUG: our WARNING says it shorter.
    """

    def __init__(self, crawler):
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        record = plain_record(item)
        for key in ESSENTIAL_KEYS:
            if _blank(record.get(key)):
                self._drop(record, f"missing_{key}", f"no {key}")
        errors = validation_errors(record)
        if errors:
            shown = "; ".join(errors[:MAX_REPORTED_ERRORS])
            more = len(errors) - MAX_REPORTED_ERRORS
            self._drop(record, "schema", shown + (f"; and {more} more" if more > 0 else ""))
        return item

    def _drop(self, record: dict, reason: str, detail: str) -> None:
        page = _page(record)
        self.stats.inc_value(STATS_PREFIX + reason)
        logger.warning("Dropped record of %s (%s): %s", page, reason, detail)
        raise DropItem(f"{reason}: {detail} ({page})", log_level="DEBUG")


def _page(record: dict) -> str:
    """The best name for the page a record came from, even when it has no url."""
    if not _blank(record.get("url")):
        return str(record["url"])
    hints = [f"{key}={record[key]!r}" for key in ("article_id", "headline") if not _blank(record.get(key))]
    return "<no url; " + (", ".join(hints) or "no id or headline") + ">"
