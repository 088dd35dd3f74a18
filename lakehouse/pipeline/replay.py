"""Quarantine replay: quarantined rows go through the current rules again, after a fix.

A row is quarantined with its reasons, its raw record and where it came from (Bronze batch,
file, position). Once the cause is fixed on this side (a new column alias, a rule or a
setting), ``replay`` reads the chosen rows' Bronze records again, maps a CSV row's columns
through the aliases as they are now, and runs them through the source's Silver rules: rows
that pass are merged into Silver, the rest stay in quarantine as they are.

Nothing is deleted: a released row stays in its quarantine table and gets a row in
``audit/quarantine_releases``, so the quarantine table keeps the history of what was held and
why. The rows still held are the quarantine table's rows without a release.

Each replay is numbered per source and planned before it writes (``audit/quarantine_replays``:
its selection). Its Silver MERGE is idempotent, its releases are appended once, and its ledger
row (step ``replay``) marks it done; a replay cut short is finished, with its own selection,
by the next ``replay`` of that source. Conservation then reads:
``bronze = silver + (quarantined - released) + duplicates removed`` (the Silver batches' and
the replays': a released row whose key Silver already has adds no row).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from lakehouse.bronze.payments import remap_missing_columns
from lakehouse.config import Settings
from lakehouse.contract import PAYMENT_FEEDS
from lakehouse.io.delta import append_once, ensure_table, is_delta_table, merge_into, read_table
from lakehouse.io.ledger import read_ledger, record_batch
from lakehouse.pipeline.report import StepReport
from lakehouse.pipeline.steps import SilverSpec
from lakehouse.privacy import resolve_key, revealed, with_token_key, without_keys
from lakehouse.quality.audit import BatchCheck
from lakehouse.quality.layers import SILVER_SUITES
from lakehouse.silver.schemas import ROW_WARNINGS_SCHEMA
from lakehouse.tables import (
    BATCH_LEDGER,
    QUARANTINE_RELEASES,
    QUARANTINE_REPLAYS,
    ROW_WARNINGS,
)

log = logging.getLogger(__name__)

STEP_REPLAY = "replay"
REPLAY_LANE = ":replay"
SESSIONS = "sessions"
SOURCES = (SESSIONS, *PAYMENT_FEEDS)

# one row per quarantined row a replay let through
RELEASES_SCHEMA = StructType(
    [
        StructField("source", StringType(), False),
        StructField("replay_id", LongType(), False),
        StructField("reason", StringType()),  # the reason it was quarantined for
        StructField("record_id", StringType()),
        StructField("source_file", StringType()),
        StructField("record_index", IntegerType()),
        StructField("bronze_batch_id", LongType()),
        StructField("raw_hash", StringType()),  # sha-256 of the raw record
    ]
)

REPLAYS_SCHEMA = StructType(
    [
        StructField("source", StringType(), False),
        StructField("replay_id", LongType(), False),
        StructField("reasons", ArrayType(StringType()), False),  # empty: every reason
        StructField("batches", ArrayType(LongType()), False),  # empty: every batch
    ]
)

_IDENTITY = ("bronze_batch_id", "source_file", "record_index", "raw_hash")


@dataclass(frozen=True)
class Selection:
    """Which quarantined rows to replay: by reason and Bronze batch (empty: all)."""

    reasons: tuple[str, ...] = ()
    batches: tuple[int, ...] = ()

    def where(self, rows: DataFrame) -> DataFrame:
        if self.reasons:
            rows = rows.where(F.col("reason").isin(*self.reasons))
        if self.batches:
            rows = rows.where(F.col("bronze_batch_id").isin(*self.batches))
        return rows


@dataclass
class ReplayReport:
    """What one replay of one source did."""

    source: str
    replay_id: int | None = None
    selected: int = 0
    released: int = 0
    inserted: int = 0
    updated: int = 0
    still_held: dict[str, int] = field(default_factory=dict)  # reason now -> rows
    resumed: bool = False  # it finished a replay cut short

    @property
    def duplicates(self) -> int:
        return self.released - self.inserted

    def summary(self) -> str:
        if self.replay_id is None:
            return f"replay  {self.source:<24} nothing selected"
        held = ", ".join(f"{r} {n}" for r, n in sorted(self.still_held.items())) or "none"
        resumed = " (finished a replay cut short)" if self.resumed else ""
        return (
            f"replay  {self.source:<24} replay {self.replay_id}{resumed}: {self.selected} "
            f"selected, {self.released} released (silver: {self.inserted} inserted, "
            f"{self.updated} updated, {self.duplicates} duplicates), still held: {held}"
        )


def spec_for(spark: SparkSession, settings: Settings, source: str) -> SilverSpec:
    """The Silver spec of ``source`` under the current settings."""
    from lakehouse.pipeline.payments import silver_specs
    from lakehouse.pipeline.sessions import silver_spec

    if source == SESSIONS:
        return silver_spec(settings)
    for spec in silver_specs(spark, settings):
        if spec.source == source:
            return spec
    raise ValueError(f"unknown source {source!r}: expected one of {list(SOURCES)}")


def _raw_hash(raw: Column) -> Column:
    return F.sha2(F.coalesce(raw, F.lit("")), 256)


def _releases(spark: SparkSession, settings: Settings) -> DataFrame:
    path = settings.table_path(*QUARANTINE_RELEASES)
    if is_delta_table(spark, path):
        return read_table(spark, path)
    return spark.createDataFrame([], RELEASES_SCHEMA)


def quarantined(
    spark: SparkSession, settings: Settings, source: str, before_replay: int | None = None
) -> DataFrame | None:
    """The source's quarantine rows with ``raw_hash`` and ``released`` (by a replay before
    ``before_replay``; any replay when None); None when the source has no quarantine."""
    path = settings.table_path("quarantine", source)
    if not is_delta_table(spark, path):
        return None
    releases = _releases(spark, settings).where(F.col("source") == source)
    if before_replay is not None:
        releases = releases.where(F.col("replay_id") < before_replay)
    released = releases.select(*_IDENTITY).distinct().withColumn("released", F.lit(True))
    rows = read_table(spark, path).withColumn("raw_hash", _raw_hash(F.col("raw_record")))
    joined = rows.join(
        released,
        [rows[c].eqNullSafe(released[c]) for c in _IDENTITY],
        "left",
    )
    return joined.select(
        rows["*"], F.coalesce(released["released"], F.lit(False)).alias("released")
    )


def summarize(
    spark: SparkSession, settings: Settings, sources: tuple[str, ...], selection: Selection
) -> list[dict]:
    """Held and released rows per source, reason and Bronze batch."""
    out = []
    for source in sources:
        rows = quarantined(spark, settings, source)
        if rows is None:
            continue
        for r in (
            selection.where(rows)
            .groupBy("reason", "bronze_batch_id")
            .agg(
                F.sum((~F.col("released")).cast("long")).alias("held"),
                F.sum(F.col("released").cast("long")).alias("released"),
            )
            .orderBy("reason", "bronze_batch_id")
            .collect()
        ):
            out.append({"source": source, **r.asDict()})
    return out


def _plans(spark: SparkSession, settings: Settings, source: str) -> list:
    path = settings.table_path(*QUARANTINE_REPLAYS)
    if not is_delta_table(spark, path):
        return []
    return read_table(spark, path).where(F.col("source") == source).collect()


def _done(spark: SparkSession, settings: Settings, source: str) -> set[int]:
    ledger = read_ledger(spark, settings.table_path(*BATCH_LEDGER))
    rows = ledger.where((F.col("step") == STEP_REPLAY) & (F.col("source") == source))
    return {r["batch_id"] for r in rows.select("batch_id").collect()}


def replay(
    spark: SparkSession, settings: Settings, source: str, selection: Selection
) -> list[ReplayReport]:
    """Replay ``source``'s held rows that ``selection`` chooses (first finishing a replay of
    it that was cut short); one report per replay run."""
    spec = spec_for(spark, settings, source)
    reports = []
    plans = _plans(spark, settings, source)
    done = _done(spark, settings, source)
    for plan in sorted(plans, key=lambda p: p["replay_id"]):
        if plan["replay_id"] not in done:
            log.warning("%s: replay %d did not finish; finishing it", source, plan["replay_id"])
            cut_short = Selection(tuple(plan["reasons"]), tuple(plan["batches"]))
            report = _run(spark, settings, spec, plan["replay_id"], cut_short)
            report.resumed = True
            reports.append(report)
    replay_id = max((p["replay_id"] for p in plans), default=-1) + 1
    rows = quarantined(spark, settings, source)
    if rows is None or selection.where(rows.where(~F.col("released"))).limit(1).count() == 0:
        reports.append(ReplayReport(source))
        return reports
    plan_df = spark.createDataFrame(
        [(source, replay_id, list(selection.reasons), list(selection.batches))], REPLAYS_SCHEMA
    ).withColumn("planned_at", F.current_timestamp())
    append_once(
        plan_df,
        settings.table_path(*QUARANTINE_REPLAYS),
        app_id=f"{QUARANTINE_REPLAYS.key}:{source}",
        batch_id=replay_id,
    )
    reports.append(_run(spark, settings, spec, replay_id, selection))
    return reports


def _run(
    spark: SparkSession, settings: Settings, spec: SilverSpec, replay_id: int, selection: Selection
) -> ReplayReport:
    """One replay: its held rows (as they were before it), their Bronze records through the
    current rules, the passing ones merged into Silver and released."""
    source = spec.source
    report = ReplayReport(source, replay_id)
    held = selection.where(quarantined(spark, settings, source, before_replay=replay_id))
    held = held.where(~F.col("released")).persist(StorageLevel.MEMORY_AND_DISK)
    bronze = read_table(spark, settings.table_path(*spec.bronze))
    try:
        report.selected = held.count()
        batches = [r[0] for r in held.select("bronze_batch_id").distinct().collect()]
        keys = held.select(*_IDENTITY).distinct()
        bronze = bronze.where(F.col("_batch_id").isin(*batches)).withColumn(
            "_raw_hash", _raw_hash(F.col("raw_record"))
        )
        index = (F.col("_record_index") if "_record_index" in bronze.columns else F.lit(None)).cast(
            "int"
        )
        bronze = bronze.withColumn("_replay_index", index)
        records = bronze.join(
            keys,
            (bronze["_batch_id"] == keys["bronze_batch_id"])
            & (bronze["_source_file"] == keys["source_file"])
            & bronze["_replay_index"].eqNullSafe(keys["record_index"])
            & (bronze["_raw_hash"] == keys["raw_hash"]),
            "left_semi",
        ).dropDuplicates(["_batch_id", "_source_file", "_replay_index", "_raw_hash"])
        if source in PAYMENT_FEEDS:
            key = resolve_key(settings)
            records = without_keys(
                remap_missing_columns(
                    with_token_key(records, key), source, settings.payments.aliases, revealed
                )
            )
        checked = spec.with_reasons(records.drop("_raw_hash", "_replay_index"))
        checked = checked.withColumn("_raw_hash", _raw_hash(F.col("raw_record")))
        checked = checked.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            report.released, report.inserted, report.updated = _release(
                spark, settings, spec, replay_id, checked, held
            )
            report.still_held = {
                r["reason"]: int(r["count"])
                for r in checked.where(F.size("reasons") > 0)
                .groupBy(F.col("reasons")[0].alias("reason"))
                .count()
                .collect()
            }
        finally:
            checked.unpersist()
    finally:
        held.unpersist()
    record_batch(
        spark,
        settings.table_path(*BATCH_LEDGER),
        step=STEP_REPLAY,
        source=source,
        batch_id=replay_id,
        metrics={
            "selected": report.selected,
            "released": report.released,
            "silver_inserted": report.inserted,
            "silver_updated": report.updated,
            "duplicates_removed": report.duplicates,
        },
    )
    log.info("%s", report.summary(), extra={"source": source, "replay_id": replay_id})
    return report


def _release(
    spark: SparkSession,
    settings: Settings,
    spec: SilverSpec,
    replay_id: int,
    checked: DataFrame,
    held: DataFrame,
) -> tuple[int, int, int]:
    """Merge the passing rows into Silver (once), then record their releases (once);
    returns (released quarantine rows, inserted, updated)."""
    passing = checked.where(F.size("reasons") == 0)
    latest = spec.latest_per_key(spec.to_silver(passing)).persist(StorageLevel.MEMORY_AND_DISK)
    silver_path = settings.table_path(*spec.silver)
    try:
        inserted, updated = merge_into(
            spark,
            latest,
            silver_path,
            spec.silver_schema,
            spec.keys,
            spec.update_condition,
            txn=(f"{STEP_REPLAY}:{spec.silver.key}:{spec.source}", replay_id),
        )
        suite = SILVER_SUITES.get(spec.silver) if settings.quality.suites else None
        if suite is not None:
            quiet = StepReport(STEP_REPLAY, spec.source, spec.silver.key)
            BatchCheck(
                spark,
                settings,
                quiet,
                suite,
                latest,
                spec.silver_schema.fieldNames(),
                batch_id=replay_id,
                lane=REPLAY_LANE,
            ).finish(lambda: None)
    finally:
        latest.unpersist()
    if spec.to_warnings is not None:
        warned = passing.where(F.size("warnings") > 0)
        path = settings.table_path(*ROW_WARNINGS)
        ensure_table(spark, path, spark.createDataFrame([], ROW_WARNINGS_SCHEMA))
        append_once(
            spec.to_warnings(warned).select(*ROW_WARNINGS_SCHEMA.fieldNames()),
            path,
            app_id=f"{ROW_WARNINGS.key}:{spec.source}{REPLAY_LANE}",
            batch_id=replay_id,
        )
    passed = passing.select(
        F.col("_batch_id").alias("bronze_batch_id"),
        F.col("_source_file").alias("source_file"),
        F.col("_raw_hash").alias("raw_hash"),
        *(
            [F.col("_record_index").cast("int").alias("record_index")]
            if "_record_index" in passing.columns
            else []
        ),
    )
    on = ["bronze_batch_id", "source_file", "raw_hash"]
    if "record_index" in passed.columns:
        on.append("record_index")
    released = held.join(passed.distinct(), on, "left_semi").select(
        F.lit(spec.source).alias("source"),
        F.lit(replay_id).cast("long").alias("replay_id"),
        "reason",
        "record_id",
        "source_file",
        F.col("record_index").cast("int").alias("record_index"),
        "bronze_batch_id",
        "raw_hash",
    )
    released = released.withColumn("released_at", F.current_timestamp()).persist()
    try:
        count = released.count()
        if count:
            append_once(
                released,
                settings.table_path(*QUARANTINE_RELEASES),
                app_id=f"{QUARANTINE_RELEASES.key}:{spec.source}",
                batch_id=replay_id,
            )
    finally:
        released.unpersist()
    return count, inserted, updated
