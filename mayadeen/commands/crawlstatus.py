"""``scrapy crawlstatus <spider> [crawl_id]``: a distributed crawl as Redis sees it.

Prints the crawl's state (an ended crawl with the time it ended: workers started later do nothing
until one is given ``-a restart=1``), its queue length, the requests in flight (leased by a worker),
those given up (``MAYADEEN_REDIS_MAX_LEASE_EXPIRIES``) and each worker's counts and last heartbeat,
from ``MAYADEEN_REDIS_URL`` (``-s`` or settings); ``--json``
prints ``mayadeen.distributed.crawl.crawl_status`` as JSON. It prints only that answer: no crawler is
made, so no Scrapy banner or log; a problem is one line on stderr (exit 2 for a usage error, 1 when
Redis cannot be read).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from mayadeen.distributed.crawl import crawl_status
from mayadeen.distributed.keys import CrawlKeys


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "<spider> [crawl_id]"

    def short_desc(self) -> str:
        return "Show a distributed crawl: queue length, requests in flight, each worker's counts"

    def long_desc(self) -> str:
        return (
            f"{self.short_desc()}, read from the Redis of -s MAYADEEN_REDIS_URL=redis://host:6379/0 (required)."
            " Exit status 0 when Redis answered, 1 when it could not be read, 2 for a usage error."
        )

    def add_options(self, parser) -> None:
        super().add_options(parser)
        parser.add_argument("--json", action="store_true", help="print the status as JSON")

    def run(self, args, opts) -> None:
        if not 1 <= len(args) <= 2:
            raise UsageError
        url = self.settings.get("MAYADEEN_REDIS_URL")
        if not url:
            print(
                "scrapy crawlstatus: error: set MAYADEEN_REDIS_URL (e.g. -s MAYADEEN_REDIS_URL=redis://host:6379/0)",
                file=sys.stderr,
            )
            self.exitcode = 2
            return
        # Imported here, not at the top: Scrapy imports every command module for every command.
        import redis

        from mayadeen.distributed.link import redacted

        keys = CrawlKeys(args[0], args[1] if len(args) > 1 else args[0])
        try:
            status = crawl_status(redis.Redis.from_url(url, socket_timeout=10), keys)
        except redis.exceptions.RedisError as exc:
            print(f"scrapy crawlstatus: Redis at {redacted(url)}: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        print(json.dumps(status, indent=2, sort_keys=True) if opts.json else describe(status))


def describe(status: dict) -> str:
    if "status" not in status:
        return f"crawl {status['crawl']}: not in Redis"
    state = status["status"]
    if state == "ended":
        state = f"ended at {_utc(status.get('ended_at'))} (workers started now do nothing; -a restart=1 crawls again)"
    lines = [
        f"crawl {status['crawl']}: {state}, started {_utc(status.get('started_at'))},"
        f" {'seeded' if status.get('seeded') == '1' else 'not seeded yet'}",
        f"queued {status['queued']}, delayed {status['delayed']}, in flight {status['in_flight']},"
        f" requests seen {status['seen']}, leases expired {status.get('expired', 0)},"
        f" given up {len(status['given_up'])}",
    ]
    lines += [
        f"given up at {_utc(entry['at'])}: {entry['url']} (its lease expired too often: a page that kills its worker?)"
        for entry in status["given_up"]
    ]
    for worker, info in status["workers"].items():
        age = info.get("heartbeat_age")
        lines.append(
            f"worker {worker}: {info.get('state')}, {'heartbeat %ss ago' % age if age is not None else 'gone'},"
            f" in flight {info['in_flight']}, taken {info.get('taken')}, requests {info.get('requests')},"
            f" items {info.get('items')}"
        )
    return "\n".join(lines)


def _utc(redis_time: str | None) -> str:
    """A Redis time (seconds since the epoch, as the crawl's scripts store it) as ``YYYY-MM-DDThh:mm:ssZ``."""
    if not redis_time:
        return "?"
    return datetime.fromtimestamp(float(redis_time), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
