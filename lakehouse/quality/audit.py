"""Running the suites and recording their results in ``audit/expectations``.

- **Gold, write, audit, publish**: a build is checked before it becomes a version
  (``audit_build``); the step publishes it only when its ``fail`` checks pass.
- **Bronze and Silver**: each micro-batch is checked as a whole while it is written or
  merged (``BatchCheck``), and recorded after; the data goes on, a failed ``fail`` check
  fails the gate.

``audit/expectations`` holds one row per check per validation: which table and suite, the
micro-batch (Bronze, Silver), the published version a Gold build was compared with, the
version the table was at after it (null for a Gold build that was not published), the check's
result, and the validation's Data Docs page. Training reads it to refuse a Gold version that
was published with a failed ``fail`` check (``quality.fail_on_error: false`` publishes anyway).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
import uuid
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

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
from lakehouse.quality.data_docs import write_validation_pages
from lakehouse.quality.expectations import Outcome, Validation, run_checks
from lakehouse.quality.gold import GoldSuite, baseline, build_checks
from lakehouse.quality.layers import BatchSuite, validate_batch
from lakehouse.tables import EXPECTATIONS, Table

if TYPE_CHECKING:
    from lakehouse.pipeline.report import StepReport

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
        # added later (older lakes get them on their next append): Bronze/Silver micro-batch,
        # and the validation's Data Docs page (relative to <lake>/_data_docs)
        StructField("batch_id", LongType()),
        StructField("page", StringType()),
    ]
)


@dataclass
class Audit:
    """A build's or batch's validation: its outcomes, and whether its ``fail`` checks passed."""

    validation_id: str
    table: Table
    suite: str
    compared_with_version: int | None
    validations: list[Validation]
    batch_id: int | None = None  # a Bronze or Silver micro-batch

    @property
    def outcomes(self) -> list[Outcome]:
        return [o for v in self.validations for o in v.outcomes]

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
    *,
    changed: DataFrame | None = None,
) -> Audit:
    """Validate a Gold build against its suite and the published version.

    ``built`` is the table the build would publish; ``changed`` (default: ``built``) the rows
    it rebuilt, where its new rows are (an incremental build rebuilds few, and the rest of
    ``built`` is the published table). The caller persists what it rebuilt.
    """
    base, new_rows, new_df = None, 0, None
    if published_version is not None:
        published = read_table(spark, settings.table_path(*suite.table), version=published_version)
        base = baseline(published, suite, published_version)
        new_df = (
            (built if changed is None else changed)
            .join(
                published.select(suite.key, "row_hash"), on=[suite.key, "row_hash"], how="left_anti"
            )
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        new_rows = new_df.count()
    try:
        whole, new = build_checks(suite, settings, base, new_rows)
        validations = [run_checks(built, whole, suite.name)]
        if new:
            validations.append(run_checks(new_df, new, f"{suite.name}_new_rows"))
    finally:
        if new_df is not None:
            new_df.unpersist()
    validations = [v for v in validations if v is not None]
    return Audit(uuid.uuid4().hex, suite.table, suite.name, published_version, validations)


class BatchCheck:
    """One Bronze or Silver micro-batch (``df``: its rows) validated against ``suite``, the
    result recorded (exactly once per batch) and its failed checks added to ``report``;
    nothing when ``quality.suites`` is off. In two halves, so that the step's own work runs
    beside the validation.

    Made, it starts validating ``df`` on a thread of its own (GX's metrics are Spark jobs that
    share the executors with the step's; the driver's side of each, and of the step's commit,
    is mostly waiting). ``finish`` waits for it and records the result, with the table version
    the step's work left; ``wait`` only waits (when that work failed). ``df`` must stay
    persisted until one of them returns; used as a context manager, it waits on the way out.
    Nothing is recorded before ``finish``, so a batch replayed after a crash is validated and
    recorded as before, exactly once. A ``suite`` of None checks nothing.
    """

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        report: StepReport,
        suite: BatchSuite | None,
        df: DataFrame,
        columns: list[str],
        *,
        batch_id: int,
        lane: str = "",
    ) -> None:
        self._spark, self._settings, self._report, self._suite = spark, settings, report, suite
        self._batch_id, self._lane = batch_id, lane
        self._started = time.monotonic()
        self._future: Future | None = None
        if suite is not None and settings.quality.suites:
            run = contextvars.copy_context().run  # the job's context (its logs) goes along
            self._future = _validator().submit(
                run, validate_batch, spark, settings, suite, df, columns
            )

    def __enter__(self) -> BatchCheck:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wait()

    def wait(self) -> None:
        """Wait until the validation no longer reads ``df`` (its outcome is dropped)."""
        if self._future is not None:
            futures.wait([self._future])

    def finish(self, version: Callable[[], int | None]) -> Audit | None:
        """The validation's result, recorded with ``version()`` (the table's version after the
        batch, asked only when there is a result to record); None when the suites are off or
        the suite had no check. Raises what the validation raised."""
        if self._future is None:
            return None
        validations = self._future.result()
        if not validations:
            return None
        suite, batch_id = self._suite, self._batch_id
        audit = Audit(uuid.uuid4().hex, suite.table, suite.name, None, validations, batch_id)
        record_audit(
            self._spark, self._settings, audit, version=version(), published=True, lane=self._lane
        )
        self._report.note_audit(audit)
        seconds = time.monotonic() - self._started
        log.info(
            "%s batch %d: %d check(s), %d failed, in %.1f s",
            suite.table.key,
            batch_id,
            len(audit.outcomes),
            len(audit.failures) + len(audit.warnings),
            seconds,
            extra={"table": suite.table.key, "batch_id": batch_id, "seconds": round(seconds, 3)},
        )
        return audit


@functools.cache
def _validator() -> ThreadPoolExecutor:
    """The thread batch validations run on (one: GX validates one batch at a time)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="quality")


