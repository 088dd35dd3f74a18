"""Reference data step: landing/reference/*.csv -> silver/<name>, rewritten only on change.

Reference files are small full snapshots replaced in place, so they are re-read every run and
the table is overwritten only when the typed content differs from what it holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from lakehouse.config import Settings
from lakehouse.io.delta import (
    append_once,
    ensure_table,
    last_commit_metadata,
    latest_version,
    overwrite_with_sources,
)
from lakehouse.io.landing import path_exists, read_csv_by_header
from lakehouse.pipeline.report import StepReport
from lakehouse.silver.reference import REFERENCE_SPECS, with_duplicate_key_reason
from lakehouse.silver.schemas import QUARANTINE_SCHEMA
from lakehouse.tables import QUARANTINE_REFERENCE, Table

log = logging.getLogger(__name__)

REFERENCE_FOLDER = "reference"
QUARANTINE_REFERENCE_SCHEMA = StructType(
    [*QUARANTINE_SCHEMA.fields, StructField("reference_table", StringType())]
)
CONTENT_HASH_KEY = "content_hash"


def _content_hash(rows: list) -> str:
    lines = sorted(json.dumps(r.asDict(), default=str, sort_keys=True) for r in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def load_reference_table(spark: SparkSession, settings: Settings, name: str) -> StepReport:
    """Load one reference CSV into ``silver/<name>`` when its content changed."""
    transform, schema, keys = REFERENCE_SPECS[name]
    table = Table("silver", name)
    report = StepReport("silver", name, table.key)
    csv_path = settings.landing_path(REFERENCE_FOLDER, f"{name}.csv")
    target = settings.table_path(*table)
    if not path_exists(spark, csv_path):
        report.skipped_reason = f"no {csv_path}"
        report.version = latest_version(spark, target)
        return report
    raw_df = read_csv_by_header(spark, csv_path, [f.name for f in schema.fields])
    checked_df = with_duplicate_key_reason(transform(raw_df), keys).persist()
    try:
        # Reference tables are small: one collect gives both the hash and the rows.
        valid_rows = checked_df.where(F.size("reasons") == 0).select(*schema.fieldNames()).collect()
        digest = _content_hash(valid_rows)
        if last_commit_metadata(spark, target).get(CONTENT_HASH_KEY) == digest:
            report.version = latest_version(spark, target)
            return report
        invalid_df = checked_df.where(F.size("reasons") > 0).select(
            F.col("reasons")[0].alias("reason"),
            "reasons",
            F.lit(None).cast("string").alias("record_id"),
            F.col("_raw").alias("raw_record"),
            F.col("_source_file").alias("source_file"),
            F.col("_record_index").alias("record_index"),
            F.lit(None).cast("timestamp").alias("source_modified_at"),
            F.lit(None).cast("long").alias("bronze_batch_id"),
            F.current_timestamp().alias("quarantined_at"),
        )
        invalid_df = invalid_df.withColumn("reference_table", F.lit(name)).select(
            *QUARANTINE_REFERENCE_SCHEMA.fieldNames()
        )
        quarantined = invalid_df.count()
        if quarantined:
            # Each content version is quarantined once, however often it is re-read.
            append_once(
                invalid_df,
                settings.table_path(*QUARANTINE_REFERENCE),
                app_id=f"{QUARANTINE_REFERENCE.key}:{name}:{digest}",
                batch_id=0,
            )
        typed_df = spark.createDataFrame(valid_rows, schema)
        overwrite_with_sources(typed_df, target, {}, {CONTENT_HASH_KEY: digest})
        report.add_batch(0, {"rows": len(valid_rows), "quarantined": quarantined})
    finally:
        checked_df.unpersist()
    report.version = latest_version(spark, target)
    return report


def load_reference_data(spark: SparkSession, settings: Settings) -> list[StepReport]:
    """Every reference table, loaded side by side (each is a few small jobs, mostly waiting)."""
    # The tables share the quarantine table: create it first, so that no two loads race to.
    csvs = [settings.landing_path(REFERENCE_FOLDER, f"{name}.csv") for name in REFERENCE_SPECS]
    if any(path_exists(spark, csv) for csv in csvs):
        ensure_table(
            spark,
            settings.table_path(*QUARANTINE_REFERENCE),
            spark.createDataFrame([], QUARANTINE_REFERENCE_SCHEMA),
        )
    with ThreadPoolExecutor(max_workers=len(REFERENCE_SPECS), thread_name_prefix="ref") as pool:
        futures = [
            pool.submit(load_reference_table, spark, settings, name) for name in REFERENCE_SPECS
        ]
    return [future.result() for future in futures]
