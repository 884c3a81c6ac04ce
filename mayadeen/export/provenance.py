"""What a user must know to cite and trust an export: licence and terms, provenance, known limitations.

The card's sections of that name (``card_sections``) and the same facts for ``croissant.json``
(``about``). Values that come from the store (spider names, finish reasons, times) are escaped for
Markdown with ``escape.markdown_text`` before they go into the card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mayadeen import __version__
from mayadeen.export.escape import markdown_text

PUBLISHER = "Al Mayadeen"
SITE = "https://english.almayadeen.net"
CODE_LICENCE = "code: MIT (LICENSE)"
_ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@dataclass
class CrawlWindow:
    """The first and last ``scraped_at`` of the exported records (when each was fetched)."""

    first: str | None = None
    last: str | None = None

    def state(self) -> dict[str, Any]:
        return {"first": self.first, "last": self.last}

    def add(self, record: dict[str, Any]) -> None:
        seen = record.get("scraped_at")
        if seen:
            self.first = min(self.first or seen, seen)
            self.last = max(self.last or seen, seen)


def runs_by_spider(runs: list[dict[str, Any]]) -> list[tuple[str, int, str, str]]:
    """(spider, runs, first start, last end) of the store's crawl runs, by first start."""
    spans: dict[str, list] = {}
    for run in runs:
        end = run.get("finished_at") or run["started_at"]
        span = spans.setdefault(run["spider"], [0, run["started_at"], end])
        span[0] += 1
        span[1], span[2] = min(span[1], run["started_at"]), max(span[2], end)
    return sorted(((spider, n, first, last) for spider, (n, first, last) in spans.items()), key=lambda s: s[2])


def card_sections(*, store_engine: str, window: str, crawled: CrawlWindow, runs: list[dict[str, Any]]) -> list[str]:
    """The card's "Licence and terms", "Provenance" and "Known limitations" sections (Markdown lines).

    Nothing in them depends on the moment of the export (that is in ``manifest.json``): the same
    store gives the same card."""
    lines = [
        "## Licence and terms",
        "",
        f"- The content (headlines, text, images' captions, links) is {PUBLISHER}'s, the publisher of "
        f"<{SITE}>; it is not licensed by this export. Use it for research, search and analysis (text and data "
        "mining, indexing, statistics, quoting with attribution); before republishing it or training a model "
        "that others will use, check the publisher's terms of use and the law where you are.",
        f"- The crawler that made it: `mayadeen` {__version__}, {CODE_LICENCE}.",
        f"- Cite as: {markdown_text(cite_as(crawled))}",
        "",
        "## Provenance",
        "",
        f"- Crawler: mayadeen {__version__} (Scrapy); records read from its "
        f"{_ENGINE_NAMES.get(store_engine, markdown_text(store_engine))} store.",
        f"- Window: {markdown_text(window)}.",
        "- Crawled (`scraped_at`, when each exported record's page was fetched, UTC): "
        + (f"{markdown_text(crawled.first)} to {markdown_text(crawled.last)}." if crawled.first else "no record."),
        "- robots.txt: the crawler obeys it (`ROBOTSTXT_OBEY = True`, its default): a page robots.txt disallows "
        "is not fetched. The store does not record a run started with that setting overridden; the WARC "
        "archive records it for each run that archived (`setting-ROBOTSTXT_OBEY` in each file's warcinfo). "
        "`reextract` runs fetch nothing: they rebuild records from WARC files (the crawler's own, or CC-NEWS).",
        "",
    ]
    spiders = runs_by_spider(runs)
    if spiders:
        lines += [
            "Runs per spider (UTC):",
            "",
            "| spider | runs | first started | last finished |",
            "| --- | --- | --- | --- |",
            *(
                f"| {markdown_text(spider)} | {n} | {markdown_text(first)} | {markdown_text(last)} |"
                for spider, n, first, last in spiders
            ),
            "",
        ]
    lines += [
        "## Known limitations",
        "",
        "- Only what the crawler reached: items no listing, sitemap or feed linked to while it ran are missing, "
        "and the site's older archive is only as complete as its sitemaps.",
        "- One version per item (the last seen) unless the revisions files are exported; an edit between two "
        "crawls is seen once, at the next crawl.",
        "- Extraction follows the site's templates at crawl time; fields a template lacks are null (see the "
        "fields below), and a layout change can leave fields empty until the extraction is fixed and the "
        "archive re-extracted.",
        "- All times are UTC.",
        "- Breaking-news flashes are only those the ticker showed while a crawl or watch was running.",
        "",
    ]
    return lines


def cite_as(crawled: CrawlWindow) -> str:
    """How to cite the export: what, where from, up to when it was crawled, by which crawler."""
    until = f", crawled up to {crawled.last}" if crawled.last else ""
    return f"Al Mayadeen English items ({SITE}){until}, with mayadeen {__version__}."


def about(*, description: str, crawled: CrawlWindow, window: str) -> dict[str, Any]:
    """schema.org properties of the dataset for ``croissant.json``: like the card, nothing in them
    depends on the moment of the export (the same store gives the same file)."""
    return {
        "name": "Al Mayadeen English items",
        "description": description,
        "url": SITE,
        "license": {
            "@type": "sc:CreativeWork",
            "name": f"Content: {PUBLISHER}'s, the publisher's terms apply; {CODE_LICENCE}",
        },
        "usageInfo": (
            f"The crawler's code: MIT. The content is {PUBLISHER}'s ({SITE}), not licensed by this "
            "export: check the publisher's terms before reuse beyond research."
        ),
        "creator": {"@type": "sc:Organization", "name": "the mayadeen authors"},
        "publisher": {"@type": "sc:Organization", "name": PUBLISHER, "url": SITE},
        "version": __version__,
        **({"datePublished": crawled.last} if crawled.last else {}),
        "temporalCoverage": window,
        "citeAs": cite_as(crawled),
    }
