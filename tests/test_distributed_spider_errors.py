"""A callback that raises before giving any output: its lease is acknowledged
(``AckWhenDone.process_spider_exception``), so the crawl ends, with a real redis-server and the real
engine in process.

The spider is the sitemap spider with one item page's callback raising at the call (a plain function,
as Scrapy's ``SitemapSpider._parse_sitemap``): no output is iterated, so nothing but
``process_spider_exception`` can finish the request. A lease left held by the live worker would be
renewed at every heartbeat and the crawl would never end. The spider reaches the crawl command
through ``SPIDER_MODULES`` (this module).
"""

from __future__ import annotations

import pytest

from mayadeen.distributed.crawl import crawl_status
from mayadeen.distributed.keys import CrawlKeys
from mayadeen.spiders.sitemap import SitemapSpider
from tests import inprocess
from tests.conftest import expected_records
from tests.distributed import MeteredServer, RedisServer, needs_redis, stores

pytestmark = [needs_redis, pytest.mark.timeout(300)]

RAISING = sorted(expected_records())[0]


class RaisingSitemapSpider(SitemapSpider):
    """The sitemap spider, whose item callback raises at once on ``RAISING``."""

    name = "sitemap_raising"

    def parse_item(self, response):
        if response.url == RAISING:
            raise RuntimeError(f"test callback error on {response.url}")
        return super().parse_item(response)


def test_a_callback_that_raises_gives_up_its_lease_and_the_crawl_ends(tmp_path):
    workdir = tmp_path / "worker"
    keys = CrawlKeys(RaisingSitemapSpider.name, RaisingSitemapSpider.name)
    settings = {
        "SPIDER_MODULES": f"mayadeen.spiders,{__name__}",
        "MAYADEEN_WARC_DIR": "",
        "MAYADEEN_REDIS_POLL_INTERVAL": "0.05",
        # A lease is renewed at every heartbeat while the worker lives: one never acknowledged keeps
        # the crawl running until the timeout below, a failure of its own.
        "MAYADEEN_REDIS_LEASE_TTL": "2",
        "MAYADEEN_STORE_REACTOR_TIMEOUT": "1",
    }
    with RedisServer(tmp_path / "redis") as redis_srv, MeteredServer() as srv:
        settings["MAYADEEN_REDIS_URL"] = redis_srv.url
        result = inprocess.crawl(
            RaisingSitemapSpider.name, srv.url, workdir, args={"js": "0"}, settings=settings, timeout=90, check=False
        )
        client = redis_srv.client()
        status = crawl_status(client, keys)
        leases = client.zcard(keys.leases)
    log = result.log
    assert f"test callback error on {RAISING}" in log, log[-3000:]  # the error is logged as usual
    assert "Run summary: spider=sitemap_raising" in log.strip().splitlines()[-1], log[-3000:]
    assert result.stat("finish_reason") is None and result.stats.get("finish_reason") == "finished"
    assert leases == 0 and (status["status"], status["queued"], status["in_flight"]) == ("ended", 0, 0)
    assert result.stat("mayadeen/redis/acked") == result.stat("mayadeen/redis/taken") > 0
    assert set(stores([workdir])[0]) == set(expected_records()) - {RAISING}  # the other items stored