def record_audit(
    spark: SparkSession,
    settings: Settings,
    audit: Audit,
    *,
    version: int | None,
    published: bool,
    lane: str = "",
) -> None:
    """Append the audit's outcomes to ``audit/expectations`` (a micro-batch's exactly once),
    after rendering its Data Docs pages (``quality.data_docs``)."""
    if not audit.outcomes:
        return
    pages = _write_pages(spark, settings, audit)
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
            audit.batch_id,
            pages.get(v.suite),
        )
        for v in audit.validations
        for o in v.outcomes
    ]
    df = spark.createDataFrame(rows, EXPECTATIONS_SCHEMA).withColumn(
        "validated_at", F.current_timestamp()
    )
    app_id = f"expectations:{audit.table.key}"
    # a build: a unique, growing id per append (Delta's idempotent-write check never skips
    # one); a micro-batch: its own id, so a batch replayed after a crash is recorded once
    batch_id = time.time_ns() // 1000 if audit.batch_id is None else audit.batch_id
    if audit.batch_id is not None:
        app_id += f":batch{lane}"
    append_once(
        df, settings.table_path(*EXPECTATIONS), app_id=app_id, batch_id=batch_id, merge_schema=True
    )


def _write_pages(spark: SparkSession, settings: Settings, audit: Audit) -> dict[str, str]:
    """Render the audit's Data Docs pages; suite -> page. A page that cannot be written is
    logged and left out: the results themselves are recorded regardless."""
    if not settings.quality.data_docs:
        return {}
    try:
        paths = write_validation_pages(
            spark,
            settings,
            audit.table,
            audit.validation_id,
            datetime.now(UTC),
            audit.validations,
        )
    except Exception as error:  # the docs are a rendering of the record: it stands alone
        log.warning(
            "%s: Data Docs page not written (%s: %s)",
            audit.table.key,
            type(error).__name__,
            str(error).splitlines()[0][:300] if str(error) else "",
        )
        return {}
    return {v.suite: path for v, path in zip(audit.validations, paths, strict=True)}


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
