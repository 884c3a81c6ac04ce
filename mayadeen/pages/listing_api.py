"""The listing API that client-side listings read (``/api/listing?section=<key>&page=<n>``).

A rendered client-side listing shows the cards of the pages its script has loaded so far;
``next_api_page`` is the API URL of the page after those, when the page offers one ("Load More").
``ListingApiPage`` reads one JSON page: its item cards and the URL of the page after it.

URLs are built the way the page's own script builds them (``data-endpoint + "&page=" + n``), so the
crawler asks for exactly what a browser would.
"""

from __future__ import annotations

import json
from functools import cached_property

from mayadeen.pages.listing import Card, ListingPage
from mayadeen.urls import DEFAULT_TRACKING_PARAMS, PUBLIC_URL, canonical_url, item_kind

GRID_PAGE = "//div[@id='listing-grid']/@data-page"
# The client-side "Load More" is a button, shown (no `hidden`) while the API says has_more.
LOAD_MORE_SHOWN = "//button[contains(concat(' ', normalize-space(@class), ' '), ' btn-load-more ') and not(@hidden)]"


def api_page_url(endpoint: str, page: int, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> str | None:
    """The API URL of ``page`` for ``endpoint`` (absolute or root-relative), canonical."""
    sep = "&" if "?" in endpoint else "?"
    return canonical_url(f"{endpoint}{sep}page={page}", PUBLIC_URL, tracking)


def next_api_page(page: ListingPage) -> str | None:
    """For a rendered client-side listing: the API URL of the next page, if "Load More" is shown."""
    endpoint = page.api_endpoint
    if not endpoint or not page.response.xpath(LOAD_MORE_SHOWN):
        return None
    try:
        loaded = int(page.response.xpath(GRID_PAGE).get() or 1)
    except ValueError:
        loaded = 1
    return api_page_url(endpoint, loaded + 1, page.tracking)


class ListingApiPage:
    """One JSON page of the listing API. ``endpoint`` is the URL without its ``page`` parameter; URLs
    are canonical, without the ``tracking`` query parameters."""

    def __init__(self, response, endpoint: str, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS):
        self.response = response
        self.endpoint = endpoint
        self.tracking = tuple(tracking)

    @cached_property
    def data(self) -> dict | None:
        try:
            data = json.loads(self.response.body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @property
    def valid(self) -> bool:
        return self.data is not None and isinstance(self.data.get("items"), list)

    @cached_property
    def cards(self) -> list[Card]:
        cards, seen = [], set()
        for entry in (self.data or {}).get("items") or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
                continue
            url = canonical_url(entry["url"], PUBLIC_URL, self.tracking)
            if url and item_kind(url) and url not in seen:
                seen.add(url)
                cards.append(Card(url, entry.get("date_display") or None))
        return cards

    @property
    def listing_cards(self) -> list[Card]:
        """All cards of an API page belong to the listing (as ListingPage.listing_cards)."""
        return self.cards

    @cached_property
    def page_number(self) -> int | None:
        try:
            return int((self.data or {}).get("page"))
        except (TypeError, ValueError):
            return None

    @cached_property
    def next_page(self) -> str | None:
        """The next page's URL while the API says there is more (``has_more`` / ``next_page``)."""
        data = self.data or {}
        if not data.get("has_more") and not data.get("next_page"):
            return None
        number = data.get("next_page")
        if not isinstance(number, int) or isinstance(number, bool):
            number = (self.page_number or 0) + 1
        if self.page_number is not None and number <= self.page_number:
            return None  # a feed pointing backwards would loop
        return api_page_url(self.endpoint, number, self.tracking)
