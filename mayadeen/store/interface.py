"""What every store engine offers: the methods the pipeline, freshness, spiders and run rows use.

Engines: ``mayadeen.store.sqlite.ArticleStore`` (one file) and ``mayadeen.store.postgres.PostgresStore``
(one database for many machines); ``mayadeen.store.engines.connect`` opens either. Records go in and
come back as the record contract has them (dates as ``YYYY-MM-DDThh:mm:ssZ`` strings, lists and
objects as Python lists and dicts). Features beyond this interface (full-text search, WARC captures,
breaking news, failing items, the export reader) use SQLite's connection and are SQLite-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from mayadeen.store.sitemap_reads import SitemapRead


class SharedStore:
    """What both engines do the same way: closing their one connection (``conn``, also through the
    ``with`` statement), and the URL lookups, in SQL both speak (``marker``: the driver's parameter)."""

    conn: Any
    marker = "?"

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
            self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def article_id(self, url_or_id: str) -> str | None:
        """The ``article_id`` of an item given its id, its url or one of its aliases."""
        if url_or_id.isdigit():
            return url_or_id
        row = self.conn.execute(f"SELECT article_id FROM article_urls WHERE url = {self.marker}",
                                (url_or_id,)).fetchone()
        return row[0] if row else None

    def urls(self, url_or_id: str) -> list[str]:
        """Every URL an item is known under (its address and aliases), sorted."""
        rows = self.conn.execute(f"SELECT url FROM article_urls WHERE article_id = {self.marker} ORDER BY url",
                                 (self.article_id(url_or_id),))
        return [r[0] for r in rows]


class Store(Protocol):
    engine: str  # "sqlite" or "postgresql"
    location: str  # for logs: the file, or the URL without its password
    readonly: bool
    #: The exceptions a failed read or write raises (the write was rolled back).
    errors: tuple[type[BaseException], ...]

    def close(self) -> None: ...

    # articles
    def upsert(self, record: Mapping[str, Any], seen_at: str | None = None, *, aliases: Iterable[str] = (),
               listed: str | None = None, run_id: int | None = None) -> str: ...
    def get(self, url_or_id: str) -> dict[str, Any] | None: ...
    def article_id(self, url_or_id: str) -> str | None: ...
    def urls(self, url_or_id: str) -> list[str]: ...
    def revisions(self, url_or_id: str) -> list[dict[str, Any]]: ...
    def lookup(self, urls: Iterable[str]) -> dict[str, Any]: ...
    def iter_records(self) -> Iterator[dict[str, Any]]: ...
    def count(self) -> int: ...

    # sitemaps read
    def sitemap_reads(self) -> dict[str, SitemapRead]: ...
    def keep_sitemap_reads(self, reads: Iterable[SitemapRead], read_at: str | None = None) -> None: ...

    # crawl runs
    def start_run(self, spider: str, arguments: Mapping[str, Any] | None = None,
                  started_at: str | None = None) -> int: ...
    def finish_run(self, run_id: int, **figures: Any) -> None: ...
    def runs(self) -> list[dict[str, Any]]: ...
    def claim_run(self, run_id: int) -> None: ...
    def mark_killed(self, current_run: int) -> list[int]: ...
    def update_run(self, run_id: int, figures: Mapping[str, Any]) -> None: ...
    def record_result(self, run_id: int, result: str, finish_reason: str | None = None) -> None: ...
