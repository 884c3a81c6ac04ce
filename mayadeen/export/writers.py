"""The files of an export, written under temporary names and put in place only when all are done.

``Staging`` is a hidden directory inside the export directory (same file system, so ``os.replace``
is atomic): every writer writes there; ``commit`` renames each finished file into place; ``abort``
(a full disk, a store error) removes the lot and leaves the directory as it was. The JSON Lines and
CSV writers stream a batch of rows at a time (Parquet: ``mayadeen.export.parquet``).
"""

from __future__ import annotations

import codecs
import hashlib
import os
import shutil
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mayadeen.export.escape import csv_cell
from mayadeen.jsontext import compact, loads
from mayadeen.processes import is_running

STAGING_PREFIX = ".export-tmp-"


@dataclass(frozen=True)
class OutputFile:
    """One written file: its path inside the export directory, rows (None for documents), size, digest."""

    path: str
    rows: int | None
    bytes: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}


def describe(root: Path, relative: str, rows: int | None) -> OutputFile:
    digest = hashlib.sha256()
    path = root / relative
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return OutputFile(relative, rows, path.stat().st_size, digest.hexdigest())


class Staging:
    """A temporary directory in ``out`` that becomes the export's files on ``commit``."""

    def __init__(self, out: Path):
        self.out = out
        self.root = out / f"{STAGING_PREFIX}{os.getpid()}"
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)

    def files(self) -> list[str]:
        """Every staged file, as its path inside the export directory."""
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def commit(self, earlier: list[str], last: str) -> None:
        """Put the staged files in place, ``last`` at the end. Of ``earlier`` (the files of the export
        this one replaces, as ``overwrite.earlier_export`` checked them), those not written again are
        removed, and the directories that leaves empty; nothing else in the directory is touched."""
        staged = self.files()
        for relative in sorted(set(earlier) - set(staged)):
            (self.out / relative).unlink(missing_ok=True)
            self._prune((self.out / relative).parent)
        for directory in sorted(p.relative_to(self.root) for p in self.root.rglob("*") if p.is_dir()):
            (self.out / directory).mkdir(parents=True, exist_ok=True)  # empty ones too (no rows that month)
        for relative in sorted(staged, key=lambda r: r == last):
            os.replace(self.root / relative, self.out / relative)
        self.abort()

    def _prune(self, directory: Path) -> None:
        """Remove ``directory`` and its parents below the export directory while they are empty."""
        while directory != self.out and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent

    def abort(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def remove_stale_staging(out: Path) -> None:
    """Staging directories of exports that were killed (their process is gone)."""
    if not out.is_dir():
        return
    for path in out.glob(f"{STAGING_PREFIX}*"):
        pid = path.name.removeprefix(STAGING_PREFIX)
        if pid.isdigit() and not is_running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


class InOrder:
    """Work done in one worker thread, in the order submitted, while the caller goes on. At most
    ``depth`` pieces wait (back-pressure: memory stays at that many pieces; more than one, so that
    the caller does not stall on each short piece, such as closing a file); a piece's error is raised
    in the caller at a later ``submit`` or at ``finish``."""

    def __init__(self, name: str, depth: int = 2):
        self.worker = ThreadPoolExecutor(1, thread_name_prefix=name)
        self.depth = depth
        self.pending: deque[Future] = deque()

    def submit(self, work, *args) -> None:
        while self.pending and (len(self.pending) >= self.depth or self.pending[0].done()):
            self.pending.popleft().result()
        self.pending.append(self.worker.submit(work, *args))

    def finish(self) -> None:
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.worker.shutdown(wait=True)


class HashedFile:
    """A data file written and hashed in a worker thread as its bytes come (writing and sha256
    release the GIL; no second read of the file to hash it)."""

    def __init__(self, root: Path, relative: str):
        self.relative = relative
        self.file = (root / relative).open("wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.worker = InOrder("export-file")

    def write(self, data: bytes) -> None:
        self.worker.submit(self._write, data)

    def _write(self, data: bytes) -> None:
        self.file.write(data)
        self.digest.update(data)
        self.size += len(data)

    def close(self, rows: int) -> OutputFile:
        try:
            self.worker.finish()
        finally:
            self.file.close()
        return OutputFile(self.relative, rows, self.size, self.digest.hexdigest())


#: Characters JSON leaves as they are but that many readers take for the end of a line (Python's
#: ``splitlines``, JavaScript before ES2019): written as JSON escapes, so one record stays one line.
#: Searched for in the UTF-8 of a whole batch (UTF-8 never makes these bytes from other characters).
_LINE_BREAKS = tuple((char.encode(), escaped) for char, escaped in (
    ("\x85", b"\\u0085"), ("\u2028", b"\\u2028"), ("\u2029", b"\\u2029"),
))  # fmt: skip


def json_lines(
    records: list[dict[str, Any]], columns: tuple[str, ...], encoded: frozenset[str] = frozenset()
) -> list[bytes]:
    """Each record as compact JSON as ``json.dumps`` writes it (``jsontext.compact``), keys in
    ``columns`` order: what the JSON Lines and the Parquet writers are given with the records. The
    values of the ``encoded`` keys are compact JSON text already (``Dataset.encoded``): put in as
    they are."""
    lines = []
    for r in records:
        if tuple(r) != columns:  # own keys in order: no copy
            r = {c: r.get(c) for c in columns}
        if encoded:
            lines.append(_with_encoded(r, encoded))
        else:
            lines.append(compact(r))
    return lines


def _with_encoded(record: dict[str, Any], encoded: frozenset[str]) -> bytes:
    as_text = dict(record)
    for key in encoded:
        if (text := as_text[key]) is not None:
            if "\n" in text or "\r" in text:  # not the store's compact text: one record on two lines
                return _decoded(record, encoded)
            as_text[key] = orjson.Fragment(text)
    try:
        return orjson.dumps(as_text)
    except orjson.JSONEncodeError:  # what ``compact`` hands to the standard library
        return _decoded(record, encoded)


def _decoded(record: dict[str, Any], encoded: frozenset[str]) -> bytes:
    """The line of ``record`` with its ``encoded`` values decoded (text that is no JSON raises)."""
    return compact({k: loads(v) if k in encoded and v is not None else v for k, v in record.items()})


class JsonLinesWriter:
    """One record per line, UTF-8, keys in schema order (``json_lines``)."""

    def __init__(self, root: Path, relative: str):
        self.file = HashedFile(root, relative)
        self.rows = 0

    def write(self, records: list[dict[str, Any]], lines: list[bytes]) -> None:
        data = b"\n".join([*lines, b""])  # the last line's end too, without copying the batch again
        for char, escaped in _LINE_BREAKS:
            # its last byte alone first: a one-byte search runs at memory speed, the whole
            # sequence's about 50 times slower (seconds on a large export), and text rarely has that byte
            if char[-1:] in data and char in data:
                data = data.replace(char, escaped)
        self.file.write(data)
        self.rows += len(records)

    def close(self) -> list[OutputFile]:
        return [self.file.close(self.rows)]


def _quoted(text: str) -> str:
    """A CSV cell as Python's ``csv`` writes it (minimal quoting, quotes doubled)."""
    if '"' in text:
        return '"%s"' % text.replace('"', '""')  # one string built, where + builds two
    if "," in text or "\n" in text or "\r" in text:
        return '"%s"' % text
    return text


def _json_cell(text: str | None) -> str:
    """The CSV cell of a value given as its compact JSON text (``Dataset.encoded``); null as empty."""
    return "" if text is None else _quoted(text)


def _cell_maker(escape_formulas: bool):
    """A record value → its CSV cell: null as empty, lists, objects and booleans as compact JSON,
    text escaped with ``escape.csv_cell`` when ``escape_formulas``, numbers as ``str``."""
    text = csv_cell if escape_formulas else str

    def cell(value: Any) -> str:
        if isinstance(value, str):
            return _quoted(text(value))
        if value is None:
            return ""
        if isinstance(value, (list, dict, bool)):
            return _quoted(compact(value).decode())
        return _quoted(str(value))

    return cell


class CsvWriter:
    """RFC 4180 (CRLF, quoted when needed), UTF-8 with a byte-order mark (spreadsheets then read
    non-ASCII text right), a header of the keys; lists, objects and booleans as JSON text (``true``,
    not Python's ``True``), null as an empty cell. With ``escape_formulas``, a text cell a spreadsheet
    would run as a formula gets a leading ``'`` (``escape.csv_cell``). The bytes Python's ``csv``
    writer wrote (``_quoted``), built a batch of lines at a time."""

    def __init__(
        self,
        root: Path,
        relative: str,
        columns: tuple[str, ...],
        escape_formulas: bool = True,
        encoded: frozenset[str] = frozenset(),
    ):
        self.file = HashedFile(root, relative)
        self.file.write(codecs.BOM_UTF8 + (",".join(map(_quoted, columns)) + "\r\n").encode())
        cell = _cell_maker(escape_formulas)
        #: (column, its cell maker): the values of ``encoded`` columns are compact JSON text already.
        self.cells = [(c, _json_cell if c in encoded else cell) for c in columns]
        self.rows = 0

    def write(self, records: list[dict[str, Any]], lines: list[bytes]) -> None:
        cells = self.cells
        lines = [",".join([cell(r.get(c)) for c, cell in cells]) for r in records]
        lines.append("")  # the last line's end too, without copying the batch again
        self.file.write("\r\n".join(lines).encode())
        self.rows += len(records)

    def close(self) -> list[OutputFile]:
        return [self.file.close(self.rows)]
