"""An export over an earlier one: only the Parquet partitions whose rows changed are written again;
with nothing changed, every data file stays as it is; ``--full`` writes everything."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from mayadeen.export.overwrite import RefusedDirectory
from mayadeen.export.parquet import partition
from mayadeen.export.run import ExportRequest, ExportResult, export
from mayadeen.record import content_hash
from mayadeen.store.engines import StoreTarget
from mayadeen.store.sqlite import ArticleStore
from tests.conftest import expected_records


def _records():
    """The fixture records as a crawl stores them (with the crawl's fields)."""
    return [
        {**r, "scraped_at": "2025-09-01T00:00:00Z", "content_hash": content_hash(r)}
        for r in expected_records().values()
    ]


def _fill(path):
    with ArticleStore(path) as s:
        for record in _records():
            s.upsert(record, seen_at="2025-09-01T00:00:00Z")
    return path


def _export(store, out, **options):
    return export(ExportRequest(store=StoreTarget("sqlite", str(store)), out=out, **options))


@dataclass
class Earlier:
    store: Path  # left as it is (the store's path is part of what an export's files are made of)
    result: ExportResult  # of its export, in ``out``
    out: Path


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> Earlier:
    work = tmp_path_factory.mktemp("earlier")
    store = _fill(work / "mayadeen.sqlite")
    return Earlier(store, _export(store, work / "out"), work / "out")


def _copy(earlier: Earlier, out: Path) -> None:
    """The earlier export, its files' times kept (an export over it compares them with its manifest's)."""
    shutil.copytree(earlier.out, out)


def _stamps(out):
    """path → (inode, mtime_ns) of every file but the manifest: a rewritten file gets a new inode."""
    return {
        p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }


def _manifest(out):
    return json.loads((out / "manifest.json").read_text("utf-8"))


def test_an_unchanged_export_keeps_every_data_file(earlier, tmp_path):
    out = tmp_path / "out"
    _copy(earlier, out)
    first = earlier.result
    before = _stamps(out)
    second = _export(earlier.store, out, overwrite=True)
    after = _stamps(out)
    data = [p for p in before if p not in ("README.md", "report.html", "croissant.json")]
    assert data and all(after[p] == before[p] for p in data)
    assert second.kept == len(first.files) and first.kept == 0  # the documents too: nothing they show changed
    assert {f.path: f.sha256 for f in second.files} == {f.path: f.sha256 for f in first.files}
    assert second.profile.state() == first.profile.state()
    assert _manifest(out)["partitions"] == first.manifest["partitions"]


def test_a_changed_item_rewrites_its_partition_only(tmp_path):
    out, store = tmp_path / "out", _fill(tmp_path / "mayadeen.sqlite")  # its own: the item changes
    _export(store, out)
    before = _stamps(out)
    record = _records()[0]
    changed = f"parquet/{partition(record['date_published'])}"
    with ArticleStore(store) as s:
        s.upsert(
            {**record, "scraped_at": "2025-09-02T00:00:00Z", "shares": (record.get("shares") or 0) + 7},
            seen_at="2025-09-02T00:00:00Z",
        )
    result = _export(store, out, overwrite=True)
    after = _stamps(out)
    parquet = [p for p in before if p.startswith("parquet/")]
    rewritten = {p for p in parquet if after.get(p) != before[p]}
    assert result.kept == len(parquet) - len(rewritten)
    assert rewritten and all(p.startswith(changed + "/") for p in rewritten)
    assert len(rewritten) < len(parquet)
    assert after["articles.jsonl"] != before["articles.jsonl"]  # one file of every row: written again
    table = ds.dataset(out / "parquet", format="parquet", partitioning="hive").to_table()
    shares = dict(zip(table["url"].to_pylist(), table["shares"].to_pylist(), strict=True))
    assert shares[record["url"]] == (record.get("shares") or 0) + 7
    assert table.num_rows == len(expected_records())


def test_full_writes_every_partition_again(earlier, tmp_path):
    out = tmp_path / "out"
    _copy(earlier, out)
    before = _stamps(out)
    _export(earlier.store, out, overwrite=True, full=True)
    after = _stamps(out)
    assert all(after[p] != before[p] for p in before if p.startswith("parquet/"))


def test_a_kept_file_changed_since_is_refused(earlier, tmp_path):
    out = tmp_path / "out"
    _copy(earlier, out)
    kept = next(p for p in sorted(out.rglob("*.parquet")))
    kept.write_bytes(kept.read_bytes() + b"x")  # appended to after the export
    os.utime(kept)
    with pytest.raises(RefusedDirectory, match="changed since"):
        _export(earlier.store, out, overwrite=True)
