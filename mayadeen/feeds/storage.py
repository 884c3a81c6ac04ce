"""Local JSON Lines files that survive a killed crawl.

Scrapy's file storage writes through an 8 KB buffer: a crawl killed with SIGKILL loses the records
still in the buffer and can leave half a record at the end of the file, which the next run appending
to the same file (``-o``, the default ``FEEDS``) turns into a corrupt line in the middle.

For the ``jsonlines`` format this storage writes unbuffered (one ``write`` per record, which a kill
cannot split) and, before appending, cuts a torn last line left by an earlier crash. A record it
cannot write (a full disk) is counted as lost and fails the run, with one ERROR line, not a
traceback per record. In a JOBDIR
crawl it also tells the job's journal (``mayadeen.extensions.resume``) each record it has written,
right after writing it, and where this run's records start in the file: a kill can fall between a
record and its note, and the crawl resumed after it reads the last record written since
(``last_record_url``), so that it neither loses nor repeats a record.
Other formats are written as Scrapy writes them.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path
from typing import IO, Any

from scrapy.extensions.feedexport import FileFeedStorage

logger = logging.getLogger(__name__)


def _newline_before(f: IO[bytes], end: int) -> int:
    """The position of the last newline before ``end`` in ``f`` (-1: none); reads backwards, in chunks."""
    pos, chunk = end, 64 * 1024
    while pos > 0:
        start = max(0, pos - chunk)
        f.seek(start)
        nl = f.read(pos - start).rfind(b"\n")
        if nl >= 0:
            return start + nl
        pos = start
    return -1


def cut_torn_line(path: Path) -> int:
    """Truncate ``path`` after its last newline; returns the number of bytes removed."""
    size = path.stat().st_size
    if not size:
        return 0
    with path.open("rb+") as f:
        keep = _newline_before(f, size) + 1
        if keep < size:
            f.truncate(keep)
        return size - keep


def last_record_url(path: Path, since: int) -> str | None:
    """The url of the last whole record of ``path`` that starts at or after byte ``since`` (None: no such
    record). Reads the file's tail only; a torn last line (killed mid-write) is no record."""
    try:
        f = path.open("rb")
    except OSError:
        return None
    with f:
        end = _newline_before(f, f.seek(0, os.SEEK_END))
        start = _newline_before(f, end) + 1 if end >= 0 else -1
        if start < since:
            return None  # nothing whole written since (or the file was replaced by a shorter one)
        f.seek(start)
        return record_url(f.read(end - start))


def record_url(line: bytes) -> str | None:
    try:
        url = json.loads(line).get("url")
    except (ValueError, AttributeError):
        return None
    return url if isinstance(url, str) else None


class RecordFile:
    """An unbuffered file of records that reports the url of every record right after writing it
    (``on_record``), and counts a record it could not write (``mayadeen/lost/feed``: the run fails)."""

    def __init__(self, file: IO[bytes], stats, on_record=None):
        self.file = file
        self.stats = stats
        self.on_record = on_record

    def write(self, data: bytes) -> int:
        url = record_url(data)  # before the write: nothing but the report may follow it
        view, written = memoryview(data), 0
        try:
            while written < len(data):  # an unbuffered write may take part of it (a disk filling up)
                taken = self.file.write(view[written:])
                if not taken:
                    raise OSError(errno.ENOSPC, "no byte of it could be written")
                written += taken
        except OSError as exc:
            self._cut(written)
            lost = self.stats.get_value("mayadeen/lost/feed", 0) + 1
            self.stats.set_value("mayadeen/lost/feed", lost)
            (logger.error if lost == 1 else logger.debug)(
                "Could not write the record of %s to %s: %s", url, self.file.name, exc
            )
            return 0
        if url and self.on_record is not None:
            self.on_record(url)
        return written

    def _cut(self, written: int) -> None:
        """Takes back the part of a record written before a write failed: the next record would
        follow it on the same line, two records lost in one line of junk."""
        if written:
            try:
                self.file.truncate(self.file.seek(0, os.SEEK_END) - written)
            except OSError:  # left as a torn line: the next run cuts it before appending
                pass

    def __getattr__(self, name):
        return getattr(self.file, name)


#: Scrapy's names of the JSON Lines format (``FEED_EXPORTERS_BASE``): ``-o out.jsonl`` is ``jsonl``.
LINE_FORMATS = frozenset({"jsonlines", "jsonl", "jl"})


class KillSafeFileFeedStorage(FileFeedStorage):
    @staticmethod
    def writes_through(feed_options: dict[str, Any]) -> bool:
        """Whether a feed with these options holds each record once written (no compressor's buffer)."""
        return feed_options.get("format") in LINE_FORMATS and not feed_options.get("postprocessing")

    def __init__(self, uri: str, *, feed_options: dict[str, Any] | None = None, crawler=None):
        super().__init__(uri, feed_options=feed_options)
        self.line_format = (feed_options or {}).get("format") in LINE_FORMATS
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler, uri: str, *, feed_options: dict[str, Any] | None = None):
        return cls(uri, feed_options=feed_options, crawler=crawler)

    def _journal(self):
        from mayadeen.extensions.resume import ResumeAfterKill

        return self.crawler.get_extension(ResumeAfterKill) if self.crawler is not None else None

    def open(self, spider) -> IO[bytes]:
        if not self.line_format:
            return super().open(spider)
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.write_mode == "ab" and path.exists():
            removed = cut_torn_line(path)
            if removed:
                logger.warning(
                    "%s ended in a torn record (%d bytes, left by a killed crawl); removed it", path, removed
                )
        file = path.open(self.write_mode, buffering=0)
        journal = self._journal()
        if journal is not None:
            journal.feed_opened(path, file.tell())
        return RecordFile(file, self.crawler.stats, journal.note_done if journal is not None else None)
