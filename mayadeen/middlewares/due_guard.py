"""The last check before the downloader: a request that is not due any more goes back to the scheduler.

``DueScheduler`` hands a slot a request only when it is due and the downloader would send it at
once. Between the two a request may be held up — by robots.txt being fetched, or for one turn of the
event loop in which a ``Retry-After`` arrives. Sent on, it would go out during the pause, or wait in
the downloader's queue (holding a concurrency token, unseen by a pause). Here, last of the
downloader middlewares, such a request is handed back to the scheduler (it then waits there like any
held request) instead. Only requests the scheduler handed out are checked; robots.txt and other
direct downloads pass.

Stats: ``mayadeen/due_guard/sent_back``.
"""

from __future__ import annotations


class DueGuardMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        may_send = getattr(self.crawler.engine.scheduler, "may_send", None)
        if may_send is None or may_send(request):
            return None
        self.crawler.stats.inc_value("mayadeen/due_guard/sent_back")
        # Already through the duplicate filter: it must not be taken for a duplicate of itself.
        return request.replace(dont_filter=True)
