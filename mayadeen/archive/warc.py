"""Writing the archive: WARC 1.1 files (ISO 28500) of request and response records, with warcio.

A plain class without Scrapy. ``WarcWriter.write(fetched)`` archives one HTTP exchange as a
``request`` and a ``response`` record (each its own gzip member, with block and payload digests), or,
when a response with the same payload is already archived, as a ``revisit`` record
(identical-payload-digest profile) pointing at it. It returns the ``Capture``: where the response
(or revisit) record is.

Files are named by run, ``<run>-<serial>.warc.gz``, and start with a ``warcinfo`` record; a file is
closed at ``max_size`` bytes and the next one opened. Kill safety: a file being written is
``<name>.warc.gz.open``, held under an exclusive ``flock`` (the kernel drops it when the process
dies) and renamed when closed; each exchange is compressed in memory and handed to the OS in one
``write``. ``recover(directory)`` (run before a new run writes, and before the archive is read) cuts
the torn last record a killed run may have left in an ``.open`` file that no live process holds,
and closes the file, so the archive always reads cleanly.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import zlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from warcio.recordbuilder import RecordBuilder
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

logger = logging.getLogger(__name__)

WARC_VERSION = "1.1"
SUFFIX = ".warc.gz"
OPEN_SUFFIX = SUFFIX + ".open"
#: Measured on the 2,000 cloned item pages (98 kB of HTML each; ``bench/warc_cost.py``), CPU per page
#: and bytes per page: level 1 0.9-1.0 ms, 26.3 kB; 3 1.1-1.2 ms, 24.2 kB; 6 (gzip's default) 2.3-2.5 ms,
#: 22.2 kB; 9 (warcio's) 3.0-3.1 ms, 22.2 kB. Level 3 halves level 6's time for 9% more bytes; level 1
#: saves little more time for 8% more bytes again.
GZIP_LEVEL = 3
#: Headers that describe the transfer, not the payload: Scrapy has already undone them.
_TRANSFER_HEADERS = frozenset({"transfer-encoding", "content-length"})


class Fetched(NamedTuple):
    """One HTTP exchange as the crawler had it; ``url`` is the public URL."""

    url: str
    fetched_at: datetime  # aware, UTC
    method: str
    request_headers: list[tuple[str, str]]
    status: int
    protocol: str  # "HTTP/1.1"
    headers: list[tuple[str, str]]
    body: bytes  # as received: content-encoding kept, transfer-encoding undone


class Capture(NamedTuple):
    """Where one archived response is: its ``response`` or ``revisit`` record."""

    url: str
    fetched_at: str  # the record's WARC-Date
    digest: str  # WARC-Payload-Digest, "sha1:<base32>"
    status: int
    warc_type: str  # "response" or "revisit"
    file: str  # file name, relative to the archive directory
    offset: int  # of the record's gzip member
    length: int  # of the record's gzip member


class Planned(NamedTuple):
    """An exchange ready to be written: its payload digest and the (url, WARC-Date) it revisits, or None."""

    fetched: Fetched
    digest: str
    earlier: tuple[str, str] | None


def warc_date(moment: datetime) -> str:
    """``moment`` as a WARC 1.1 date (UTC, microseconds)."""
    return datetime_to_iso_date(moment.astimezone(UTC).replace(tzinfo=None), use_micros=True)


def payload_digest(body: bytes) -> str:
    digester = Digester("sha1")
    digester.update(body)
    return str(digester)


def _response_headers(fetched: Fetched) -> StatusAndHeaders:
    try:
        reason = HTTPStatus(fetched.status).phrase
    except ValueError:
        reason = ""
    headers = [(k, v) for k, v in fetched.headers if k.lower() not in _TRANSFER_HEADERS]
    headers.append(("Content-Length", str(len(fetched.body))))
    return StatusAndHeaders(f"{fetched.status} {reason}".strip(), headers, protocol=fetched.protocol or "HTTP/1.1")


def _member(record, level: int) -> bytes:
    """One record as one gzip member (digests and lengths computed by warcio)."""
    raw = io.BytesIO()
    WARCWriter(raw, gzip=False, warc_version=WARC_VERSION).write_record(record)
    packer = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(raw.getvalue()) + packer.flush()


def _request_headers(fetched: Fetched) -> StatusAndHeaders:
    parts = urlsplit(fetched.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [("Host", parts.netloc), *((k, v) for k, v in fetched.request_headers if k.lower() != "host")]
    return StatusAndHeaders(
        f"{fetched.method} {target} {fetched.protocol or 'HTTP/1.1'}", headers, is_http_request=True
    )


class WarcWriter:
    """Writes the WARC files of one run into ``directory``; see the module docstring.

    ``run``: the files' name stem (it should start with the run's start time, so that names sort by
    run); ``info``: ``warcinfo`` fields of every file besides the format's (``software`` at least);
    ``archived``: digest -> (url, WARC-Date, file) of a payload archived by an earlier run, or None
    (``mayadeen.store.captures.archived_payload``): one still on disk becomes a revisit target;
    ``gzip_level``: of every record (``GZIP_LEVEL``; other levels are for ``bench/warc_cost.py``).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        run: str,
        *,
        max_size: int,
        info: Mapping[str, str],
        archived: Callable[[str], tuple[str, str, str] | None] | None = None,
        gzip_level: int = GZIP_LEVEL,
    ):
        self.directory = Path(directory)
        self.run = run
        self.max_size = max_size
        self.warcinfo = {
            "software": "mayadeen",
            "format": "WARC File Format 1.1",
            "conformsTo": "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "isPartOf": run,
            **info,
        }
        self.archived = archived
        self.gzip_level = gzip_level
        self.payloads: dict[str, tuple[str, str]] = {}  # digest -> (url, WARC-Date) archived by this run
        self.serial = 0
        self.files: list[str] = []  # closed files of this run
        self._fd: int | None = None
        self._name: str | None = None
        self._size = 0

    # --- files ---------------------------------------------------------------------------------

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
        while True:
            name = f"{self.run}-{self.serial:05d}{SUFFIX}"
            self.serial += 1
            if (self.directory / name).exists():
                continue
            try:
                fd = os.open(self.directory / (name + ".open"), flags, 0o644)
            except FileExistsError:
                continue
            break
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd, self._name, self._size = fd, name, 0
        builder = RecordBuilder(warc_version=WARC_VERSION)
        self._append(_member(builder.create_warcinfo_record(name, self.warcinfo), self.gzip_level))

    def _append(self, data: bytes) -> int:
        """Hands ``data`` to the OS in one write (a kill cannot split it); returns its offset.

        A write that fails part-way (a full disk) is cut off again, so the file stays readable.
        """
        offset = self._size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            os.ftruncate(self._fd, offset)
            raise
        self._size += len(data)
        return offset

    def _close_file(self) -> None:
        if self._fd is None:
            return
        os.rename(self.directory / (self._name + ".open"), self.directory / self._name)
        os.close(self._fd)  # closing the only fd releases the flock
        self.files.append(self._name)
        self._fd = self._name = None

    def close(self) -> None:
        self._close_file()

    def _earlier(self, digest: str) -> tuple[str, str] | None:
        """(url, WARC-Date) of the archived response with this payload, if there is one."""
        if digest in self.payloads:
            return self.payloads[digest]
        found = self.archived(digest) if self.archived is not None else None
        if found is not None and (self.directory / found[2]).exists():
            return found[0], found[1]
        return None

    # --- records -------------------------------------------------------------------------------

    def plan(self, fetched: Fetched) -> Planned:
        """The cheap half of ``write``, on the caller's thread: the payload digest and the record it
        revisits (a lookup in the store). Planned exchanges must then be written in the order planned:
        a revisit points at a record planned before it."""
        digest = payload_digest(fetched.body)
        earlier = self._earlier(digest)
        if earlier is None:
            self.payloads[digest] = (fetched.url, warc_date(fetched.fetched_at))
        return Planned(fetched, digest, earlier)

    def write(self, fetched: Fetched) -> Capture:
        """Archive one exchange; returns where its response (or revisit) record is."""
        return self.write_planned(self.plan(fetched))

    def write_planned(self, planned: Planned) -> Capture:
        """The costly half of ``write`` (records built, compressed and written): no store, any thread."""
        fetched, digest, earlier = planned
        if self._fd is None:
            self._open()
        date = warc_date(fetched.fetched_at)
        builder = RecordBuilder(warc_version=WARC_VERSION)
        http = _response_headers(fetched)
        if earlier is not None:
            record = builder.create_revisit_record(
                fetched.url, digest, earlier[0], earlier[1], http_headers=http, warc_headers_dict={"WARC-Date": date}
            )
        else:
            record = builder.create_warc_record(
                fetched.url,
                "response",
                payload=io.BytesIO(fetched.body),
                length=len(fetched.body),
                http_headers=http,
                warc_headers_dict={"WARC-Date": date},
            )
        response = _member(record, self.gzip_level)
        request = builder.create_warc_record(
            fetched.url,
            "request",
            payload=io.BytesIO(b""),
            length=0,
            http_headers=_request_headers(fetched),
            warc_headers_dict={"WARC-Date": date},
        )
        request.rec_headers.add_header("WARC-Concurrent-To", record.rec_headers.get_header("WARC-Record-ID"))
        offset = self._append(response + _member(request, self.gzip_level))
        capture = Capture(fetched.url, date, digest, fetched.status, record.rec_type, self._name, offset, len(response))
        if self._size >= self.max_size:
            self._close_file()
        return capture


