"""Marks in the JOBDIR journal when an item page's callback starts and when it has ended.

A page that kills the crawler (its parse runs out of memory, say) does so inside its callback: the
journal's open ``parsing`` marks at a kill name the pages being parsed then, and no others — not the
pages in flight beside them, nor those that never give an item (a 404 goes to the errback, not here).
``mayadeen.extensions.resume`` counts them across kills and gives up a page that keeps killing runs.

``parsing <url>`` is noted as the callback is called (the request's URL, as the scheduler sees it),
``parsed <url>`` once its output is exhausted or it raised. Off without ``JOBDIR``.
"""

from __future__ import annotations

from scrapy.exceptions import NotConfigured

from mayadeen.extensions.resume import ResumeAfterKill
from mayadeen.urls import item_kind


class ParseMarksMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.get("JOBDIR"):
            raise NotConfigured
        return cls(crawler)

    def _mark(self, response, ended: bool = False) -> None:
        resume = self.crawler.get_extension(ResumeAfterKill)
        if resume is not None and item_kind(response.url):
            resume.note_parsing(response.request.url, ended)

    def process_spider_input(self, response) -> None:
        self._mark(response)

    def process_spider_output(self, response, result):
        yield from result
        self._mark(response, ended=True)

    async def process_spider_output_async(self, response, result):
        async for output in result:
            yield output
        self._mark(response, ended=True)

    def process_spider_exception(self, response, exception) -> None:
        self._mark(response, ended=True)
