"""Datasets from the store: JSON Lines, CSV and Parquet snapshots with a dataset card and a report."""

import os

# Arrow's memory from the C allocator, which gives it back: with Arrow's default (mimalloc) the peak
# RSS of an export of 200,000 items is some 40 MB higher. Read when Arrow first allocates, so set
# before any module of the export imports pyarrow; an operator's own setting wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
