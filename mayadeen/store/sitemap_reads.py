"""Which monthly sitemaps were read, and what they said then: so an unchanged month is not read again.

A sitemap index gives each monthly sitemap a ``<lastmod>``. After a run has read a month's sitemap and
finished without an error, ``sitemap_reads`` keeps that ``<lastmod>`` and the response's validators
(``ETag``, ``Last-Modified``). A later run skips a month whose ``<lastmod>`` in the index is not newer
than the one kept, and asks for the others conditionally (``If-None-Match`` / ``If-Modified-Since``):
a ``304 Not Modified`` answer counts as read.

Reads are kept only when they are complete: the run ended ``finished`` with no error logged and read
the whole month (no ``since``/``until`` window, which leaves items of the month unfetched). A run
that failed leaves the old rows, so the next one reads those months again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

DDL = (
    """CREATE TABLE IF NOT EXISTS sitemap_reads (
        url TEXT PRIMARY KEY,
        lastmod TEXT,
        etag TEXT,
        last_modified TEXT,
        read_at TEXT NOT NULL
    )""",
)


@dataclass(frozen=True)
class SitemapRead:
    """A monthly sitemap as last read: its ``<lastmod>`` in the index (UTC ISO), its validators."""

    url: str
    lastmod: str | None = None
    etag: str | None = None
    last_modified: str | None = None


class SitemapLedger:
    """What one run knows about the monthly sitemaps: the reads kept, and this run's reads so far.

    ``kept``: the ``sitemap_reads`` rows when the run started. ``listed(url, lastmod)`` notes what the
    index says of a month; ``unchanged(url)`` tells whether the month can be skipped; ``validators``
    gives the conditional request headers; ``read``/``not_modified`` note this run's answers, which
    ``pending()`` hands back for the store once the run has ended well.
    """

    def __init__(self, kept: Mapping[str, SitemapRead] | None = None, *, conditional: bool = True):
        self.kept = dict(kept or {})
        self.conditional = conditional
        self.index_lastmod: dict[str, str | None] = {}
        self._read: dict[str, SitemapRead] = {}

    def listed(self, url: str, lastmod: str | None) -> None:
        self.index_lastmod[url] = lastmod

    def unchanged(self, url: str) -> bool:
        """The index's ``<lastmod>`` for ``url`` is not newer than at the last complete read."""
        kept, lastmod = self.kept.get(url), self.index_lastmod.get(url)
        return bool(self.conditional and kept and kept.lastmod and lastmod and lastmod <= kept.lastmod)

    def validators(self, url: str) -> dict[str, str]:
        kept = self.kept.get(url)
        if not (self.conditional and kept):
            return {}
        headers = {}
        if kept.etag:
            headers["If-None-Match"] = kept.etag
        if kept.last_modified:
            headers["If-Modified-Since"] = kept.last_modified
        return headers

    def read(self, url: str, etag: str | None, last_modified: str | None) -> None:
        self._read[url] = SitemapRead(url, self.index_lastmod.get(url), etag, last_modified)

    def not_modified(self, url: str) -> None:
        kept = self.kept.get(url) or SitemapRead(url)
        self._read[url] = replace(kept, lastmod=self.index_lastmod.get(url) or kept.lastmod)

    def pending(self) -> list[SitemapRead]:
        return list(self._read.values())
