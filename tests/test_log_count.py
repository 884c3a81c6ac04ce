"""``LogCountToTheEnd``'s handler on the root logger: counting from the crawl's start, never left counting."""

from __future__ import annotations

import logging

from scrapy.utils.test import get_crawler

from mayadeen.extensions.log_count import LogCountToTheEnd


def counters() -> list[logging.Handler]:
    return [h for h in logging.root.handlers if type(h).__name__ == "_CrawlLogCounter"]


def test_a_crawl_that_ended_before_its_spider_opened_counts_nothing_and_the_next_crawl_removes_its_handler():
    before = counters()
    failed = get_crawler()  # never crawling: as a crawl whose components failed to build
    LogCountToTheEnd.from_crawler(failed)
    (left,) = [h for h in counters() if h not in before]
    logging.getLogger("mayadeen.test").warning("a line of another crawl")
    assert failed.stats.get_value("log_count/WARNING") is None
    LogCountToTheEnd.from_crawler(get_crawler())
    assert left not in counters()


def test_a_crawl_counts_before_its_spider_opens():
    crawler = get_crawler()
    crawler.crawling = True  # as Crawler.crawl sets it before building the extensions
    ext = LogCountToTheEnd.from_crawler(crawler)
    try:
        logging.getLogger("mayadeen.test").warning("an earlier run was killed")
        assert crawler.stats.get_value("log_count/WARNING") == 1
    finally:
        ext.engine_stopped()
    assert ext.handler is None
