"""The default JSON Lines output of a crawl, used when no feed is asked for: each spider its own stream.

The articles' spiders append their records to ``MAYADEEN_JSONL_PATH``; a spider whose items are
something else names its own setting in ``stream_setting`` (``breaking``: the flashes,
``MAYADEEN_BREAKING_JSONL_PATH``), so one stream never receives another's records. Naming the other
stream's setting on the command line is a usage error (``check_stream``): the file the user named
would never get this run's records.

Scrapy merges the ``FEEDS`` of settings.py with the feeds of ``-o``/``-O``, so a default written
there would keep writing beside every output a user names. This add-on adds the default only when
``FEEDS`` is empty after the command line has been read.
"""

from __future__ import annotations

from scrapy.settings import SETTINGS_PRIORITIES

from mayadeen.validation import UsageProblem

ARTICLES = "MAYADEEN_JSONL_PATH"
#: Each stream setting and what it holds (for messages).
STREAMS = {ARTICLES: "the articles' records", "MAYADEEN_BREAKING_JSONL_PATH": "the breaking-news flashes"}


def stream_setting(spidercls) -> str:
    """The setting naming the spider's default JSON Lines file."""
    return getattr(spidercls, "stream_setting", ARTICLES)


def default_feed_path(settings, spidercls) -> str:
    """The spider's default JSON Lines file ("" for none)."""
    return (settings.get(stream_setting(spidercls)) or "").strip()


def check_stream(settings, spidercls) -> None:
    """UsageProblem when the command line names another spider's stream for this one."""
    own = stream_setting(spidercls)
    for name, holds in STREAMS.items():
        if name != own and settings.getpriority(name) == SETTINGS_PRIORITIES["cmdline"]:
            raise UsageProblem(
                f"-s {name}={settings.get(name)}: that file is for {holds}; spider {spidercls.name}"
                f" writes {STREAMS[own]} to {own} (or to -o/-O)"
            )


class DefaultFeedAddon:
    def __init__(self, spidercls=None):
        self.spidercls = spidercls  # None: an articles' spider

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.spidercls)

    def update_settings(self, settings) -> None:
        path = default_feed_path(settings, self.spidercls)
        if path and not settings.getdict("FEEDS"):
            feed = {"format": "jsonlines", "encoding": "utf8", "overwrite": False}
            settings.set("FEEDS", {path: feed}, priority="addon")
