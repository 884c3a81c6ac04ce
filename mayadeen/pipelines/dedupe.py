"""Drops the second copy of an article within one crawl.

The same article is reached from listings, tags, sitemaps, feeds and cross-links; Scrapy's request
filter catches most repeats, but not an article under two URLs (a renamed slug whose old URL still
answers, tracking parameters a spider forgot) or a URL requested twice with ``dont_filter``. The
first record wins. Duplicates are normal, so they are logged quietly and only counted. A record that
was not stored after all (the store refused it, or a later pipeline raised) is forgotten: its page
may be fetched again (``mayadeen.distributed.acks``), and its next copy is then the first.
"""

from __future__ import annotations

import logging
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import DropItem

from mayadeen.pipelines.store import item_not_stored
from mayadeen.urls import canonical_url, tracking_params

logger = logging.getLogger(__name__)


class DedupePipeline:
    """Drops a record whose canonical url or article_id was already seen in this run.

    Stats: ``mayadeen/dropped/duplicate_url``, ``mayadeen/dropped/duplicate_article_id``. Memory grows
    with the run: about 25 MB per 100,000 articles.
    """

    def __init__(self, crawler):
        self.stats = crawler.stats
        self.tracking = tracking_params(crawler.settings)
        self.urls: set[str] = set()
        self.article_ids: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.forget, signal=item_not_stored)
        crawler.signals.connect(pipeline.forget, signal=signals.item_error)
        return pipeline

    def _identity(self, item: Any) -> tuple[str | None, str | None]:
        adapter = ItemAdapter(item)
        raw_url = adapter.get("url")
        url = (canonical_url(raw_url, tracking=self.tracking) or raw_url) if raw_url else None
        return url, adapter.get("article_id")

    def forget(self, item: Any, **kwargs) -> None:
        """``item`` was not stored: a later copy of it is not a duplicate."""
        url, article_id = self._identity(item)
        self.urls.discard(url)
        if article_id and self.article_ids.get(article_id) == (url or "<no url>"):
            del self.article_ids[article_id]

    def process_item(self, item: Any) -> Any:
        url, article_id = self._identity(item)
        if url and url in self.urls:
            self.stats.inc_value("mayadeen/dropped/duplicate_url")
            # INFO: the run summary counts it in dropped=, so the log says which.
            logger.info("Dropped a second copy of %s: already scraped in this run", url)
            raise DropItem(f"duplicate_url: {url}", log_level="DEBUG")
        if article_id and article_id in self.article_ids:
            first = self.article_ids[article_id]
            self.stats.inc_value("mayadeen/dropped/duplicate_article_id")
            # INFO: one post under two URLs is worth noticing (a renamed slug, a URL variant).
            logger.info("Dropped %s: article %s was already scraped as %s", url, article_id, first)
            raise DropItem(f"duplicate_article_id: {article_id} ({url}, first seen as {first})", log_level="DEBUG")
        if url:
            self.urls.add(url)
        if article_id:
            self.article_ids[article_id] = url or "<no url>"
        return item
