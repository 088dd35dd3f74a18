"""Gold step: silver/sessions + reference -> gold/delivery_features.

The build reads every source at one pinned version and records those versions in its commit,
so a model trained on Gold can name the Silver versions behind it. When no source moved since
the last build, the step does nothing, so a rerun on unchanged input makes no new version.
"""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.gold.delivery import to_delivery_features
from lakehouse.io.delta import (
    latest_version,
    merge_with_sources,
    read_table,
    recorded_source_versions,
    sources_changed,
)
from lakehouse.pipeline.report import StepReport
from lakehouse.tables import (
    GOLD_DELIVERY_FEATURES,
    SILVER_HOLIDAYS,
    SILVER_SESSIONS,
    SILVER_WAREHOUSES,
    SILVER_ZIP_CODES,
)

log = logging.getLogger(__name__)

SOURCES = (SILVER_SESSIONS, SILVER_ZIP_CODES, SILVER_WAREHOUSES, SILVER_HOLIDAYS)


def build_delivery_features(spark: SparkSession, settings: Settings) -> StepReport:
    """(Re)build ``gold/delivery_features`` when any of its sources changed."""
    target = settings.table_path(*GOLD_DELIVERY_FEATURES)
    report = StepReport("gold", "sessions", GOLD_DELIVERY_FEATURES.key)
    versions = {t.key: latest_version(spark, settings.table_path(*t)) for t in SOURCES}
    missing = [key for key, version in versions.items() if version is None]
    if missing:
        report.skipped_reason = f"source table(s) not built yet: {', '.join(missing)}"
        report.version = latest_version(spark, target)
        return report
    paths = {t.key: settings.table_path(*t) for t in SOURCES}
    if not sources_changed(spark, recorded_source_versions(spark, target), paths):
        report.version = latest_version(spark, target)
        return report
    frames = {
        t.key: read_table(spark, settings.table_path(*t), version=versions[t.key]) for t in SOURCES
    }
    features_df = to_delivery_features(
        frames[SILVER_SESSIONS.key],
        frames[SILVER_ZIP_CODES.key],
        frames[SILVER_WAREHOUSES.key],
        frames[SILVER_HOLIDAYS.key],
        holiday_window_days=settings.sessions.holiday_window_days,
    )
    before = latest_version(spark, target)
    merge_with_sources(
        spark,
        features_df,
        target,
        keys=["record_id"],
        source_versions=versions,
        change_column="row_hash",
    )
    report.version = latest_version(spark, target)
    if report.version != before:
        report.add_batch(report.version, {"rows": read_table(spark, target).count()})
    return report
