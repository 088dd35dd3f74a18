"""The sessions steps: wiring of configuration, I/O and the pure transforms, layer by layer.

landing/sessions --(ingest)--> bronze/sessions --(silver)--> silver/sessions + quarantine/sessions
silver/sessions + silver/{zip_codes,warehouses,holidays} --(gold)--> gold/delivery_features
"""

from __future__ import annotations

import logging
from functools import partial

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from lakehouse.bronze.encryption import encrypt_raw, reveal_raw
from lakehouse.bronze.schemas import BRONZE_SESSIONS_SCHEMA
from lakehouse.bronze.sessions import to_bronze_sessions, with_ingestion_metadata
from lakehouse.config import Settings
from lakehouse.gold.delivery import to_delivery_features
from lakehouse.io.delta import append_once, is_delta_table, latest_version, read_table
from lakehouse.io.landing import KIND_TEXT, path_exists, read_whole_texts, stream_new_file_paths
from lakehouse.io.ledger import record_batch
from lakehouse.io.streams import run_available_now
from lakehouse.pipeline.landed import read_checked_files, retry_lane, retry_replaced_files
from lakehouse.pipeline.report import StepReport
from lakehouse.pipeline.steps import (
    Changes,
    GoldSpec,
    Partial,
    SilverSpec,
    run_gold,
    run_silver,
)
from lakehouse.privacy import resolve_key
from lakehouse.quality.audit import BatchCheck
from lakehouse.quality.drift_audit import (
    RECORD_COLUMN,
    Batch,
    document_schemas,
    observe_session_batch,
    with_record_variant,
)
from lakehouse.quality.layers import BRONZE_SUITES
from lakehouse.silver.schemas import SILVER_SESSIONS_SCHEMA
from lakehouse.silver.sessions import (
    SessionRules,
    to_latest_silver_sessions,
    to_quarantine_rows,
    to_warning_rows,
    with_quarantine_reasons,
)
from lakehouse.tables import (
    BATCH_LEDGER,
    BRONZE_SESSIONS,
    GOLD_DELIVERY_FEATURES,
    QUARANTINE_SESSIONS,
    SILVER_HOLIDAYS,
    SILVER_SESSIONS,
    SILVER_WAREHOUSES,
    SILVER_ZIP_CODES,
)

log = logging.getLogger(__name__)

SOURCE = "sessions"
STEP_BRONZE = "bronze"

# A re-export replaces the Silver row only when it is newer and says something different.
_NEWER_AND_CHANGED = "s._export_order > t._export_order AND s.record_hash <> t.record_hash"


def ingest_sessions(spark: SparkSession, settings: Settings) -> StepReport:
    """Landing session exports -> ``bronze/sessions``, each file exactly once.

    Each file is first checked whole; one that cannot be read (a cut or corrupt gzip, bytes
    that are not UTF-8) is refused into ``audit/refused_files`` and the rest of the batch goes
    on, with the complete records before the damage kept; a refused file replaced by a new
    upload is read again.
    """
    landing = settings.landing_path(SOURCE)
    bronze_path = settings.table_path(*BRONZE_SESSIONS)
    ledger_path = settings.table_path(*BATCH_LEDGER)
    report = StepReport(STEP_BRONZE, SOURCE, BRONZE_SESSIONS.key)
    if not path_exists(spark, landing):
        log.warning("no landing folder %s: nothing to ingest", landing)
        return report
    key = resolve_key(settings)

    def write_batch(files_df: DataFrame, batch_id: int) -> None:
        lane = retry_lane(batch_id)
        landed = read_checked_files(spark, settings, SOURCE, files_df, KIND_TEXT)
        frames = []
        if landed.whole:
            frames.append(read_whole_texts(spark, landed.whole))
        frames += [
            read_whole_texts(spark, [salvage.uri]).select(
                "value",
                F.lit(salvage.file.path).alias("source_file"),
                F.lit(salvage.file.modified_at).cast("timestamp").alias("source_modified_at"),
                F.lit(salvage.file.reason).alias("file_error"),
            )
            for salvage in landed.salvaged
        ]
        drift = settings.quality.schema_drift and bool(frames)
        observed = None
        if frames:
            files = frames[0]
            for frame in frames[1:]:
                files = files.unionByName(frame, allowMissingColumns=True)
            rows = with_ingestion_metadata(files.transform(to_bronze_sessions), batch_id)
            if drift:
                # the shape of the batch's documents, gathered while the write runs (the parse
                # is the cost: reading the raw records back for it would double the I/O)
                observed = Observation(f"document_schemas:{batch_id}{lane}")
                rows = rows.transform(with_record_variant).observe(observed, *document_schemas())
                rows = rows.drop(RECORD_COLUMN)
            before = latest_version(spark, bronze_path)
            append_once(
                encrypt_raw(rows, SOURCE, key),
                bronze_path,
                app_id=BRONZE_SESSIONS.key + lane,
                batch_id=batch_id,
                merge_schema=True,
            )
            if latest_version(spark, bronze_path) == before:
                observed = None  # committed before a crash: nothing ran, nothing was observed
        # Count what landed from the table itself (a columnar scan of this batch's rows), so
        # the parse runs once and nothing wide is cached.
        metrics = {"records_read": 0, "malformed": 0}
        kept: dict[str, int] = {}
        if is_delta_table(spark, bronze_path):  # not yet when every file so far was refused
            batch_rows = read_table(spark, bronze_path).where(F.col("_batch_id") == batch_id)
            counts = batch_rows.agg(
                F.count(F.lit(1)).alias("records_read"),
                F.sum(F.col("is_malformed").cast("long")).alias("malformed"),
            ).first()
            metrics = {k: int(counts[k] or 0) for k in metrics}
            # validated on a thread of its own beside the rest of the batch's work
            with BatchCheck(
                spark,
                settings,
                report,
                BRONZE_SUITES[BRONZE_SESSIONS] if frames else None,
                batch_rows,
                BRONZE_SESSIONS_SCHEMA.fieldNames(),
                batch_id=batch_id,
                lane=lane,
            ) as check:
                kept = landed.kept_per_file(batch_rows)
                if drift:
                    batch = Batch(batch_id, lane, len(landed.whole) + len(landed.salvaged))
                    if observed is not None:
                        schemas = observed.get
                    else:  # the batch's rows were written by a run that crashed before it
                        records = reveal_raw(batch_rows, SOURCE, key).transform(with_record_variant)
                        schemas = records.agg(*document_schemas()).first().asDict()
                    observe_session_batch(spark, settings, report, batch, schemas)
                check.finish(lambda: latest_version(spark, bronze_path))
        metrics["bronze_rows"] = metrics["records_read"]
        metrics.update(landed.record(spark, batch_id, kept))
        record_batch(
            spark,
            ledger_path,
            step=STEP_BRONZE,
            source=SOURCE,
            batch_id=batch_id,
            metrics=metrics,
            lane=lane,
        )
        report.add_batch(batch_id, metrics)

    run_available_now(
        stream_new_file_paths(spark, landing, settings.ingest),
        checkpoint=settings.checkpoint_path(*BRONZE_SESSIONS),
        handler=write_batch,
        name="bronze_sessions",
    )
    retry_replaced_files(spark, settings, SOURCE, landing, write_batch)
    report.version = latest_version(spark, bronze_path)
    return report


