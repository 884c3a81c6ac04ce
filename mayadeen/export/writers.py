"""The files of an export, written under temporary names and put in place only when all are done.

``Staging`` is a hidden directory inside the export directory (same file system, so ``os.replace``
is atomic): every writer writes there; ``commit`` renames each finished file into place; ``abort``
(a full disk, a store error) removes the lot and leaves the directory as it was. The writers
stream: at most one Parquet row group of rows is held in memory.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from mayadeen.export.arrow import arrow_schema, table_maker
from mayadeen.export.escape import csv_cell

STAGING_PREFIX = ".export-tmp-"
#: Rows per Parquet row group (and the most rows held in memory at once).
ROW_GROUP_ROWS = 5_000


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


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: Characters JSON leaves as they are but that many readers take for the end of a line (Python's
#: ``splitlines``, JavaScript before ES2019): written as JSON escapes, so one record stays one line.
_LINE_BREAKS = (("\x85", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def _json_line(value: Any) -> str:
    """``value`` as compact JSON on one line. Each character is searched for before it is replaced:
    microseconds a line, where ``str.translate`` takes milliseconds on a long body."""
    text = _compact_json(value)
    for char, escaped in _LINE_BREAKS:
        if char in text:
            text = text.replace(char, escaped)
    return text


class JsonLinesWriter:
    """One record per line, UTF-8, keys in schema order."""

    def __init__(self, root: Path, relative: str, columns: tuple[str, ...]):
        self.root, self.relative, self.columns = root, relative, columns
        self.file = (root / relative).open("w", encoding="utf-8", newline="\n")
        self.rows = 0

    def write(self, record: dict[str, Any]) -> None:
        if tuple(record) != self.columns:  # a record's own keys, in order, need no copy
            record = {c: record.get(c) for c in self.columns}
        self.file.write(_json_line(record) + "\n")
        self.rows += 1

    def close(self) -> list[OutputFile]:
        self.file.close()
        return [describe(self.root, self.relative, self.rows)]


class CsvWriter:
    """RFC 4180 (CRLF, quoted when needed), UTF-8 with a byte-order mark (spreadsheets then read
    non-ASCII text right), a header of the keys; lists, objects and booleans as JSON text (``true``,
    not Python's ``True``), null as an empty cell. With ``escape_formulas``, a text cell a spreadsheet
    would run as a formula gets a leading ``'`` (``escape.csv_cell``)."""

    def __init__(self, root: Path, relative: str, columns: tuple[str, ...], escape_formulas: bool = True):
        self.root, self.relative, self.columns = root, relative, columns
        self.file = (root / relative).open("w", encoding="utf-8-sig", newline="")
        self.csv = csv.writer(self.file, lineterminator="\r\n")
        self.csv.writerow(columns)
        self.text = csv_cell if escape_formulas else str
        self.rows = 0

    def _cell(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, str):
            return self.text(value)
        return _compact_json(value) if isinstance(value, (list, dict, bool)) else value

    def write(self, record: dict[str, Any]) -> None:
        self.csv.writerow([self._cell(record.get(c)) for c in self.columns])
        self.rows += 1

    def close(self) -> list[OutputFile]:
        self.file.close()
        return [describe(self.root, self.relative, self.rows)]


def partition(timestamp: str) -> str:
    """``year=YYYY/month=MM`` of a UTC ``YYYY-MM-DDThh:mm:ssZ`` time."""
    return f"year={timestamp[:4]}/month={timestamp[5:7]}"


class ParquetWriter:
    """Hive partitions ``year=YYYY/month=MM`` by ``partition_field``, typed columns, row groups of
    ``row_group_rows``. Rows come ordered by that field, so one partition file is open at a time; a
    partition met again later gets a further ``part-N`` file. The rows of a partition in ``kept``
    (``year=YYYY/month=MM``: the earlier export's files of it stay) are passed over.

    Encoding and compressing a row group (Arrow releases the GIL) and closing and hashing a file run
    in one worker thread, in order, on the second core while the rows go on streaming; at most one
    row group waits for it (back-pressure, so memory stays at two row groups)."""

    def __init__(
        self,
        root: Path,
        relative: str,
        json_schema: dict[str, Any],
        partition_field: str,
        row_group_rows: int = ROW_GROUP_ROWS,
        kept: frozenset[str] = frozenset(),
    ):
        self.root, self.relative = root, relative
        self.schema = arrow_schema(json_schema)
        self.table = table_maker(self.schema)
        self.partition_field, self.row_group_rows, self.kept = partition_field, row_group_rows, kept
        self.parts: dict[str, int] = {}
        self.key: str | None = None
        self.writer: pq.ParquetWriter | None = None
        self.file: str | None = None
        self.buffer: list[dict[str, Any]] = []
        self.file_rows = 0
        self.written: list[OutputFile] = []
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="parquet")
        self.pending: Future | None = None
        (root / relative).mkdir(parents=True, exist_ok=True)

    def _submit(self, work, *args) -> None:
        """``work(*args)`` in the worker, once the work before it is done (its error raised here)."""
        if self.pending is not None:
            self.pending.result()
        self.pending = self.worker.submit(work, *args)

    def write(self, record: dict[str, Any]) -> None:
        key = partition(record[self.partition_field])
        if key != self.key:
            self._close_file()
            self.key = key
            if key not in self.kept:
                self._open_file(key)
        if self.writer is None:
            return
        self.buffer.append(record)
        self.file_rows += 1
        if len(self.buffer) >= self.row_group_rows:
            self._flush()

    def _open_file(self, key: str) -> None:
        number = self.parts.get(key, 0)
        self.parts[key] = number + 1
        self.file, self.file_rows = f"{self.relative}/{key}/part-{number}.parquet", 0
        (self.root / self.file).parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(self.root / self.file, self.schema, compression="zstd")

    def _flush(self) -> None:
        if self.buffer:
            self._submit(self.writer.write_table, self.table(self.buffer), self.row_group_rows)
            self.buffer = []

    def _close_file(self) -> None:
        if self.writer is not None:
            self._flush()
            self._submit(self._finish, self.writer, self.file, self.file_rows)
            self.writer = None

    def _finish(self, writer: pq.ParquetWriter, file: str, rows: int) -> None:
        writer.close()
        self.written.append(describe(self.root, file, rows))

    def close(self) -> list[OutputFile]:
        try:
            self._close_file()
            if self.pending is not None:
                self.pending.result()
        finally:
            self.worker.shutdown(wait=True)
        return sorted(self.written, key=lambda f: f.path)
