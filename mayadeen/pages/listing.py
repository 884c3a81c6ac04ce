"""Listing pages (home, group and section listings, tag and author pages): what they link to.

Only discovery lives here: the item cards (URL and the day shown on the card), the next page, the
menu's listings and, on client-side listings, the API endpoint their script reads. Every URL is
canonical, without the ``tracking`` query parameters the page object is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urljoin

from mayadeen.urls import DEFAULT_TRACKING_PARAMS, PUBLIC_URL, canonical_url, item_kind, listing_key


@dataclass(frozen=True)
class Card:
    url: str
    day: str | None  # the card's date as shown ("4 Aug 2025"), Beirut local day


class ListingPage:
    # Title links of the cards: listing, home and author/tag cards all use .card__title; the image
    # link is a fallback for cards whose title is not a link.
    CARDS = "//div[contains(concat(' ', normalize-space(@class), ' '), ' card ')]"
    CARD_LINK = (
        ".//*[contains(@class, 'card__title')]//a/@href"
        " | .//a[contains(@class, 'card__link') or contains(@class, 'card__img-link')]/@href"
    )
    CARD_DATE = "normalize-space(.//*[contains(@class, 'card__date')])"
    NEXT = "//a[contains(@class, 'btn-load-more')]/@href | //link[@rel='next']/@href"
    MENU = "//nav[contains(@class, 'main-nav')]//a/@href | //div[contains(@class, 'mega-menu')]//a/@href"
    GRID = "//div[@id='listing-grid']"

    def __init__(self, response, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS):
        self.response = response
        self.base = response.url or PUBLIC_URL
        self.tracking = tuple(tracking)

    def _abs(self, href: str) -> str | None:
        return canonical_url(href, self.base, self.tracking)

    @cached_property
    def cards(self) -> list[Card]:
        """Item cards in page order (Most Read and Read Next cards included: they are items too)."""
        seen, cards = set(), []
        for card in self.response.xpath(self.CARDS):
            for href in card.xpath(self.CARD_LINK).getall():
                url = self._abs(href)
                if url and item_kind(url) and url not in seen:
                    seen.add(url)
                    cards.append(Card(url, card.xpath(self.CARD_DATE).get() or None))
                    break
        return cards

    @cached_property
    def listing_cards(self) -> list[Card]:
        """The cards of the listing grid itself (what pagination pages through)."""
        grid = self.response.xpath(self.GRID)
        if not grid:
            return []
        urls = set()
        for href in grid.xpath(f".{self.CARDS[1:]}").xpath(self.CARD_LINK).getall():
            url = self._abs(href)
            if url:
                urls.add(url)
        return [c for c in self.cards if c.url in urls]

    @cached_property
    def next_page(self) -> str | None:
        for href in self.response.xpath(self.NEXT).getall():
            url = self._abs(href)
            if url and listing_key(url) and url != self._abs(self.base):
                return url
        return None

    @cached_property
    def menu_listings(self) -> list[str]:
        """Group and section listings linked from the menus, in menu order."""
        out: list[str] = []
        for href in self.response.xpath(self.MENU).getall():
            url = self._abs(href)
            if url and listing_key(url) and url not in out:
                out.append(url)
        return out

    @cached_property
    def api_endpoint(self) -> str | None:
        """The JSON listing API a client-side listing fills its grid from, as an absolute URL."""
        endpoint = self.response.xpath(self.GRID + "/@data-endpoint").get()
        return urljoin(self.base, endpoint) if endpoint else None
