"""Field coverage: catch a redesign of the site on the first night instead of storing empty fields.

When the site changes its templates, extraction does not crash: it quietly returns records without a
body or tags. So every run measures, for each record field, the share of its records in which the
field is present and non-empty (``None``, blank strings and empty lists/objects count as missing),
overall and per kind (article, video, infograph, gallery), plus the share of item pages fetched
(``200`` at an item URL) that gave a record at all (``record``). Records dropped by validation count
(they are what the extraction produced); duplicates do not. A redesign of the listings shows up
earlier still: home and listing pages fetched, but not one item link found on them
(``mayadeen/fresh/*``, counted by every spider for every item it discovers, stays at 0).

At the end of the run the report is logged (INFO), put in the stats (``mayadeen/coverage/*``) and
stored in ``crawl_runs.coverage`` of the SQLite store.

``MAYADEEN_COVERAGE_MIN`` maps a field (or ``record``) to the least share a run must reach: a number
for every item page, or ``{kind: share}`` for some kinds only. Fields the record schema says every
record has (never null, a list with ``minItems``: ``mayadeen.record.NEVER_EMPTY_KEYS``) must reach
100 % unless the setting names them. A share below 1 is only checked once
``MAYADEEN_COVERAGE_MIN_PAGES`` item pages (of that kind) were fetched, as a few pages say little;
a required share of 1, "item pages fetched but no record at all" and "listing pages fetched but no
item found" are checked from the first page. A run below a minimum fails: an ERROR names the fields,
and the crawl closes with the finish reason ``coverage_below_minimum`` (so ``scrapy crawl`` exits 1
and ``crawl_runs.finish_reason`` says so). It is judged when the crawl runs out of work, by
``mayadeen.extensions.run_outcome.RunOutcome``, which asks this extension (``check``); a run
stopped otherwise (a ``CLOSESPIDER_*`` limit, Ctrl-C) only reports it. Runs that fetched no item
page (an incremental run with nothing new) are not judged.

Stats: ``mayadeen/coverage/pages``, ``mayadeen/coverage/records``, ``mayadeen/coverage/below_minimum``
(the failing fields, comma-separated) and ``mayadeen/failed/coverage`` (the message).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future

from mayadeen.browser.render import EMPTY_LISTING
from mayadeen.extensions.run_outcome import COVERAGE_BELOW_MINIMUM, RunOutcome
from mayadeen.items import ArticleItem
from mayadeen.pipelines.store import StorePipeline
from mayadeen.record import NEVER_EMPTY_KEYS
from mayadeen.store.freshness import items_seen
from mayadeen.urls import PUBLIC_URL, canonical_url, item_kind, listing_key

logger = logging.getLogger(__name__)

#: What the pipeline adds, not the extraction: always there, says nothing about the layout.
NOT_EXTRACTED = frozenset({"scraped_at", "content_hash"})
FIELDS = tuple(f for f in ArticleItem.fields if f not in NOT_EXTRACTED)
#: Fields every record has, by the schema: a floor of 100 % unless MAYADEEN_COVERAGE_MIN says otherwise.
REQUIRED = tuple(f for f in FIELDS if f in NEVER_EMPTY_KEYS)
RECORD = "record"
HOME = PUBLIC_URL + "/"
UNKNOWN_KIND = "unknown"


def present(value: Any) -> bool:
    """Present and non-empty: not None, not a blank string, not an empty list or object."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple, dict, set)):
        return bool(value)
    return True


class Tally:
    """Counts of item pages, records and present fields, per kind."""

    def __init__(self):
        self.pages: Counter[str] = Counter()
        self.records: Counter[str] = Counter()
        self.fields: dict[str, Counter[str]] = defaultdict(Counter)

    def add_page(self, kind: str) -> None:
        self.pages[kind] += 1

    def add_record(self, record: Mapping[str, Any], kind: str) -> None:
        self.records[kind] += 1
        counts = self.fields[kind]
        for name in FIELDS:
            if present(record.get(name)):
                counts[name] += 1

    def report(self) -> dict[str, Any]:
        """``{"pages", "records", "record", "fields": {name: share}, "by_kind": {kind: {...}}}``.

        Shares are rounded to 4 places; ``record`` is the share of item pages that gave a record.
        """

        def block(pages: int, records: int, counts: Mapping[str, int]) -> dict[str, Any]:
            return {
                "pages": pages,
                "records": records,
                RECORD: round(min(records, pages) / pages, 4) if pages else None,
                "fields": {f: round(counts.get(f, 0) / records, 4) if records else 0.0 for f in FIELDS},
            }

        total = Counter()
        for counts in self.fields.values():
            total.update(counts)
        kinds = sorted(set(self.pages) | set(self.records))
        out = block(sum(self.pages.values()), sum(self.records.values()), total)
        out["by_kind"] = {k: block(self.pages[k], self.records[k], self.fields[k]) for k in kinds}
        return out


def shortfalls(report: Mapping[str, Any], minimum: Mapping[str, Any], min_pages: int) -> list[str]:
    """``"body 0% < 100%"``-style descriptions of every minimum the report misses."""
    out = []
    discovery = report.get("discovery") or {}
    if discovery.get("listing_pages") and not discovery.get("items_found") and not report["pages"]:
        return [f"item links 0 ({discovery['listing_pages']} home/listing pages fetched, no item found on them)"]
    if report["pages"] and not report["records"]:
        return [f"{RECORD} 0% ({report['pages']} item pages fetched, no record extracted)"]
    for name, want in minimum.items():
        scopes = want.items() if isinstance(want, Mapping) else [(None, want)]
        for kind, share in scopes:
            block = report if kind is None else report["by_kind"].get(kind)
            if block is None or not block["pages"]:
                continue
            share = float(share)
            if share < 1.0 and block["pages"] < min_pages:
                continue
            got = block[RECORD] if name == RECORD else block["fields"].get(name)
            if got is None or not block["records"] and name != RECORD:
                continue
            if got < share:
                where = f" ({kind})" if kind else ""
                out.append(f"{name}{where} {got:.0%} < {share:.0%}")
    return out


