"""The flash record: one item per flash of the BREAKING ticker (``scrapy crawl breaking``).

The same keys are the columns of the ``breaking_news`` table (``mayadeen.store.breaking``) and the
properties of its JSON Schema, ``mayadeen/schema/flash.schema.json`` (read by
``mayadeen.record.flash_schema``; its descriptions are the docstrings below).
"""

import scrapy


class FlashItem(scrapy.Item):
    #: The flash's id in the store, for ``mayadeen.breaking.stream`` to mark it written. An attribute, not a
    #: field: it is in no record.
    _flash_id = None

    def note_flash_id(self, flash_id: int) -> None:
        """Has the item carry its id in the store."""
        self._flash_id = flash_id

    def flash_id(self) -> int | None:
        """The flash's id in the store, as ``note_flash_id`` noted it (None when none was noted)."""
        return self._flash_id

    text = scrapy.Field()
    """The flash as a reader sees it, whitespace collapsed (the latest text when it was edited)."""

    time = scrapy.Field()
    """When the site dated the flash (``data-time``), UTC ``YYYY-MM-DDThh:mm:ssZ``; when the page gave no
    usable time, when it was first seen (and ``time_estimated`` is true)."""

    time_estimated = scrapy.Field()
    """True when ``time`` is the first-seen time because ``data-time`` was missing or broken."""

    url = scrapy.Field()
    """Where the flash links to, canonical public URL; null when it links nowhere (the usual case)."""

    first_seen = scrapy.Field()
    """When a crawl first saw the flash on any page, UTC ``YYYY-MM-DDThh:mm:ssZ``."""

    last_seen = scrapy.Field()
    """When a crawl last saw it, same form."""

    article_url = scrapy.Field()
    """The article that covered the flash (its own link to an item page, or the best headline match
    published within the link window after it); null until one is stored."""

    language = scrapy.Field()
    """Language code of the page that showed it, ``"en"``."""
