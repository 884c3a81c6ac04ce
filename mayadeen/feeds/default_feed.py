"""The default JSON Lines output, ``MAYADEEN_JSONL_PATH``, used when no feed is asked for.

Scrapy merges the ``FEEDS`` of settings.py with the feeds of ``-o``/``-O``, so a default written
there would keep writing beside every output a user names. This add-on adds the default only when
``FEEDS`` is empty after the command line has been read.
"""

from __future__ import annotations


class DefaultFeedAddon:
    def update_settings(self, settings) -> None:
        path = settings.get("MAYADEEN_JSONL_PATH")
        if path and not settings.getdict("FEEDS"):
            feed = {"format": "jsonlines", "encoding": "utf8", "overwrite": False}
            settings.set("FEEDS", {path: feed}, priority="addon")
