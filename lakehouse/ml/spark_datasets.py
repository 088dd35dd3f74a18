"""Reading training data with Spark: a Gold table at one pinned version, and its lineage."""

from __future__ import annotations

import hashlib

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.io.delta import latest_version, read_table, source_versions_at
from lakehouse.ml.datasets import DatasetLineage, InsufficientDataError


def content_hash(df: DataFrame, columns: list[str]) -> tuple[int, str]:
    """Row count and an order-independent hash of ``columns`` over all rows.

    Two 64-bit row hashes are summed exactly (decimal, no overflow), so the result does not
    depend on file layout or row order: a compacted or re-partitioned copy of the same rows
    hashes the same, a changed value does not.
    """
    row = F.struct(*columns)
    totals = df.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.xxhash64(row).cast("decimal(38,0)")).alias("h1"),
        F.sum(F.hash(row).cast("decimal(38,0)")).alias("h2"),
    ).first()
    digest = hashlib.sha256(f"{totals['n']}|{totals['h1']}|{totals['h2']}".encode()).hexdigest()
    return int(totals["n"]), digest


def read_training_table(
    spark: SparkSession,
    path: str,
    table_key: str,
    *,
    columns: list[str],
    row_filter: Column,
    order_by: list[str],
    version: int | None = None,
) -> tuple[pd.DataFrame, DatasetLineage]:
    """Read ``columns`` of the rows passing ``row_filter`` at one version of a Gold table.

    Args:
        spark: The session.
        path: Table folder or URI.
        table_key: ``layer/name`` of the table, for lineage.
        columns: What the model and its evaluation need.
        row_filter: Which rows are usable (e.g. labelled).
        order_by: A total order (time, then key), so the split is deterministic.
        version: The Delta version; the newest when None.

    Returns:
        The rows as pandas, ordered, and their lineage.
    """
    pinned = latest_version(spark, path) if version is None else version
    if pinned is None:
        raise InsufficientDataError(f"{table_key} does not exist yet: run the pipeline first")
    df = read_table(spark, path, version=pinned).where(row_filter).select(*columns)
    count, digest = content_hash(df, columns)
    frame = df.toPandas().sort_values(order_by, kind="mergesort").reset_index(drop=True)
    if len(frame) != count:
        raise RuntimeError(f"{table_key}@{pinned}: read {len(frame)} rows, counted {count}")
    lineage = DatasetLineage(
        table=table_key,
        path=path,
        version=pinned,
        row_count=count,
        content_hash=digest,
        source_versions=source_versions_at(spark, path, pinned),
    )
    return frame, lineage
