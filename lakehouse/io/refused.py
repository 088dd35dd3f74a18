"""The refused-files table: every landed file that could not be read whole, and why.

One Delta table (``<lake>/audit/refused_files``) with a row per refused file and batch: the
file's path, size, modification time and content hash, the reason (CONTRACT section 2.5), the
error's first line and how many of its records were kept (the complete records before the
damage, which reach Bronze with ``_file_error`` set). Together with the ledger it conserves
files: files seen = files ingested + files refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from lakehouse.io.delta import append_once, is_delta_table

REFUSED_SCHEMA = StructType(
    [
        StructField("source", StringType(), False),
        StructField("path", StringType(), False),
        StructField("size", LongType(), False),
        StructField("modified_at", TimestampType()),
        StructField("sha256", StringType()),  # null for a file refused unread
        StructField("reason", StringType(), False),
        StructField("error", StringType()),
        StructField("records_kept", LongType(), False),
        StructField("batch_id", LongType(), False),
    ]
)


@dataclass(frozen=True)
class RefusedFile:
    """One refused file, as ``check_files`` saw it."""

    path: str
    size: int
    modified_at: datetime | None
    sha256: str | None
    reason: str
    error: str | None
    records_kept: int = 0

    def as_tuple(self) -> tuple:
        """The fields in ``REFUSED_SCHEMA``'s order (after ``source``)."""
        return (
            self.path,
            self.size,
            self.modified_at,
            self.sha256,
            self.reason,
            self.error,
            self.records_kept,
        )


def record_refused(
    spark: SparkSession,
    table_path: str,
    *,
    source: str,
    batch_id: int,
    files: Iterable[RefusedFile],
    lane: str = "",
) -> int:
    """Append the batch's refused files, exactly once per (source, lane, batch); returns how
    many."""
    rows = [(source, *f.as_tuple(), batch_id) for f in files]
    if rows:
        df = spark.createDataFrame(rows, REFUSED_SCHEMA).withColumn(
            "refused_at", F.current_timestamp()
        )
        append_once(df, table_path, app_id=f"refused:{source}{lane}", batch_id=batch_id)
    return len(rows)


def read_refused(spark: SparkSession, table_path: str) -> DataFrame:
    """Every refused file, or an empty frame when none ever was."""
    if not is_delta_table(spark, table_path):
        schema = StructType([*REFUSED_SCHEMA.fields, StructField("refused_at", TimestampType())])
        return spark.createDataFrame([], schema)
    return spark.read.format("delta").load(table_path)


RETRY_SCHEMA = StructType(
    [
        StructField("source", StringType(), False),
        StructField("retry_id", LongType(), False),
        StructField("path", StringType(), False),
        StructField("load_path", StringType(), False),
        StructField("size", LongType(), False),
        StructField("modified_at", TimestampType()),
    ]
)


def plan_retry(
    spark: SparkSession, table_path: str, *, source: str, retry_id: int, files: Iterable[Row]
) -> None:
    """Record, before reading them, the files retry ``retry_id`` reads again (as
    ``list_landed_files`` lists them), exactly once per (source, retry)."""
    rows = [
        (source, retry_id, f["path"], f["load_path"], int(f["length"]), f["modified_at"])
        for f in files
    ]
    df = spark.createDataFrame(rows, RETRY_SCHEMA).withColumn("planned_at", F.current_timestamp())
    append_once(df, table_path, app_id=f"retries:{source}", batch_id=retry_id)


def read_retries(spark: SparkSession, table_path: str, source: str) -> list[Row]:
    """Every file retry planned for ``source``."""
    if not is_delta_table(spark, table_path):
        return []
    return (
        spark.read.format("delta")
        .load(table_path)
        .where(F.col("source") == source)
        .select("retry_id", "path", "load_path", F.col("size").alias("length"), "modified_at")
        .collect()
    )
