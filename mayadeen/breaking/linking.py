"""Links each stored article to the flashes it covers (``breaking_news.article_url``).

When an article has gone through the pipelines (so it is in the store), the flashes dated up to
``MAYADEEN_BREAKING_LINK_WINDOW`` seconds before its publication whose text is at least
``MAYADEEN_BREAKING_LINK_SIMILARITY`` alike its headline point at it, unless a better match already
does (rule in ``mayadeen.store.breaking``). Works on either engine, through the crawl's store
(``mayadeen.breaking.table``); off without a store or with a similarity of 0. Stats:
``mayadeen/breaking/linked`` (flash-article links made), ``mayadeen/breaking/store_errors``.
"""

from __future__ import annotations

import logging

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import NotConfigured

from mayadeen.breaking.table import BreakingTable

logger = logging.getLogger(__name__)


class ArticleLinker:
    def __init__(self, crawler, table: BreakingTable):
        self.stats = crawler.stats
        self.table = table

    @classmethod
    def from_crawler(cls, crawler):
        table = BreakingTable(crawler)
        if table.target is None or table.link_similarity <= 0:
            raise NotConfigured("no store, or linking turned off")
        ext = cls(crawler, table)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    async def item_scraped(self, item, response, spider) -> None:
        adapter = ItemAdapter(item)
        if "headline" not in adapter.field_names() or not adapter.get("date_published"):
            return  # not an article (a flash, for one)
        try:
            url, headline, published = adapter.get("url"), adapter.get("headline"), adapter.get("date_published")
            linked = await self.table.run(lambda flashes: flashes.link_article(url, headline, published))
        except self.table.errors as exc:
            self.stats.inc_value("mayadeen/breaking/store_errors")
            logger.error(
                "Could not link %s to the breaking news in %s: %s", adapter.get("url"), self.table.location, exc
            )
            return
        if linked:
            self.stats.inc_value("mayadeen/breaking/linked", linked)
            logger.info("Linked %s to %d breaking news flash(es)", adapter.get("url"), linked)

    async def spider_closed(self, spider) -> None:
        await self.table.close()
