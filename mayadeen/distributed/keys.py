"""Where a crawl and a site's budget live in Redis: every key of the package is named here.

A crawl is one spider plus one ``crawl_id`` (``-a crawl_id=NAME``, default the spider's name): its keys
start with ``mayadeen:<spider>:<crawl_id>:``. The budget belongs to the site, whatever crawl uses it:
``mayadeen:budget:<host>:``, the host requests really go to (the mirror's, with ``base_url``).
"""

from __future__ import annotations

import re

from mayadeen.validation import UsageProblem

PREFIX = "mayadeen"
#: What a crawl_id may be: it becomes part of Redis keys and of log lines.
CRAWL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def parse_crawl_id(label: str, value) -> str | None:
    """``-a crawl_id=NAME``, checked before the crawl like every spider argument; None when empty."""
    text = str(value or "").strip()
    if text and not CRAWL_ID.fullmatch(text):
        raise UsageProblem(f"{label}={value}: takes 1-64 letters, digits, '.', '_' or '-' (a letter or digit first)")
    return text or None


def crawl_id_of(spider) -> str:
    """The crawl a worker joins: its ``crawl_id`` argument, else the spider's name."""
    return getattr(spider, "crawl_id", None) or spider.name


class CrawlKeys:
    """The keys of one crawl (see the module docstring and ``mayadeen.distributed.queue``)."""

    def __init__(self, spider: str, crawl_id: str):
        self.spider, self.crawl_id = spider, crawl_id
        base = f"{PREFIX}:{spider}:{crawl_id}"
        self.state = f"{base}:state"  # hash: status, epoch, seeded, seeder, started_at, ended_at, expired
        self.queue = f"{base}:queue"  # zset: request id -> -priority (ties: older id first)
        self.data = f"{base}:data"  # hash: request id -> serialised request
        self.prio = f"{base}:prio"  # hash: request id -> its queue score
        self.delayed = f"{base}:delayed"  # zset: request id -> Redis time it may be taken (retry backoff)
        self.leases = f"{base}:leases"  # zset: request id -> Redis time its lease expires
        self.owner = f"{base}:owner"  # hash: request id -> worker holding its lease
        self.seq = f"{base}:seq"  # counter of request ids
        self.dupefilter = f"{base}:dupefilter"  # set: fingerprints of every request queued in this crawl
        self.alive = f"{base}:alive"  # zset: worker -> Redis time of its last heartbeat
        self.workers = f"{base}:workers"  # hash: worker -> JSON of its host, pid and counts
        self.replies = f"{base}:replies"  # hash: worker -> JSON of its last push or grant: nonce, reply
        self.expiries = f"{base}:expiries"  # hash: request id -> times its lease expired (until the end)
        self.given_up = f"{base}:given_up"  # zset: request id -> Redis time it was given up (data kept)

    def crawl_state(self) -> list[str]:
        """Every key a new crawl starts without (all but ``state``)."""
        return [
            self.queue,
            self.data,
            self.prio,
            self.delayed,
            self.leases,
            self.owner,
            self.seq,
            self.dupefilter,
            self.alive,
            self.workers,
            self.replies,
            self.expiries,
            self.given_up,
        ]


class BudgetKeys:
    """The keys of the budget of one site (``mayadeen.distributed.budget``)."""

    def __init__(self, site: str):
        base = f"{PREFIX}:budget:{site}"
        self.slots = f"{base}:slots"  # zset: slot -> Redis time it expires
        self.next = f"{base}:next"  # Redis time before which no request may start
        self.paused = f"{base}:paused"  # Redis time until which a Retry-After pauses the site

    def __iter__(self):
        return iter((self.slots, self.next, self.paused))
