"""Reading WARC files someone else wrote (Common Crawl's CC-NEWS, any crawler's): this site's item pages in them.

A CC-NEWS file holds responses of thousands of news sites; only the ``response`` records of this
site's item pages (the public URL's scheme, host and port; 2xx; HTML) are captures to re-extract. Every
other record is skipped and counted by reason: ``other_host``, ``not_item`` (a page of the site that is
no item: a listing, a tag), ``status`` (not 2xx: a redirect, a 404), ``not_html``, ``revisit`` (no
payload of its own: it is no item), ``request``, ``metadata``, ``warcinfo``, other record types by
their type, ``truncated`` (a record cut short, as the last one of an interrupted download), and
``unreadable`` (a file damaged before its end: the rest of it).

WARC 1.0 and 1.1, gzipped per record or not: warcio's ``ArchiveIterator`` reads them all. The captures
are named by the file's absolute path, so ``warc_captures`` points at the user's file, and the
re-extraction handler reads each record again from there. Nothing here makes a request.
"""

from __future__ import annotations

import glob
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from mayadeen.archive.warc import Capture
from mayadeen.urls import canonical_url, is_on_site, item_kind

logger = logging.getLogger(__name__)

#: Seconds between two progress lines of a scan (``MAYADEEN_WARC_PROGRESS_SECONDS``).
DEFAULT_PROGRESS_SECONDS = 10.0


def expand(pattern: str) -> list[Path]:
    """The files a path or a glob (``CC-NEWS-*.warc.gz``) names, sorted, as absolute paths."""
    names = glob.glob(pattern) if glob.has_magic(pattern) else [pattern]
    return sorted(Path(name).resolve() for name in names if Path(name).is_file())


class ExternalScan:
    """One pass over some WARC files: ``captures()`` yields the item pages' responses; ``records``
    and ``skipped`` (reason -> records) say what else was read. A progress line is logged every
    ``progress_seconds``."""

    def __init__(self, paths: Iterable[Path], progress_seconds: float = DEFAULT_PROGRESS_SECONDS):
        self.paths = list(paths)
        self.progress_seconds = progress_seconds
        self.records = 0
        self.items = 0
        self.skipped: Counter[str] = Counter()
        self._started = self._logged = 0.0

    def captures(self) -> Iterator[Capture]:
        self._started = self._logged = time.monotonic()
        for number, path in enumerate(self.paths, 1):
            with path.open("rb") as stream:
                records = ArchiveIterator(stream)
                try:
                    for record in records:
                        capture = self._read(record, records, path)
                        if capture is not None:
                            self.items += 1
                            yield capture
                        self._progress(number, path)
                except ArchiveLoadFailed as exc:
                    self.skipped["unreadable"] += 1
                    logger.warning(
                        "%s: unreadable after %d records (%s); the rest of the file is skipped", path, self.records, exc
                    )

    def _read(self, record, records: ArchiveIterator, path: Path) -> Capture | None:
        """The capture ``record`` is, or None (counted in ``skipped``)."""
        self.records += 1
        offset, length = records.get_record_offset(), records.get_record_length()  # reads the record through
        url = record.rec_headers.get_header("WARC-Target-URI") or ""
        if record.raw_stream.limit > 0:
            logger.warning("%s: the record at offset %d (%s) is truncated; skipped", path, offset, url or "no URI")
            return self._skip("truncated")
        if record.rec_type != "response":
            return self._skip(record.rec_type or "unknown")
        if not is_on_site(url):
            return self._skip("other_host")
        canonical = canonical_url(url)
        if canonical is None or item_kind(canonical) is None:
            return self._skip("not_item")
        status = record.http_headers.get_statuscode() if record.http_headers else None
        if not (status or "").isdigit() or not 200 <= int(status) < 300:
            return self._skip("status")
        content_type = (record.http_headers.get_header("Content-Type") or "").lower()
        if "html" not in content_type:
            return self._skip("not_html")
        headers = record.rec_headers
        return Capture(
            canonical,
            headers.get_header("WARC-Date") or "",
            headers.get_header("WARC-Payload-Digest") or "",
            int(status),
            "response",
            str(path),
            offset,
            length,
        )

    def _skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def _progress(self, number: int, path: Path) -> None:
        now = time.monotonic()
        if now - self._logged < self.progress_seconds:
            return
        self._logged = now
        logger.info(
            "Read %d records (%.0f/s), file %d of %d (%s): %d item pages so far",
            self.records,
            self.records / max(now - self._started, 1e-9),
            number,
            len(self.paths),
            path.name,
            self.items,
        )

    def summary(self) -> str:
        """What the scan read, in one line."""
        skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(self.skipped.items())) or "none"
        return (
            f"Read {self.records} records from {len(self.paths)} WARC files: {self.items} responses of item pages;"
            f" skipped: {skipped}"
        )