class FieldCoverage:
    def __init__(self, crawler):
        settings = crawler.settings
        if not settings.getbool("MAYADEEN_COVERAGE_ENABLED", True):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.minimum = {**dict.fromkeys(REQUIRED, 1.0), **settings.getdict("MAYADEEN_COVERAGE_MIN")}
        unknown = set(self.minimum) - set(FIELDS) - {RECORD}
        if unknown:
            raise ValueError(f"MAYADEEN_COVERAGE_MIN names unknown fields: {sorted(unknown)}")
        self.min_pages = settings.getint("MAYADEEN_COVERAGE_MIN_PAGES", 10)
        self.tally = Tally()
        self.listing_pages = 0
        self.failing: list[str] = []  # why the run failed, once judged
        self.final: dict[str, Any] | None = None

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    # --- counting -------------------------------------------------------------------------------
    def response_received(self, response, request, spider):
        if response.status == 200:
            url = canonical_url(response.url) or ""
            kind = item_kind(url)
            if kind:
                self.tally.add_page(kind)
            elif (url == HOME or listing_key(url)) and not request.meta.get(EMPTY_LISTING):
                self.listing_pages += 1  # an empty client-side listing lists nothing: no sign of a redesign

    def item_scraped(self, item, response, spider):
        self._add(item, response)

    def item_dropped(self, item, response, exception, spider):
        if str(exception).startswith("duplicate"):  # DedupePipeline's reasons: duplicate_url, …
            # The same article fetched again (e.g. a retried request that followed a redirect):
            # its record is counted where it was first seen.
            kind = self._kind(item, response)
            if self.tally.pages[kind] > 0:
                self.tally.pages[kind] -= 1
        else:
            self._add(item, response)

    def _add(self, item, response) -> None:
        self.tally.add_record(ItemAdapter(item), self._kind(item, response))

    @staticmethod
    def _kind(item, response) -> str:
        url = ItemAdapter(item).get("url")
        if not isinstance(url, str) or not url:
            url = getattr(response, "url", "") or ""
        return item_kind(canonical_url(url) or "") or UNKNOWN_KIND

    # --- judging --------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        report = self.tally.report()
        report["discovery"] = {"listing_pages": self.listing_pages, "items_found": items_seen(self.stats.get_stats())}
        return report

    def spider_opened(self, spider):
        judge = self.crawler.get_extension(RunOutcome)
        if judge is not None:
            judge.add_check(self.check)

    def shortfalls(self) -> list[str]:
        """The floors the run misses: as judged at the end once the spider closed, else so far."""
        if self.final is not None:
            return self.final["below_minimum"]
        return self.failing or shortfalls(self.report(), self.minimum, self.min_pages)

    def check(self) -> tuple[str, str] | None:
        """For RunOutcome, when the crawl ran out of work: ``coverage_below_minimum`` and why, or None."""
        self.failing = self.failing or shortfalls(self.report(), self.minimum, self.min_pages)
        if not self.failing:
            return None
        message = ", ".join(self.failing)
        self.stats.set_value("mayadeen/failed/coverage", message)
        return COVERAGE_BELOW_MINIMUM, (
            f"Field coverage below the minimum (MAYADEEN_COVERAGE_MIN): {message}. Has the"
            " site's layout changed? Records are stored, but this run counts as failed."
        )

    async def spider_closed(self, spider, reason):
        report = self.report()
        below = self.failing
        if not below and (report["pages"] or report["discovery"]["listing_pages"]):
            below = shortfalls(report, self.minimum, self.min_pages)
            if below:  # a run that did not end idle (a CLOSESPIDER_* limit): reported, not judged
                logger.warning("Field coverage below the minimum: %s", ", ".join(below))
        report["below_minimum"] = below
        self.final = report
        self.stats.set_value("mayadeen/coverage/pages", report["pages"])
        self.stats.set_value("mayadeen/coverage/records", report["records"])
        if below:
            self.stats.set_value("mayadeen/coverage/below_minimum", ", ".join(below))
        if report["pages"] or report["records"]:
            logger.info(
                "Field coverage over %d records from %d item pages: %s",
                report["records"],
                report["pages"],
                ", ".join(f"{f} {s:.0%}" for f, s in report["fields"].items()),
            )
        await self.store_report(report)

    async def store_report(self, report: dict[str, Any]) -> None:
        """Adds the report to this run's ``crawl_runs`` row, through the store pipeline's writer (off the reactor)."""
        run_id = self.stats.get_value("mayadeen/run_id")
        pipeline = self.crawler.get_item_pipeline(StorePipeline) if run_id else None
        if pipeline is None or pipeline.writer is None:
            return
        try:
            await maybe_deferred_to_future(pipeline.write(lambda store: store.finish_run(run_id, coverage=report)))
        except pipeline.writer.errors as exc:  # the store failed: one line, and a failed run
            self.stats.inc_value("mayadeen/lost/coverage")
            logger.error("Could not store the field coverage of run %s in %s: %s", run_id, pipeline.target, exc)
        except Exception:
            logger.exception("Could not store the field coverage of run %s in %s", run_id, pipeline.target)
