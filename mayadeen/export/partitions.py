"""Which Parquet partitions an export over an earlier one may keep: those whose rows did not change.

Before the rows stream, each partition (``year=YYYY/month=MM`` of a dataset's Parquet directory)
gets a digest of what changes whenever one of its rows does (``Dataset.versions``: for items, the
url, content hash, ``last_seen`` and revision from the covering index, never the body): the count
and the sum of the rows' sha256 modulo 2**256, so the order of the rows does not matter. The
manifest keeps the digests (``partitions``) and ``export_key``, a digest of everything else that
shapes the files (the crawler's version, the schemas, the selection, the CSV setting, the store).
A partition whose digest and key are the earlier export's, and whose files that export listed, is
not written again; ``--full`` writes everything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from mayadeen import __version__
from mayadeen.export.parquet import ROW_GROUP_ROWS, partition

_MODULUS = 1 << 256


def digests(parquet_dir: str, versions: Iterable[tuple[Any, ...]]) -> dict[str, str]:
    """``parquet_dir/year=YYYY/month=MM`` → ``"<rows>:<sum of sha256>"`` of its rows' versions."""
    sums: dict[str, list[int]] = {}
    for version in versions:
        found = sums.setdefault(partition(version[0]), [0, 0])
        found[0] += 1
        found[1] += int.from_bytes(hashlib.sha256(repr(version).encode()).digest(), "big")
    return {f"{parquet_dir}/{key}": f"{n}:{total % _MODULUS:064x}" for key, (n, total) in sorted(sums.items())}


def export_key(**shaping: Any) -> str:
    """A digest of what, besides the rows, shapes an export's files."""
    text = json.dumps(
        {**shaping, "version": __version__, "row_group_rows": ROW_GROUP_ROWS}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


def kept_partitions(earlier: dict[str, Any] | None, key: str, now: dict[str, str]) -> set[str]:
    """The partitions (``parquet_dir/year=YYYY/month=MM``) whose files the earlier export (its
    manifest, or None) wrote for the same rows and the same ``key``."""
    if not earlier or earlier.get("export_key") != key or not isinstance(earlier.get("partitions"), dict):
        return set()
    listed = {f["path"].rsplit("/", 1)[0] for f in earlier.get("files", ()) if isinstance(f.get("path"), str)}
    return {p for p, digest in now.items() if earlier["partitions"].get(p) == digest and p in listed}
