"""Listing pages a ``sections`` run could not read: so the next run does not stop paging before them.

A ``sections`` run stops paging a listing at a page whose items are all stored and unchanged: the
pages after it hold older items, which an earlier run stored. That holds only if the earlier runs read
those pages. A page that failed (a 5xx after its retries, a timeout) cut the listing there, and the
items on it and after it may never have been stored: ``listing_cuts`` keeps the listing and the number
of that page, and the next runs page that listing past it before they may stop (a 404 or 410 is no
cut: the listing ends there). A run that reads a page after the cut, or the listing's last page,
clears it once it has ended (a run killed before keeps it: the next one pages past it again).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

DDL = "CREATE TABLE IF NOT EXISTS listing_cuts (listing TEXT PRIMARY KEY, page INTEGER NOT NULL, cut_at TEXT NOT NULL)"


def page_number(url: str) -> int:
    """The listing page a URL asks for (``?page=3``; 1 without one, or for what is no page number)."""
    values = parse_qs(urlsplit(url).query).get("page") or ["1"]
    return int(values[0]) if values[0].isdigit() and 0 < len(values[0]) < 7 else 1
