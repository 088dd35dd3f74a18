"""The two step shapes every source is built from, each a spec and one function that runs it.

- ``SilverSpec`` / ``run_silver``, Bronze -> Silver, incremental: new Bronze rows stream in
  (availableNow, checkpointed). Each micro-batch is validated: rows with a reason go to
  quarantine (exactly once per batch), the rest are typed, reduced to one row per key, and
  MERGEd into Silver. The batch ledger records the conservation figures:
  bronze_rows = silver_inserted + quarantined + duplicates_removed.
- ``GoldSpec`` / ``run_gold``, tables derived from other tables (Gold, and Silver's history
  tables): every input is read at one pinned version, the build is MERGEd into the target by
  content, and the commit records the input versions, so a model trained on it can name them.
  When no input moved (maintenance commits do not count) and the recorded settings are the
  same, the step does nothing, so a rerun on unchanged input makes no new version.
  A spec with an ``increment`` is built incrementally when it can be: its inputs record their
  row changes (Delta's change data feed), the increment rebuilds only the rows those changes
  can reach, and one MERGE publishes them. Whatever the increment cannot vouch for (no
  change data for the range, a reference table that moved, a target rewritten outside a
  build, changed settings) gets a full build, which is always correct.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse.config import Settings
from lakehouse.errors import first_line
from lakehouse.io.delta import (
    SOURCE_VERSIONS_KEY,
    append_once,
    ensure_change_feed,
    ensure_table,
    has_new_data,
    last_build,
    last_commit_metadata,
    latest_version,
    merge_into,
    merge_partial,
    merge_with_sources,
    read_changes,
    read_table,
    sources_changed,
)
from lakehouse.io.landing import stream_delta_changes
from lakehouse.io.ledger import record_batch
from lakehouse.io.streams import run_available_now
from lakehouse.pipeline.report import StepReport
from lakehouse.quality.audit import BatchCheck, audit_build, record_audit
from lakehouse.quality.gold import GOLD_SUITES
from lakehouse.quality.layers import SILVER_SUITES
from lakehouse.silver.schemas import QUARANTINE_SCHEMA, ROW_WARNINGS_SCHEMA
from lakehouse.tables import BATCH_LEDGER, ROW_WARNINGS, Table

log = logging.getLogger(__name__)

STEP_SILVER = "silver"
STEP_GOLD = "gold"
Transform = Callable[[DataFrame], DataFrame]
# A derived table's build: input DataFrames by table key (None for an optional input that has
# no table yet) -> the table's rows.
Build = Callable[[Mapping[str, DataFrame | None]], DataFrame]
# Gold's commit metadata: how the published version was built
BUILD_KEY = "build"
FULL = "full"
INCREMENTAL = "incremental"


@dataclass(frozen=True)
class Changes:
    """What a derived table's inputs changed since its last build.

    Attributes:
        rows: Input key -> its change feed over the versions after the recorded one (every
            inserted and deleted row, both images of an update), for each input whose rows
            changed; an input missing here changed no row.
        previous: The last build's commit metadata (source versions, settings, label cutoff).
        target: The table as that build (and any erasure since) left it.
    """

    rows: Mapping[str, DataFrame]
    previous: Mapping[str, Any]
    target: DataFrame


@dataclass(frozen=True)
class Partial:
    """An incremental build: the rows that changes can reach, rebuilt.

    Attributes:
        rows: The rebuilt rows, exactly as a full build would make them.
        scope: Keys of every row the rebuild answers for (those of ``rows`` among them): a
            table row with such a key that ``rows`` lacks is deleted, every other row is kept.
    """

    rows: DataFrame
    scope: DataFrame


# (input frames at the pinned versions, their changes) -> the partial build, or None when only
# a full build is right (e.g. a reference table moved)
Increment = Callable[[Mapping[str, DataFrame | None], Changes], Partial | None]


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
        to_warnings: ``audit/row_warnings`` rows (``ROW_WARNINGS_SCHEMA``) from kept rows whose
            ``warnings`` column (added by ``with_reasons``) is not empty; None when the source
            has no warning checks.
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
    to_warnings: Transform | None = None


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
    warnings_path = settings.table_path(*ROW_WARNINGS)
    if spec.to_warnings is not None:
        ensure_table(spark, warnings_path, spark.createDataFrame([], ROW_WARNINGS_SCHEMA))

    def merge_batch(batch_df: DataFrame, batch_id: int) -> None:
        checked_df = spec.with_reasons(batch_df)
        is_invalid = F.size("reasons") > 0
        checked_df = checked_df.select(
            *[
                F.when(is_invalid, F.col(c)).alias(c) if c in spec.quarantine_only else F.col(c)
                for c in checked_df.columns
            ]
        ).persist()
        warns = spec.to_warnings is not None
        is_warned = (F.size("reasons") == 0) & (F.size("warnings") > 0) if warns else F.lit(False)
        try:
            counts = checked_df.agg(
                F.count(F.lit(1)).alias("bronze_rows"),
                F.sum((F.size("reasons") > 0).cast("long")).alias("quarantined"),
                F.sum(is_warned.cast("long")).alias("warned"),
            ).first()
            bronze_rows, quarantined = int(counts["bronze_rows"]), int(counts["quarantined"] or 0)
            if bronze_rows == 0:
                # a Bronze commit without rows (the catalog's comments and properties):
                # nothing to merge, so no commit downstream, and nothing to rebuild from it
                return
            invalid_df = checked_df.where(F.size("reasons") > 0)
            append_once(
                spec.to_quarantine(invalid_df).select(*QUARANTINE_SCHEMA.fieldNames()),
                quarantine_path,
                app_id=f"{spec.quarantine.key}:{spec.source}",
                batch_id=batch_id,
            )
            warned = int(counts["warned"] or 0)
            if warned:
                append_once(
                    spec.to_warnings(checked_df.where(is_warned)).select(
                        *ROW_WARNINGS_SCHEMA.fieldNames()
                    ),
                    warnings_path,
                    app_id=f"{ROW_WARNINGS.key}:{spec.source}",
                    batch_id=batch_id,
                )
            latest_df = spec.latest_per_key(
                spec.to_silver(checked_df.where(F.size("reasons") == 0))
            )
            suite = SILVER_SUITES.get(spec.silver) if settings.quality.suites else None
            if suite is not None:  # checked and merged from one computation of the rows
                latest_df = latest_df.persist(StorageLevel.MEMORY_AND_DISK)
            try:
                # validated on a thread of its own while the MERGE runs
                columns = spec.silver_schema.fieldNames()
                with BatchCheck(
                    spark, settings, report, suite, latest_df, columns, batch_id=batch_id
                ) as check:
                    inserted, updated = merge_into(
                        spark,
                        latest_df,
                        silver_path,
                        spec.silver_schema,
                        spec.keys,
                        spec.update_condition,
                        txn=(f"{spec.silver.key}:{spec.source}", batch_id),
                    )
                    check.finish(lambda: latest_version(spark, silver_path))
            finally:
                latest_df.unpersist()
            metrics = {
                "bronze_rows": bronze_rows,
                "quarantined": quarantined,
                "silver_inserted": inserted,
                "silver_updated": updated,
                # every valid row that did not add a row: exact duplicates, re-exports that
                # replaced an older version, and rows older than the one already kept
                "duplicates_removed": bronze_rows - quarantined - inserted,
            }
            if warns:
                metrics["warned"] = warned
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


@dataclass(frozen=True)
class GoldSpec:
    """How one table is (re)built from pinned versions of other tables.

    Attributes:
        step: The layer it belongs to, as reports name it (``gold``, or ``silver`` for the
            Silver history tables derived from a Silver feed).
        source: Name in reports and on the command line.
        target: The table built.
        inputs: Tables read, each at one version that the commit records.
        build: Input frames by ``Table.key`` -> the target's rows (a pure transform).
        keys: Row identity for the MERGE; rows whose ``row_hash`` is unchanged are left alone,
            rows no longer built are deleted.
        required: Inputs without which nothing is built (default: every input); an optional
            input that has no table yet reaches ``build`` as None.
        recorded: Settings the build depends on, recorded in the commit: a change rebuilds
            even when no input moved.
        extra_metadata: More commit metadata, recorded but not compared (e.g. the time the
            labels were cut off).
        increment: Rebuilds only what the inputs' changes can reach (None: always a full
            build). Its result must equal the full build's rows in its scope: the tests of each
            increment compare the two on every kind of change.
    """

    step: str
    source: str
    target: Table
    inputs: tuple[Table, ...]
    build: Build
    keys: tuple[str, ...]
    required: tuple[Table, ...] | None = None
    recorded: Mapping[str, Any] = field(default_factory=dict)
    extra_metadata: Mapping[str, Any] = field(default_factory=dict)
    increment: Increment | None = None


def run_gold(spark: SparkSession, settings: Settings, spec: GoldSpec) -> StepReport:
    """(Re)build ``spec.target`` when an input moved or a recorded setting changed."""
    target = settings.table_path(*spec.target)
    report = StepReport(spec.step, spec.source, spec.target.key)
    paths = {t.key: settings.table_path(*t) for t in spec.inputs}
    versions = {key: latest_version(spark, path) for key, path in paths.items()}
    required = spec.inputs if spec.required is None else spec.required
    missing = [t.key for t in required if versions[t.key] is None]
    if missing:
        report.skipped_reason = f"source table(s) not built yet: {', '.join(missing)}"
        report.version = latest_version(spark, target)
        return report
    incremental = spec.increment is not None and settings.gold.incremental
    recorded = last_commit_metadata(spark, target)
    unchanged = all(recorded.get(k) == v for k, v in spec.recorded.items())
    if unchanged and not sources_changed(spark, recorded.get(SOURCE_VERSIONS_KEY, {}), paths):
        report.version = latest_version(spark, target)
        return report
    frames = {
        key: None if version is None else read_table(spark, paths[key], version=version)
        for key, version in versions.items()
    }
    before = latest_version(spark, target)
    changes = None
    if incremental and unchanged and before is not None:
        changes = _changes(spark, spec, paths, versions, target, before)
    partial = None if changes is None else spec.increment(frames, changes)
    if changes is not None and partial is None:
        log.info("%s: full build: the increment needs one", spec.target.key)
    if incremental and changes is None:
        # a full build: from it on the inputs record what each commit changes (a commit of
        # their properties, which changes no row: the frames read are still this build's)
        for key, path in paths.items():
            if versions[key] is not None and ensure_change_feed(spark, path):
                versions[key] = latest_version(spark, path)
    keys = list(spec.keys)
    if partial is None:
        rows, scope, candidate = spec.build(frames), None, None
    else:
        rows = partial.rows.persist(StorageLevel.MEMORY_AND_DISK)
        # merge_partial takes the distinct keys; the anti-join below needs none
        scope = partial.scope.select(*keys).persist(StorageLevel.MEMORY_AND_DISK)
        # the table as it will be: what the suite checks
        candidate = changes.target.join(scope, on=keys, how="left_anti").unionByName(rows)
    extra = {**spec.extra_metadata, BUILD_KEY: FULL if scope is None else INCREMENTAL}

    def publish() -> None:
        if scope is None:
            _publish(spark, spec, rows, target, versions, extra)
        else:
            merge_partial(
                spark,
                rows,
                scope,
                target,
                keys=keys,
                source_versions=versions,
                change_column="row_hash",
                extra_metadata={**spec.recorded, **extra},
            )

    suite = GOLD_SUITES.get(spec.target) if settings.quality.suites else None
    audit, blocked, rebuilt = None, False, None
    try:
        if suite is not None:
            # write, audit, publish: the build is checked before it becomes a version
            if scope is None:
                rows = candidate = rows.persist(StorageLevel.MEMORY_AND_DISK)
            else:  # the published rows and the rebuilt ones, read once for every check
                candidate = candidate.persist(StorageLevel.MEMORY_AND_DISK)
            audit = _audit(spark, settings, suite, report, candidate, rows, before)
            blocked = not audit.passed and settings.quality.fail_on_error
        if not blocked:
            publish()
        if scope is not None:
            rebuilt = rows.count()
    finally:
        for frame in (rows, scope, candidate, *(changes.rows.values() if changes else ())):
            if frame is not None:
                frame.unpersist()
    if audit is not None:
        version = latest_version(spark, target)
        record_audit(
            spark, settings, audit, version=None if blocked else version, published=not blocked
        )
    if blocked:
        report.metrics["unpublished"] += 1
        log.warning(
            "%s: build not published, %d check(s) failed: %s",
            spec.target.key,
            len(audit.failures),
            "; ".join(report.quality_failures),
            extra={"table": spec.target.key, "failed_checks": report.quality_failures},
        )
    report.version = latest_version(spark, target)
    if report.version != before:
        total = read_table(spark, target).count()
        rebuilt = total if rebuilt is None else rebuilt
        report.add_batch(report.version, {"rows": total, "rebuilt_rows": rebuilt})
    return report


def _audit(
    spark: SparkSession,
    settings: Settings,
    suite,
    report: StepReport,
    candidate: DataFrame,
    rows: DataFrame,
    before: int | None,
):
    """Check the table a build would publish (``candidate``; ``rows``: what it rebuilt)."""
    started = time.monotonic()
    audit = audit_build(spark, settings, suite, candidate, before, changed=rows)
    seconds = time.monotonic() - started
    log.info(
        "%s: %d check(s), %d failed, in %.1f s",
        suite.table.key,
        len(audit.outcomes),
        len(audit.failures) + len(audit.warnings),
        seconds,
        extra={"table": suite.table.key, "seconds": seconds},
    )
    report.note_audit(audit)
    return audit


def _changes(
    spark: SparkSession,
    spec: GoldSpec,
    paths: Mapping[str, str],
    versions: Mapping[str, int | None],
    target: str,
    before: int,
) -> Changes | None:
    """What the inputs changed since the target's last build; None when only a full build is
    right, with the reason logged."""

    def full(reason: str) -> None:
        log.info("%s: full build: %s", spec.target.key, reason)

    previous = last_build(spark, target)
    if previous is None:
        return full("the table's rows were last written by something other than a build")
    recorded = previous[SOURCE_VERSIONS_KEY]
    if set(recorded) != set(versions) or any(
        (recorded[k] is None) != (v is None) or (v is not None and v < recorded[k])
        for k, v in versions.items()
    ):
        return full("its inputs are not the tables the last build read")
    feeds: dict[str, DataFrame] = {}
    try:
        for key, version in versions.items():
            if version is not None and has_new_data(spark, paths[key], recorded[key]):
                feed = read_changes(spark, paths[key], recorded[key], version)
                feeds[key] = feed.persist(StorageLevel.MEMORY_AND_DISK)
                feed.count()  # fails when the table did not record changes for the range
    except Exception as exc:  # a full build is always right: say why, and do it
        for feed in feeds.values():
            feed.unpersist()
        return full(f"no change data for its inputs' new versions ({first_line(exc)})")
    return Changes(feeds, previous, read_table(spark, target, version=before))


def _publish(
    spark, spec: GoldSpec, built: DataFrame, target: str, versions, extra: Mapping[str, Any]
) -> None:
    merge_with_sources(
        spark,
        built,
        target,
        keys=list(spec.keys),
        source_versions=versions,
        change_column="row_hash",
        extra_metadata={**spec.recorded, **extra},
    )
