"""A bare Scrapy link follower, the yardstick of ``bench/sections_vs_bare.py``: it follows every on-site
link of every HTML page and parses nothing else (no items, no store, no archive, no browser).

    scrapy runspider bench/bare_follower.py -a base_url=http://127.0.0.1:PORT

Pages link to public URLs (https://english.almayadeen.net/...); they are fetched from ``base_url``.
"""

from __future__ import annotations

import scrapy

PUBLIC = "https://english.almayadeen.net"


class BareFollower(scrapy.Spider):
    name = "bare_follower"

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    async def start(self):
        yield scrapy.Request(self.base_url + "/")

    def parse(self, response):
        if not isinstance(response, scrapy.http.HtmlResponse):
            return
        for href in response.xpath("//a/@href").getall():
            url = response.urljoin(href.replace(PUBLIC, self.base_url, 1))
            if url.startswith(self.base_url + "/"):
                yield scrapy.Request(url.split("#")[0])
