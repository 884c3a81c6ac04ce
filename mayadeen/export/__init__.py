"""Datasets from the store: JSON Lines, CSV and Parquet snapshots with a dataset card and a report."""
