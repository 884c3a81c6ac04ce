"""Reading the archive: which captures its files hold, and the HTTP response of any of them.

``scan`` lists every ``response`` and ``revisit`` record of the closed WARC files (a file that cannot
be read to its end is reported and the rest of it skipped). ``select`` picks, for re-extraction, the
latest capture of each item page of the site (``mayadeen.urls.is_on_site``: a record of the site's host
on another port is not the site's), resolving a revisit to the response record holding its payload.
``load`` returns a capture's status, headers and body as they were received, reading at most
``max_size`` bytes of the body: a larger one is ``TooLarge``, never read whole.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from mayadeen.archive.warc import Capture, closed_files
from mayadeen.days import DayWindow
from mayadeen.urls import item_kind

logger = logging.getLogger(__name__)

#: Request meta of a re-extraction: the ``Archived`` capture a request is answered from.
ARCHIVED_META = "mayadeen_archived"


class Archived(NamedTuple):
    """A capture to re-extract, and where the payload it needs is (itself, or a revisit's original)."""

    directory: str
    capture: Capture
    payload_file: str
    payload_offset: int


class TooLarge(ValueError):
    """An archived body larger than the size allowed (``DOWNLOAD_MAXSIZE``): it was not read."""


class Received(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def scan(directory: str | os.PathLike, unreadable: list[str] | None = None) -> Iterator[Capture]:
    """Every response and revisit record of the archive, file by file, in file order.

    Files that cannot be read to their end are named in ``unreadable`` (the records before the
    damage are still listed).
    """
    for path in closed_files(directory):
        with path.open("rb") as stream:
            records = ArchiveIterator(stream)
            try:
                for record in records:
                    if record.rec_type not in ("response", "revisit"):
                        continue
                    headers = record.rec_headers
                    status = record.http_headers.get_statuscode() if record.http_headers else None
                    yield Capture(
                        headers.get_header("WARC-Target-URI"),
                        headers.get_header("WARC-Date"),
                        headers.get_header("WARC-Payload-Digest") or "",
                        int(status) if status else 0,
                        record.rec_type,
                        path.name,
                        records.get_record_offset(),
                        records.get_record_length(),
                    )
            except ArchiveLoadFailed as exc:
                logger.error("%s: unreadable after the records listed so far (%s)", path, exc)
                if unreadable is not None:
                    unreadable.append(path.name)


def select(
    directory: str | os.PathLike,
    captures: Iterable[Capture],
    *,
    window: DayWindow = DayWindow(),
    urls: Collection[str] = (),
    kinds: Collection[str] = (),
) -> list[Archived]:
    """The latest successful capture of each item page fetched on a day of ``window``.

    ``window``: Beirut days of the fetch (``mayadeen.days``); ``urls``/``kinds``: only these
    pages / item kinds (empty: all). A revisit whose original is not in the archive is passed over
    for the page's latest capture that can be read.
    """
    originals: dict[str, Capture] = {}
    candidates: dict[str, list[Capture]] = {}
    for capture in captures:
        if capture.warc_type == "response":
            originals.setdefault(capture.digest, capture)
        kind = item_kind(capture.url)
        if (
            kind is None
            or not 200 <= capture.status < 300
            or (kinds and kind not in kinds)
            or (urls and capture.url not in urls)
            or not window.holds(capture.fetched_at)
        ):
            continue
        candidates.setdefault(capture.url, []).append(capture)
    chosen = []
    for url, found in candidates.items():
        for capture in sorted(found, key=lambda c: c.fetched_at, reverse=True):
            original = capture if capture.warc_type == "response" else originals.get(capture.digest)
            if original is not None:
                chosen.append(Archived(str(directory), capture, original.file, original.offset))
                break
            logger.warning("Revisit of %s (%s) has no original in the archive", url, capture.fetched_at)
    return sorted(chosen, key=lambda a: (a.capture.fetched_at, a.capture.url))


def _record(path: Path, offset: int, max_size: int = 0):
    """The record at ``offset`` of ``path``: (http headers, raw payload bytes of at most ``max_size``)."""
    with path.open("rb") as stream:
        stream.seek(offset)
        record = next(iter(ArchiveIterator(stream)))
        body = record.raw_stream.read(max_size + 1) if max_size else record.raw_stream.read()
        if max_size and len(body) > max_size:
            raise TooLarge(f"{path.name} at {offset}: the body is larger than {max_size} bytes")
        return record.http_headers, body


def load(archived: Archived, max_size: int = 0) -> Received:
    """The response of a capture as received (a revisit's headers with its original's body); a body of
    more than ``max_size`` bytes (0: any size) raises ``TooLarge``."""
    directory = Path(archived.directory)
    http, body = _record(directory / archived.capture.file, archived.capture.offset, max_size)
    if archived.capture.warc_type == "revisit":
        _, body = _record(directory / archived.payload_file, archived.payload_offset, max_size)
    return Received(int(http.get_statuscode()), list(http.headers), body)