# --- recovery ------------------------------------------------------------------------------------


def whole_members_end(stream) -> int:
    """Where the last complete gzip member of ``stream`` ends (0 when there is none)."""
    end = consumed = 0
    inflater = None
    while chunk := stream.read(1 << 20):
        data = chunk
        while data:
            if inflater is None:
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                inflater.decompress(data)
            except zlib.error:
                return end  # not gzip from here on: cut it
            if not inflater.eof:
                consumed += len(data)
                break
            consumed += len(data) - len(inflater.unused_data)
            end = consumed
            data, inflater = inflater.unused_data, None
    return end


def recover(directory: str | os.PathLike) -> list[tuple[str, int]]:
    """Close the ``.open`` files killed runs left in ``directory``: (file, torn bytes cut) for each.

    A file whose lock a live process holds (a run writing it right now) is left alone.
    """
    directory = Path(directory)
    done = []
    for path in sorted(directory.glob("*" + OPEN_SUFFIX)) if directory.is_dir() else ():
        fd = os.open(path, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            with os.fdopen(os.dup(fd), "rb") as stream:
                keep = whole_members_end(stream)
            size = os.fstat(fd).st_size
            os.ftruncate(fd, keep)
            final = path.with_name(path.name[: -len(".open")])
            if keep:
                os.rename(path, final)
            else:
                path.unlink()
            done.append((final.name, size - keep))
        finally:
            os.close(fd)
    return done


def closed_files(directory: str | os.PathLike) -> Iterable[Path]:
    """The archive's closed WARC files, oldest run first (names start with the run's start time)."""
    directory = Path(directory)
    return sorted(directory.glob("*" + SUFFIX)) if directory.is_dir() else []
