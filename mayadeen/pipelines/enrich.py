"""Stamps each record with when it was scraped and a hash of its content.

Runs first (before validation), so the schema checks these two keys like any other and the store can
tell a changed article from a re-fetched one by ``content_hash`` alone.
"""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter

from mayadeen.plain_record import plain_record
from mayadeen.record import content_hash, utc_timestamp


class EnrichPipeline:
    """Sets ``scraped_at`` (UTC ``YYYY-MM-DDThh:mm:ssZ``) and ``content_hash``.

    A ``scraped_at`` the spider already set (e.g. the response time) is kept; ``content_hash`` is
    always recomputed, so it can never disagree with the content it describes.
    """

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        if not adapter.get("scraped_at"):
            adapter["scraped_at"] = utc_timestamp()
        adapter["content_hash"] = content_hash(plain_record(item))
        return item
