"""The shared shape of every Bronze -> Silver step.

New Bronze rows stream in (availableNow, checkpointed). Each micro-batch is validated: rows with
a reason go to quarantine (exactly once per batch), the rest are typed, reduced to one row per
key, and MERGEd into Silver. The batch ledger records the conservation figures:
bronze_rows = silver_inserted + quarantined + duplicates_removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse.config import Settings
from lakehouse.io.delta import append_once, ensure_table, latest_version
from lakehouse.io.landing import stream_delta_changes
from lakehouse.io.ledger import record_batch
from lakehouse.io.streams import run_available_now
from lakehouse.pipeline.report import StepReport
from lakehouse.silver.schemas import QUARANTINE_SCHEMA
from lakehouse.tables import BATCH_LEDGER, Table

log = logging.getLogger(__name__)

STEP_SILVER = "silver"
Transform = Callable[[DataFrame], DataFrame]


@dataclass(frozen=True)
class SilverSpec:
    """How one source goes from Bronze to Silver.

    Attributes:
        source: Name in the ledger and on the command line.
        bronze, silver, quarantine: The tables.
        silver_schema: Silver's contract (the table is created with it).
        with_reasons: Adds ``reasons`` (array of codes; empty when valid).
        to_silver: Typed Silver rows from valid Bronze rows.
        latest_per_key: One row per ``keys`` within a batch.
        keys: The MERGE key.
        update_condition: When a matched row is replaced (``s.``/``t.`` aliases); None makes the
            merge insert-only (the first row of a key wins for good).
        to_quarantine: Quarantine rows (the ``QUARANTINE_SCHEMA`` contract) from invalid rows.
        quarantine_only: Columns that only quarantine rows read (the raw record): valid rows
            drop their values before the batch is cached, which makes the cache far smaller.
    """

    source: str
    bronze: Table
    silver: Table
    quarantine: Table
    silver_schema: StructType
    with_reasons: Transform
    to_silver: Transform
    latest_per_key: Transform
    keys: tuple[str, ...]
    update_condition: str | None
    to_quarantine: Transform
    quarantine_only: tuple[str, ...] = ("raw_record",)


def merge_into(
    spark: SparkSession,
    rows_df: DataFrame,
    path: str,
    schema: StructType,
    keys: tuple[str, ...],
    update_condition: str | None,
) -> tuple[int, int]:
    """MERGE ``rows_df`` into the table at ``path``; returns (inserted, updated)."""
    table = ensure_table(spark, path, spark.createDataFrame([], schema))
    before = latest_version(spark, path)
    if table.detail().first()["numFiles"] == 0:
        # Nothing to match against (the first load): a plain append does the same, minus
        # the join and the source materialisation a MERGE costs.
        rows_df.write.format("delta").mode("append").save(path)
        metrics = DeltaTable.forPath(spark, path).history(1).first()["operationMetrics"]
        return int(metrics.get("numOutputRows", 0)), 0
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    merge = table.alias("t").merge(rows_df.alias("s"), condition)
    if update_condition is not None:
        merge = merge.whenMatchedUpdateAll(condition=update_condition)
    merge.whenNotMatchedInsertAll().execute()
    if latest_version(spark, path) == before:
        return 0, 0
    metrics = DeltaTable.forPath(spark, path).history(1).first()["operationMetrics"]
    return int(metrics.get("numTargetRowsInserted", 0)), int(metrics.get("numTargetRowsUpdated", 0))


def run_silver(spark: SparkSession, settings: Settings, spec: SilverSpec) -> StepReport:
    """Stream new Bronze rows of ``spec.bronze`` into Silver and quarantine."""
    bronze_path = settings.table_path(*spec.bronze)
    silver_path = settings.table_path(*spec.silver)
    quarantine_path = settings.table_path(*spec.quarantine)
    ledger_path = settings.table_path(*BATCH_LEDGER)
    report = StepReport(STEP_SILVER, spec.source, spec.silver.key)
    if latest_version(spark, bronze_path) is None:
        log.warning("no %s table yet: run ingest first", spec.bronze.key)
        report.version = latest_version(spark, silver_path)
        return report
    ensure_table(spark, quarantine_path, spark.createDataFrame([], QUARANTINE_SCHEMA))

    def merge_batch(batch_df: DataFrame, batch_id: int) -> None:
        checked_df = spec.with_reasons(batch_df)
        is_invalid = F.size("reasons") > 0
        checked_df = checked_df.select(
            *[
                F.when(is_invalid, F.col(c)).alias(c) if c in spec.quarantine_only else F.col(c)
                for c in checked_df.columns
            ]
        ).persist()
        try:
            counts = checked_df.agg(
                F.count(F.lit(1)).alias("bronze_rows"),
                F.sum((F.size("reasons") > 0).cast("long")).alias("quarantined"),
            ).first()
            bronze_rows, quarantined = int(counts["bronze_rows"]), int(counts["quarantined"] or 0)
            invalid_df = checked_df.where(F.size("reasons") > 0)
            append_once(
                spec.to_quarantine(invalid_df).select(*QUARANTINE_SCHEMA.fieldNames()),
                quarantine_path,
                app_id=f"{spec.quarantine.key}:{spec.source}",
                batch_id=batch_id,
            )
            latest_df = spec.latest_per_key(
                spec.to_silver(checked_df.where(F.size("reasons") == 0))
            )
            inserted, updated = merge_into(
                spark, latest_df, silver_path, spec.silver_schema, spec.keys, spec.update_condition
            )
            metrics = {
                "bronze_rows": bronze_rows,
                "quarantined": quarantined,
                "silver_inserted": inserted,
                "silver_updated": updated,
                # every valid row that did not add a row: exact duplicates, re-exports that
                # replaced an older version, and rows older than the one already kept
                "duplicates_removed": bronze_rows - quarantined - inserted,
            }
            record_batch(
                spark,
                ledger_path,
                step=STEP_SILVER,
                source=spec.source,
                batch_id=batch_id,
                metrics=metrics,
            )
            report.add_batch(batch_id, metrics)
        finally:
            checked_df.unpersist()

    run_available_now(
        stream_delta_changes(spark, bronze_path),
        checkpoint=settings.checkpoint_path(*spec.silver),
        handler=merge_batch,
        name=f"silver_{spec.source}",
    )
    report.version = latest_version(spark, silver_path)
    return report
