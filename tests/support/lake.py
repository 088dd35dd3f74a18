"""Comparing two lakes built from the same landing zone."""

from __future__ import annotations

from pyspark.sql import DataFrame


def run_specific(name: str) -> bool:
    """Columns recording when, from which file (local path or s3a:// key) or in which batch."""
    return name.endswith("_at") or "source_file" in name or name.startswith("_batch")


def comparable(df: DataFrame) -> list[str]:
    """Rows (as their reprs, which order nulls and nested values too) sorted, run-time
    columns left out."""
    keep = [f.name for f in df.schema.fields if not run_specific(f.name)]
    return sorted(repr(tuple(r)) for r in df.select(*keep).collect())
