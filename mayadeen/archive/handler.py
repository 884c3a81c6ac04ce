"""A download handler that answers from the WARC archive: re-extraction makes no network request.

Installed for ``http`` and ``https`` by ``scrapy reextract`` in place of the network handlers. A
request carrying an archived capture (meta ``mayadeen_archived``, set by the re-extraction spider) is
answered with that capture's response exactly as it was received (status, headers, body, content
encoding included), so every downloader middleware treats it as it treated the original. Any other
request is refused (``IgnoreRequest``) and counted in ``mayadeen/reextract/not_archived``. A capture
whose body is larger than ``DOWNLOAD_MAXSIZE`` is skipped without being read whole, as the crawl would
have refused it (a WARNING, ``mayadeen/capped/warc_record``).
"""

from __future__ import annotations

import logging

from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes

from mayadeen.archive.reader import ARCHIVED_META, TooLarge, load

logger = logging.getLogger(__name__)


class WarcDownloadHandler(BaseDownloadHandler):
    lazy = False

    async def download_request(self, request) -> Response:
        archived = request.meta.get(ARCHIVED_META)
        if archived is None:
            self.crawler.stats.inc_value("mayadeen/reextract/not_archived")
            raise IgnoreRequest(f"not in the archive (re-extraction makes no request): {request.url}")
        try:
            received = load(archived, self.crawler.settings.getint("DOWNLOAD_MAXSIZE"))
        except TooLarge as exc:
            self.crawler.stats.inc_value("mayadeen/capped/warc_record")
            logger.warning(
                "Skipped the capture of %s of %s (DOWNLOAD_MAXSIZE): %s",
                request.url[:200],
                archived.capture.fetched_at,
                exc,
            )
            raise IgnoreRequest(f"archived body too large: {request.url}") from None
        headers = Headers()
        for name, value in received.headers:
            headers.appendlist(name, value)
        cls = responsetypes.from_args(headers=headers, url=request.url, body=received.body)
        return cls(
            url=request.url,
            status=received.status,
            headers=headers,
            body=received.body,
            request=request,
            protocol="HTTP/1.1",
        )
