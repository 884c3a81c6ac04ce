"""``scrapy crawl feed``: the newest items, from the RSS feed and the news sitemap (every few minutes)."""

from __future__ import annotations

from mayadeen.days import site_day
from mayadeen.pages.discovery import read_rss
from mayadeen.spiders.sitemap import SitemapSpider, window_arguments
from mayadeen.urls import PUBLIC_URL


class FeedSpider(SitemapSpider):
    """``/rss`` and ``/sitemaps/news.xml`` → the items they list that are new or changed.

    Arguments (``-a``): ``base_url``, ``full``, and ``since``/``until`` as for ``sitemap`` (applied to
    the items' publication dates). The feeds give publication dates only, so an edit to a stored
    item is picked up by the ``sitemap`` spider (its ``<lastmod>``), not by this one.
    """

    name = "feed"
    arguments = window_arguments("publication (RSS pubDate, news sitemap publication date)")
    RSS_URL = f"{PUBLIC_URL}/rss"
    sitemap_urls = ()  # no robots.txt, no index: only the news sitemap, read by parse_news_sitemap

    async def start(self):
        yield self.request(self.RSS_URL, self.parse_rss)
        async for request in super().start():
            yield request

    async def parse_rss(self, response):
        self.crawler.stats.inc_value("mayadeen/feed/files")
        entries = read_rss(response.body, response.url, self.tracking)
        if not entries:
            self.logger.warning("No items in the feed %s", response.url)
        for entry in await self.wanted_items(entries):
            yield self.request(entry.url, self.parse_item)

    def item_in_window(self, entry) -> bool:
        """Feeds give publication dates: the window applies to those (there is no monthly sitemap to defer to)."""
        if self.window.is_open or not (entry.modified or entry.published):
            return True
        day = site_day(entry.modified or entry.published)
        return day is None or self.window.contains(day)
