"""robots.txt in distributed mode: fetched once per worker, through the budget, before anything else.

Scrapy's ``RobotsTxtMiddleware`` downloads robots.txt itself, outside the scheduler, when the first
request to the site reaches it. In distributed mode that request already holds a budget slot, so a
robots.txt fetch waiting for a slot of its own could wait forever (``CONCURRENT_REQUESTS_PER_DOMAIN =
1``), and one that did not wait would break the budget. So the scheduler fetches robots.txt first
(``RobotsPrefetch``: a budget slot is granted, then the request goes out like any other, not retried,
not redirected, its body parsed whatever the status, a failure meaning "everything allowed" as in
Scrapy), and releases no request from the queue before it is parsed; ``BudgetedRobotsTxtMiddleware``
replaces Scrapy's middleware and answers from that parser.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler, load_object

logger = logging.getLogger(__name__)

NEEDED, FETCHING, DONE = "needed", "fetching", "done"


class RobotsPrefetch:
    """The site's robots.txt, fetched by the scheduler through the budget (see the module docstring)."""

    def __init__(self, crawler, budget, public_url: str, slot: str):
        self.crawler = crawler
        self.budget = budget
        self.url = public_url.rstrip("/") + "/robots.txt"
        self.netloc = urlsplit(self.url).netloc
        self.slot = slot
        self.parser = None
        self.state = NEEDED if crawler.settings.getbool("ROBOTSTXT_OBEY") else DONE
        self._parser_class = load_object(crawler.settings.get("ROBOTSTXT_PARSER"))

    @property
    def pending(self) -> bool:
        return self.state != DONE

    def covers(self, request: Request) -> bool:
        return self.state == DONE and urlparse_cached(request).netloc == self.netloc

    @property
    def needed(self) -> bool:
        """robots.txt is still to be asked for (its slot granted by ``Budget.grant``)."""
        return self.state == NEEDED

    def granted(self) -> Request:
        """The robots.txt request, now that the budget granted its slot."""
        self.state = FETCHING
        request = Request(
            self.url,
            callback=self.parsed,
            errback=self.failed,
            dont_filter=True,
            priority=1000,
            meta={
                "dont_obey_robotstxt": True,
                "handle_httpstatus_all": True,
                "dont_retry": True,
                "dont_redirect": True,
            },
        )
        self.budget.taken(request, self.slot)
        return request

    def parsed(self, response) -> None:
        self.parser = build_from_crawler(self._parser_class, self.crawler, response.body)
        self.state = DONE
        self.budget.release(self.slot)
        self.crawler.stats.inc_value(f"robotstxt/response_status_count/{response.status}")

    def failed(self, failure) -> None:
        logger.warning("robots.txt could not be fetched (%s): every page is allowed", failure.value)
        self.state = DONE
        self.budget.release(self.slot)


class BudgetedRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, answering from ``RobotsPrefetch`` for the site."""

    async def robot_parser(self, request):
        prefetch = getattr(self.crawler.engine.scheduler, "robots", None)
        if prefetch is not None and prefetch.covers(request):
            return prefetch.parser
        self.crawler.stats.inc_value("mayadeen/robots/not_prefetched")
        return await super().robot_parser(request)
