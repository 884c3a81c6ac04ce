"""Links each stored article to the flashes it covers (``breaking_news.article_url``).

When an article has gone through the pipelines (so it is in the store), the flashes dated up to
``MAYADEEN_BREAKING_LINK_WINDOW`` seconds before its publication whose text is at least
``MAYADEEN_BREAKING_LINK_SIMILARITY`` alike its headline point at it, unless a better match already
does (rule in ``mayadeen.store.breaking``). Off without a SQLite store (none, or PostgreSQL) or
with a similarity of 0. Stats: ``mayadeen/breaking/linked`` (flash-article links made),
``mayadeen/breaking/store_errors``.
"""

from __future__ import annotations

import logging
import sqlite3

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import NotConfigured

from mayadeen.store.breaking import DEFAULT_LINK_SIMILARITY, DEFAULT_LINK_WINDOW, BreakingStore
from mayadeen.store.engines import sqlite_path

logger = logging.getLogger(__name__)


class ArticleLinker:
    def __init__(self, crawler, path: str, similarity: float, window: float):
        self.stats = crawler.stats
        self.path, self.similarity, self.window = path, similarity, window
        self.store: BreakingStore | None = None

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        path = sqlite_path(settings)
        similarity = settings.getfloat("MAYADEEN_BREAKING_LINK_SIMILARITY", DEFAULT_LINK_SIMILARITY)
        if not path or similarity <= 0:
            raise NotConfigured("no store, or linking turned off")
        ext = cls(crawler, path, similarity, settings.getfloat("MAYADEEN_BREAKING_LINK_WINDOW", DEFAULT_LINK_WINDOW))
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def item_scraped(self, item, response, spider) -> None:
        adapter = ItemAdapter(item)
        if "headline" not in adapter.field_names() or not adapter.get("date_published"):
            return  # not an article (a flash, for one)
        try:
            if self.store is None:
                self.store = BreakingStore(self.path, link_similarity=self.similarity, link_window=self.window)
            linked = self.store.link_article(adapter.get("url"), adapter.get("headline"), adapter.get("date_published"))
        except sqlite3.Error as exc:
            self.stats.inc_value("mayadeen/breaking/store_errors")
            logger.error("Could not link %s to the breaking news in %s: %s", adapter.get("url"), self.path, exc)
            return
        if linked:
            self.stats.inc_value("mayadeen/breaking/linked", linked)
            logger.info("Linked %s to %d breaking news flash(es)", adapter.get("url"), linked)

    def spider_closed(self, spider) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
