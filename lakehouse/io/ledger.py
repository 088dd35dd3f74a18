"""The batch ledger: what every batch of every step read, wrote, quarantined and dropped.

One Delta table (``<lake>/audit/batch_ledger``) with a row per (step, source, batch). It is how
the conservation invariant is checked: records read = Bronze rows, and Bronze rows = Silver
rows + quarantined + duplicates removed.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, MapType, StringType, StructField, StructType, TimestampType

from lakehouse.io.delta import append_once, is_delta_table

LEDGER_LAYER, LEDGER_NAME = "audit", "batch_ledger"

LEDGER_SCHEMA = StructType(
    [
        StructField("step", StringType(), False),
        StructField("source", StringType(), False),
        StructField("batch_id", LongType(), False),
        StructField("metrics", MapType(StringType(), LongType()), False),
    ]
)


def record_batch(
    spark: SparkSession,
    ledger_path: str,
    *,
    step: str,
    source: str,
    batch_id: int,
    metrics: Mapping[str, int],
    lane: str = "",
) -> None:
    """Append one ledger row, exactly once per (step, source, lane, batch_id); a lane is a
    numbering of batches apart from the step's stream (the ingest's retries of replaced
    files)."""
    row_df = spark.createDataFrame(
        [(step, source, batch_id, {k: int(v) for k, v in metrics.items()})], LEDGER_SCHEMA
    ).withColumn("recorded_at", F.current_timestamp())
    append_once(row_df, ledger_path, app_id=f"ledger:{step}:{source}{lane}", batch_id=batch_id)


def read_ledger(spark: SparkSession, ledger_path: str) -> DataFrame:
    """All ledger rows, or an empty frame when nothing ran yet."""
    if not is_delta_table(spark, ledger_path):
        schema = StructType([*LEDGER_SCHEMA.fields, StructField("recorded_at", TimestampType())])
        return spark.createDataFrame([], schema)
    return spark.read.format("delta").load(ledger_path)


def ledger_totals(spark: SparkSession, ledger_path: str, step: str, source: str) -> dict[str, int]:
    """Each metric summed over all batches of one step and source."""
    rows = (
        read_ledger(spark, ledger_path)
        .where((F.col("step") == step) & (F.col("source") == source))
        .select(F.explode("metrics").alias("metric", "value"))
        .groupBy("metric")
        .agg(F.sum("value").alias("total"))
        .collect()
    )
    return {r["metric"]: int(r["total"]) for r in rows}
