"""Test instrument inside a crawl: when each request reached the downloader, when each Retry-After was read.

The fault server knows when a request arrived and when it sent a 429; only the crawler knows when it
read the 429 and which requests it had handed to its downloader (on their way to the server) by then.
``PauseWatch`` writes both, as JSON lines, to ``PAUSE_WATCH_PATH``:
``{"event": "reached", "at": time.time(), "url": …}`` and
``{"event": "read", "at": …, "url": …, "queued": requests waiting in the site's downloader queue}``.
Enabled with ``pause_watch_settings(path)``; it changes nothing in the crawl.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from scrapy import signals
from scrapy.exceptions import NotConfigured

from mayadeen.extensions.retry_after import STATUSES


def pause_watch_settings(path) -> dict[str, str]:
    """``scrapy crawl -s`` settings that add ``PauseWatch`` to the project's extensions."""
    from mayadeen.settings import EXTENSIONS

    return {"EXTENSIONS": json.dumps({**EXTENSIONS, f"{__name__}.PauseWatch": 0}), "PAUSE_WATCH_PATH": str(path)}


class PauseWatch:
    def __init__(self, crawler):
        path = crawler.settings.get("PAUSE_WATCH_PATH")
        if not path:
            raise NotConfigured
        self.crawler = crawler
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed with the spider

    @classmethod
    def from_crawler(cls, crawler):
        watch = cls(crawler)
        for handler, signal in (
            (watch.reached, signals.request_reached_downloader),
            (watch.downloaded, signals.response_downloaded),
            (watch.closed, signals.spider_closed),
        ):
            crawler.signals.connect(handler, signal=signal)
        return watch

    def write(self, **event) -> None:
        self.out.write(json.dumps(event) + "\n")

    def reached(self, request, spider):
        self.write(event="reached", at=time.time(), url=request.url)

    def downloaded(self, response, request, spider):
        if response.status in STATUSES and b"Retry-After" in response.headers:
            downloader = self.crawler.engine.downloader
            slot = downloader.slots.get(downloader.get_slot_key(request))
            self.write(event="read", at=time.time(), url=request.url, queued=len(slot.queue) if slot else 0)

    def closed(self, spider):
        self.out.close()


@dataclass
class Watched:
    """What ``PauseWatch`` wrote: url -> times it reached the downloader; Retry-After reads in order."""

    reached: dict[str, list[float]]
    reads: list[dict]

    @classmethod
    def load(cls, path) -> Watched:
        reached: dict[str, list[float]] = {}
        reads = []
        for line in open(path, encoding="utf-8"):
            event = json.loads(line)
            if event["event"] == "reached":
                reached.setdefault(event["url"], []).append(event["at"])
            else:
                reads.append(event)
        return cls(reached, reads)

    def read_of(self, url: str, nth: int) -> dict | None:
        """The ``nth`` (1-based) Retry-After the crawler read from ``url``."""
        found = [r for r in self.reads if r["url"] == url]
        return found[nth - 1] if len(found) >= nth else None

    def reached_at(self, url: str, nth: int) -> float | None:
        """When the ``nth`` request (1-based) for ``url`` reached the downloader."""
        times = self.reached.get(url, [])
        return times[nth - 1] if len(times) >= nth else None