def build_silver_sessions(spark: SparkSession, settings: Settings) -> StepReport:
    """New Bronze rows -> merged into ``silver/sessions``; invalid rows -> quarantine."""
    return run_silver(spark, settings, silver_spec(settings))


def silver_spec(settings: Settings) -> SilverSpec:
    """How session records go from Bronze to Silver, under ``settings``' rules."""
    rules = SessionRules(
        epoch_seconds_below=settings.sessions.epoch_seconds_below,
        min_event_ts=settings.sessions.min_event_ts,
        max_event_ts=settings.sessions.max_event_ts,
    )
    hmac_key = resolve_key(settings)
    return SilverSpec(
        source=SOURCE,
        bronze=BRONZE_SESSIONS,
        silver=SILVER_SESSIONS,
        quarantine=QUARANTINE_SESSIONS,
        silver_schema=SILVER_SESSIONS_SCHEMA,
        with_reasons=lambda df: with_quarantine_reasons(df, rules),
        to_silver=lambda df: to_latest_silver_sessions(df, hmac_key, rules.epoch_seconds_below),
        # to_latest_silver_sessions already keeps the newest export of each record
        latest_per_key=lambda df: df,
        keys=("record_id",),
        update_condition=_NEWER_AND_CHANGED,
        to_quarantine=to_quarantine_rows,
        to_warnings=to_warning_rows,
    )


def build_delivery_features(spark: SparkSession, settings: Settings) -> StepReport:
    """(Re)build ``gold/delivery_features`` when any of its sources or its settings changed."""
    window_days = settings.sessions.holiday_window_days

    def build(frames) -> DataFrame:
        return to_delivery_features(
            frames[SILVER_SESSIONS.key],
            frames[SILVER_ZIP_CODES.key],
            frames[SILVER_WAREHOUSES.key],
            frames[SILVER_HOLIDAYS.key],
            holiday_window_days=window_days,
        )

    spec = GoldSpec(
        step="gold",
        source=SOURCE,
        target=GOLD_DELIVERY_FEATURES,
        inputs=(SILVER_SESSIONS, SILVER_ZIP_CODES, SILVER_WAREHOUSES, SILVER_HOLIDAYS),
        build=build,
        keys=("record_id",),
        recorded={"holiday_window_days": window_days},
        increment=partial(_delivery_increment, build),
    )
    return run_gold(spark, settings, spec)


def _delivery_increment(build, frames, changes: Changes) -> Partial | None:
    """The checkouts of every session that Silver rows changed in, rebuilt (a checkout's
    columns depend on its own row, its session's events and the reference data); a moved
    reference table changes any row, so it needs a full build."""
    if set(changes.rows) != {SILVER_SESSIONS.key}:
        return None
    feed = changes.rows[SILVER_SESSIONS.key]
    touched = feed.select(F.col("session_id").alias("_session")).distinct()

    def of_touched(df: DataFrame) -> DataFrame:
        return df.join(touched, F.col("session_id").eqNullSafe(F.col("_session")), "left_semi")

    rows = build({**frames, SILVER_SESSIONS.key: of_touched(frames[SILVER_SESSIONS.key])})
    scope = of_touched(changes.target).select("record_id").unionByName(rows.select("record_id"))
    return Partial(rows, scope)
