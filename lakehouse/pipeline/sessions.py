"""The sessions steps: wiring of configuration, I/O and the pure transforms, layer by layer.

landing/sessions --(ingest)--> bronze/sessions --(silver)--> silver/sessions + quarantine/sessions
"""

from __future__ import annotations

import logging

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.bronze.sessions import to_bronze_sessions, with_ingestion_metadata
from lakehouse.config import Settings
from lakehouse.io.delta import append_once, ensure_table, latest_version
from lakehouse.io.landing import path_exists, stream_delta_changes, stream_whole_files
from lakehouse.io.ledger import record_batch
from lakehouse.io.streams import run_available_now
from lakehouse.pipeline.report import StepReport
from lakehouse.privacy import resolve_key
from lakehouse.silver.schemas import QUARANTINE_SCHEMA, SILVER_SESSIONS_SCHEMA
from lakehouse.silver.sessions import (
    SessionRules,
    filter_invalid,
    filter_latest_export,
    filter_valid,
    to_quarantine_rows,
    to_silver_sessions,
    with_quarantine_reasons,
)
from lakehouse.tables import BATCH_LEDGER, BRONZE_SESSIONS, QUARANTINE_SESSIONS, SILVER_SESSIONS

log = logging.getLogger(__name__)

SOURCE = "sessions"
STEP_BRONZE, STEP_SILVER = "bronze", "silver"

# A re-export replaces the Silver row only when it is newer and says something different.
_NEWER_AND_CHANGED = "s._export_order > t._export_order AND s.record_hash <> t.record_hash"


def ingest_sessions(spark: SparkSession, settings: Settings) -> StepReport:
    """Landing session exports -> ``bronze/sessions``, each file exactly once."""
    landing = settings.landing_path(SOURCE)
    bronze_path = settings.table_path(*BRONZE_SESSIONS)
    ledger_path = settings.table_path(*BATCH_LEDGER)
    report = StepReport(STEP_BRONZE, SOURCE, BRONZE_SESSIONS.key)
    if not path_exists(spark, landing):
        log.warning("no landing folder %s: nothing to ingest", landing)
        return report

    def write_batch(batch_df: DataFrame, batch_id: int) -> None:
        bronze_df = with_ingestion_metadata(batch_df, batch_id).persist()
        try:
            counts = bronze_df.agg(
                F.count(F.lit(1)).alias("records_read"),
                F.count_distinct("_source_file").alias("files_read"),
                F.sum(F.col("is_malformed").cast("long")).alias("malformed"),
            ).first()
            append_once(bronze_df, bronze_path, app_id=BRONZE_SESSIONS.key, batch_id=batch_id)
            metrics = {k: int(counts[k] or 0) for k in ("records_read", "files_read", "malformed")}
            metrics["bronze_rows"] = metrics["records_read"]
            record_batch(
                spark,
                ledger_path,
                step=STEP_BRONZE,
                source=SOURCE,
                batch_id=batch_id,
                metrics=metrics,
            )
            report.add_batch(batch_id, metrics)
        finally:
            bronze_df.unpersist()

    files_df = stream_whole_files(spark, landing, settings.ingest)
    run_available_now(
        files_df.transform(to_bronze_sessions),
        checkpoint=settings.checkpoint_path(*BRONZE_SESSIONS),
        handler=write_batch,
        name="bronze_sessions",
    )
    report.version = latest_version(spark, bronze_path)
    return report


def _merge_latest(spark: SparkSession, latest_df: DataFrame, silver_path: str) -> tuple[int, int]:
    """Merge the batch's newest exports into Silver; returns (inserted, updated)."""
    table = ensure_table(spark, silver_path, spark.createDataFrame([], SILVER_SESSIONS_SCHEMA))
    before = latest_version(spark, silver_path)
    (
        table.alias("t")
        .merge(latest_df.alias("s"), "t.record_id = s.record_id")
        .whenMatchedUpdateAll(condition=_NEWER_AND_CHANGED)
        .whenNotMatchedInsertAll()
        .execute()
    )
    if latest_version(spark, silver_path) == before:
        return 0, 0
    metrics = DeltaTable.forPath(spark, silver_path).history(1).first()["operationMetrics"]
    return int(metrics.get("numTargetRowsInserted", 0)), int(metrics.get("numTargetRowsUpdated", 0))


def build_silver_sessions(spark: SparkSession, settings: Settings) -> StepReport:
    """New Bronze rows -> merged into ``silver/sessions``; invalid rows -> quarantine."""
    bronze_path = settings.table_path(*BRONZE_SESSIONS)
    silver_path = settings.table_path(*SILVER_SESSIONS)
    quarantine_path = settings.table_path(*QUARANTINE_SESSIONS)
    ledger_path = settings.table_path(*BATCH_LEDGER)
    report = StepReport(STEP_SILVER, SOURCE, SILVER_SESSIONS.key)
    if latest_version(spark, bronze_path) is None:
        log.warning("no %s table yet: run ingest first", BRONZE_SESSIONS.key)
        return report
    rules = SessionRules(
        epoch_seconds_below=settings.sessions.epoch_seconds_below,
        min_event_ts=settings.sessions.min_event_ts,
        max_event_ts=settings.sessions.max_event_ts,
    )
    hmac_key = resolve_key(settings.privacy)
    ensure_table(spark, quarantine_path, spark.createDataFrame([], QUARANTINE_SCHEMA))

    def merge_batch(batch_df: DataFrame, batch_id: int) -> None:
        checked_df = with_quarantine_reasons(batch_df, rules).persist()
        try:
            counts = checked_df.agg(
                F.count(F.lit(1)).alias("bronze_rows"),
                F.sum((F.size("reasons") > 0).cast("long")).alias("quarantined"),
            ).first()
            bronze_rows, quarantined = int(counts["bronze_rows"]), int(counts["quarantined"] or 0)
            append_once(
                to_quarantine_rows(filter_invalid(checked_df)),
                quarantine_path,
                app_id=QUARANTINE_SESSIONS.key,
                batch_id=batch_id,
            )
            latest_df = (
                filter_valid(checked_df)
                .transform(to_silver_sessions, hmac_key, rules.epoch_seconds_below)
                .transform(filter_latest_export)
            )
            inserted, updated = _merge_latest(spark, latest_df, silver_path)
            metrics = {
                "bronze_rows": bronze_rows,
                "quarantined": quarantined,
                "silver_inserted": inserted,
                "silver_updated": updated,
                # every valid row that did not add a record: exact duplicates, re-exports that
                # replaced an older version, and exports older than the one already kept
                "duplicates_removed": bronze_rows - quarantined - inserted,
            }
            record_batch(
                spark,
                ledger_path,
                step=STEP_SILVER,
                source=SOURCE,
                batch_id=batch_id,
                metrics=metrics,
            )
            report.add_batch(batch_id, metrics)
        finally:
            checked_df.unpersist()

    run_available_now(
        stream_delta_changes(spark, bronze_path),
        checkpoint=settings.checkpoint_path(*SILVER_SESSIONS),
        handler=merge_batch,
        name="silver_sessions",
    )
    report.version = latest_version(spark, silver_path)
    return report
