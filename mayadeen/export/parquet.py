"""The Parquet files of an export, and the same check of every line where no Parquet is written.

Hive partitions ``year=YYYY/month=MM``, typed columns, row groups read from the rows' JSON lines by
Arrow's JSON reader in a worker thread (``mayadeen.export.writers.InOrder``): at most one row group of
rows is held in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from mayadeen.export.arrow import arrow_schema, table_reader
from mayadeen.export.writers import InOrder, OutputFile, describe

#: Rows per Parquet row group (and the most rows held in memory at once).
ROW_GROUP_ROWS = 5_000


class JsonCheck:
    """Arrow's JSON reader over every batch of lines, in a worker thread (without the GIL), the
    tables dropped: the check the Parquet writer makes of each line it writes, for an export without
    Parquet of a dataset whose JSON text comes from the store as it is (``Dataset.encoded``). Text in
    a JSON column that is no JSON (a store edited by hand) then fails the export (``ArrowInvalid``)
    instead of reaching its files."""

    def __init__(self, json_schema: dict[str, Any]):
        self.table = table_reader(arrow_schema(json_schema))
        self.worker = InOrder("json-check")

    def write(self, records: list[dict[str, Any]], lines: list[bytes]) -> None:
        self.worker.submit(self.table, b"\n".join(lines))

    def close(self) -> list[OutputFile]:
        self.worker.finish()
        return []


def partition(timestamp: str) -> str:
    """``year=YYYY/month=MM`` of a UTC ``YYYY-MM-DDThh:mm:ssZ`` time."""
    return f"year={timestamp[:4]}/month={timestamp[5:7]}"


class ParquetWriter:
    """Hive partitions ``year=YYYY/month=MM`` by ``partition_field``, typed columns, row groups of
    ``row_group_rows``. Rows come ordered by that field, so one partition file is open at a time; a
    partition met again later gets a further ``part-N`` file. The rows of a partition in ``kept``
    (``year=YYYY/month=MM``: the earlier export's files of it stay) are passed over.

    A row group is kept as its rows' JSON lines (``json_lines``); reading them into Arrow, encoding
    and compressing the group (Arrow releases the GIL), closing and hashing a file run in one worker
    thread, in order, on the second core while the rows go on streaming; at most ``InOrder.depth``
    row groups wait for it (back-pressure, so memory stays bounded)."""

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
        self.table = table_reader(self.schema)
        self.partition_field, self.row_group_rows, self.kept = partition_field, row_group_rows, kept
        self.parts: dict[str, int] = {}
        self.key: str | None = None
        self.writer: pq.ParquetWriter | None = None
        self.file: str | None = None
        self.buffer: list[bytes] = []
        self.file_rows = 0
        self.written: list[OutputFile] = []
        self.worker = InOrder("parquet")
        (root / relative).mkdir(parents=True, exist_ok=True)

    def write(self, records: list[dict[str, Any]], lines: list[bytes]) -> None:
        for record, line in zip(records, lines):
            key = partition(record[self.partition_field])
            if key != self.key:
                self._close_file()
                self.key = key
                if key not in self.kept:
                    self._open_file(key)
            if self.writer is None:
                continue
            self.buffer.append(line)
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
            self.worker.submit(self._write_group, self.writer, b"\n".join(self.buffer))
            self.buffer = []

    def _write_group(self, writer: pq.ParquetWriter, lines: bytes) -> None:
        writer.write_table(self.table(lines), self.row_group_rows)

    def _close_file(self) -> None:
        if self.writer is not None:
            self._flush()
            self.worker.submit(self._finish, self.writer, self.file, self.file_rows)
            self.writer = None

    def _finish(self, writer: pq.ParquetWriter, file: str, rows: int) -> None:
        writer.close()
        self.written.append(describe(self.root, file, rows))

    def close(self) -> list[OutputFile]:
        try:
            self._close_file()
        finally:
            self.worker.finish()
        return sorted(self.written, key=lambda f: f.path)
