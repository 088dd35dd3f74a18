"""Write, audit, publish: a Gold build is checked before it becomes a version, and the results
of every check go to ``audit/expectations``.

``audit/expectations`` holds one row per check per validation: which table and suite, the
published version the build was compared with, the version it became (null when it was not
published), and the check's result. Training reads it to refuse a Gold version that was
published with a failed ``fail`` check (``quality.fail_on_error: false`` publishes anyway).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from lakehouse.config import Settings
from lakehouse.errors import DataQualityError
from lakehouse.io.delta import append_once, is_delta_table, read_table
from lakehouse.quality.expectations import Outcome, run_checks
from lakehouse.quality.gold import GoldSuite, baseline, build_checks
from lakehouse.tables import EXPECTATIONS, Table

log = logging.getLogger(__name__)

EXPECTATIONS_SCHEMA = StructType(
    [
        StructField("validation_id", StringType(), False),
        StructField("table", StringType(), False),
        StructField("suite", StringType(), False),
        StructField("compared_with_version", LongType()),
        StructField("table_version", LongType()),
        StructField("published", BooleanType(), False),
        StructField("check", StringType(), False),
        StructField("expectation_type", StringType(), False),
        StructField("column", StringType()),
        StructField("kwargs", StringType()),
        StructField("severity", StringType(), False),
        StructField("rows", StringType(), False),
        StructField("success", BooleanType(), False),
        StructField("observed_value", StringType()),
        StructField("element_count", LongType()),
        StructField("unexpected_count", LongType()),
        StructField("unexpected_percent", DoubleType()),
        StructField("exception", StringType()),
    ]
)


@dataclass
class Audit:
    """A build's validation: its outcomes, and whether its ``fail`` checks passed."""

    validation_id: str
    table: Table
    suite: str
    compared_with_version: int | None
    outcomes: list[Outcome]

    @property
    def failures(self) -> list[Outcome]:
        """The failed ``fail``-severity checks."""
        return [o for o in self.outcomes if o.failed_critical]

    @property
    def warnings(self) -> list[Outcome]:
        """The failed ``warn``-severity checks."""
        return [o for o in self.outcomes if not o.success and not o.failed_critical]

    @property
    def passed(self) -> bool:
        return not self.failures


def audit_build(
    spark: SparkSession,
    settings: Settings,
    suite: GoldSuite,
    built: DataFrame,
    published_version: int | None,
) -> Audit:
    """Validate a Gold build (already persisted by the caller) against its suite and the
    published version."""
    base, new_rows, new_df = None, 0, None
    if published_version is not None:
        published = read_table(spark, settings.table_path(*suite.table), version=published_version)
        base = baseline(published, suite, published_version)
        new_df = built.join(
            published.select(suite.key, "row_hash"), on=[suite.key, "row_hash"], how="left_anti"
        ).persist(StorageLevel.MEMORY_AND_DISK)
        new_rows = new_df.count()
    try:
        whole, new = build_checks(suite, settings, base, new_rows)
        outcomes = run_checks(built, whole, suite.name)
        if new:
            outcomes += run_checks(new_df, new, f"{suite.name}_new_rows")
    finally:
        if new_df is not None:
            new_df.unpersist()
    return Audit(uuid.uuid4().hex, suite.table, suite.name, published_version, outcomes)


def record_audit(
    spark: SparkSession, settings: Settings, audit: Audit, *, version: int | None, published: bool
) -> None:
    """Append the audit's outcomes to ``audit/expectations``."""
    if not audit.outcomes:
        return
    rows = [
        (
            audit.validation_id,
            audit.table.key,
            audit.suite,
            audit.compared_with_version,
            version,
            published,
            o.name,
            o.expectation_type,
            o.column,
            o.kwargs,
            o.severity,
            o.rows,
            o.success,
            o.observed_value,
            o.element_count,
            o.unexpected_count,
            o.unexpected_percent,
            o.exception,
        )
        for o in audit.outcomes
    ]
    df = spark.createDataFrame(rows, EXPECTATIONS_SCHEMA).withColumn(
        "validated_at", F.current_timestamp()
    )
    # a unique, growing id per append: Delta's idempotent-write check never skips one
    append_once(
        df,
        settings.table_path(*EXPECTATIONS),
        app_id=f"expectations:{audit.table.key}",
        batch_id=time.time_ns() // 1000,
    )


def read_expectations(spark: SparkSession, settings: Settings) -> DataFrame | None:
    """``audit/expectations``, or None when nothing was ever validated."""
    path = settings.table_path(*EXPECTATIONS)
    return read_table(spark, path) if is_delta_table(spark, path) else None


def failed_checks(spark: SparkSession, settings: Settings, table: Table, version: int) -> list[str]:
    """The ``fail`` checks that failed on the build published as ``table`` at ``version``."""
    df = read_expectations(spark, settings)
    if df is None:
        return []
    rows = (
        df.where(
            (F.col("table") == table.key)
            & (F.col("table_version") == version)
            & F.col("published")
            & (F.col("severity") == "fail")
            & ~F.col("success")
        )
        .select("check")
        .distinct()
        .collect()
    )
    return sorted(r["check"] for r in rows)


def require_passed(spark: SparkSession, settings: Settings, table: Table, version: int) -> None:
    """Raise ``DataQualityError`` when ``table`` at ``version`` was published with failed
    ``fail`` checks (training refuses such a version)."""
    failed = failed_checks(spark, settings, table, version)
    if failed:
        raise DataQualityError(
            f"{table.key} version {version} failed its expectation suite "
            f"({', '.join(failed)}): it was published only because quality.fail_on_error is "
            "false. Train on an earlier version (--version) or fix the data and rebuild; "
            f"`lakehouse report` lists the results ({EXPECTATIONS.key})."
        )
