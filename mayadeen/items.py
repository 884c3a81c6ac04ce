"""The item of one record (article, video, infograph or gallery page).

Its fields are the record's keys in contract order, read from the JSON Schema
(``mayadeen/schema/article.schema.json``); each field carries the schema's ``description`` of its
format, e.g. ``ArticleItem.fields["date_published"]["description"]``.
"""

import scrapy

from mayadeen.record import RECORD_KEYS, schema


class ArticleItem(scrapy.Item):
    """One record; see the schema for what each field holds."""

    fields = {key: scrapy.Field(description=schema()["properties"][key]["description"]) for key in RECORD_KEYS}
    #: How the spider found the item (``mayadeen.identity.Origin``), for the store. An attribute, not a
    #: field: it is in no record, and it lives and dies with the item (dropped items take it along).
    _origin = None

    def note_origin(self, origin) -> None:
        """Has the item carry how it was found, for the store."""
        self._origin = origin

    def origin(self):
        """How the item was found, as ``note_origin`` noted it (None when none was noted)."""
        return self._origin

    #: The item's WARC capture (``mayadeen.archive.warc.Capture``), for the store's capture index. An
    #: attribute like ``_origin``.
    _capture = None

    def note_capture(self, capture) -> None:
        """Has the item carry the WARC capture of its page, for the store."""
        self._capture = capture

    def capture(self):
        """The item's WARC capture, as ``note_capture`` noted it (None when none was noted)."""
        return self._capture

    #: The leased request whose callback yielded the item (a distributed crawl,
    #: ``mayadeen.distributed.acks``): an item the store could not write has its page fetched again.
    _leased_page = None

    def note_leased_page(self, request) -> None:
        """Has the item carry the leased request it came from."""
        self._leased_page = request

    def leased_page(self):
        """The leased request the item came from, as ``note_leased_page`` noted it (None otherwise)."""
        return self._leased_page
