"""Schema drift per ingested batch: observe the batch's shape in Spark, compare it with the
contract and the feed's previous batch (``lakehouse.quality.drift``), and record it in
``audit/schema_drift``, one row per feed per batch (exactly once, like the ledger)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from lakehouse.bronze.sessions import SHAPE_SOURCE
from lakehouse.config import Settings
from lakehouse.contract import FEED_COLUMNS, SESSION_DOCUMENT
from lakehouse.io.delta import append_once, is_delta_table, read_table
from lakehouse.pipeline.report import StepReport
from lakehouse.quality.drift import (
    SESSION_REQUIRED_FIELDS,
    Drift,
    HeaderGroup,
    bounded,
    column_kind,
    contract_fields,
    csv_drift,
    csv_fields,
    document_drift,
    merge_fields,
    variant_fields,
)
from lakehouse.tables import SCHEMA_DRIFT

log = logging.getLogger(__name__)

DRIFT_SCHEMA = StructType(
    [
        StructField("kind", StringType(), False),
        StructField("field", StringType(), False),
        StructField("expected", StringType()),
        StructField("observed", StringType()),
    ]
)
SCHEMA_DRIFT_SCHEMA = StructType(
    [
        StructField("source", StringType(), False),
        StructField("batch_id", LongType(), False),
        StructField("files", IntegerType(), False),
        StructField("fields", MapType(StringType(), StringType()), False),
        StructField("drift", ArrayType(DRIFT_SCHEMA), False),
        StructField("truncated", BooleanType(), False),
    ]
)

SESSION_CONTRACT = contract_fields(SESSION_DOCUMENT)

# A number as CSV text: 12, -3.5, .5, 1e-3 (thousands separators make text).
_NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"


RECORD_COLUMN = "_record_variant"
HIT_SCHEMA = "hit_schema"
SOURCE_SCHEMA = "source_schema"
# what ``schema_of_variant_agg`` gives for no rows (and for JSON nulls only)
NO_DOCUMENTS = "VOID"


def with_record_variant(records: DataFrame) -> DataFrame:
    """Adds ``_record_variant``: each Bronze record parsed whole as a variant (null for a
    malformed one), for ``document_schemas``."""
    return records.withColumn(
        RECORD_COLUMN, F.expr("CASE WHEN NOT is_malformed THEN try_parse_json(raw_record) END")
    )


def document_schemas() -> list[Column]:
    """Aggregates over ``with_record_variant`` rows: the merged variant schema of the hits
    (``hit_schema``, whose documents are their ``_source``) and of the bare documents
    (``source_schema``); ``document_fields`` reads the two as one. The records are taken
    whole: copying each hit's ``_source`` out as a variant of its own cost more than the
    schema itself."""
    is_hit = F.col("export_shape") != SHAPE_SOURCE
    record = F.col(RECORD_COLUMN)
    return [
        F.call_function("schema_of_variant_agg", F.when(is_hit, record)).alias(HIT_SCHEMA),
        F.call_function("schema_of_variant_agg", F.when(~is_hit, record)).alias(SOURCE_SCHEMA),
    ]


def document_fields(hit_schema: str | None, source_schema: str | None) -> dict[str, str]:
    """The batch's document paths and kinds from the two schemas of ``document_schemas``: a
    hit's document is its ``_source`` (a hit without one has none), a bare record is one."""
    if source_schema == NO_DOCUMENTS:  # a bare record that parses is an object: there were none
        source_schema = None
    return merge_fields(variant_fields(hit_schema, under="_source"), variant_fields(source_schema))


def column_kind_flags(columns: Sequence[str]) -> list[Column]:
    """Per row, whether each column holds a value and a number (1 or 0, null for a null cell),
    named ``<c>__values`` and ``<c>__numbers``: summed by ``column_kind_counts``. Taken on the
    clear cells before ingest encrypts the personal ones, so a column keeps its kind in the
    raw zone, and nothing clear has to be cached for it."""
    out = []
    for column in columns:
        values, numbers = _kind_flag_names(column)
        present = F.col(column).isNotNull() & (F.trim(F.col(column)) != "")
        out.append(present.cast("long").alias(values))
        out.append(F.col(column).rlike(_NUMBER).cast("long").alias(numbers))
    return out


def _kind_flag_names(column: str) -> tuple[str, str]:
    return f"{column}__values", f"{column}__numbers"


def column_kind_flag_names(columns: Sequence[str]) -> list[str]:
    """The names of ``column_kind_flags``' columns."""
    return [name for column in columns for name in _kind_flag_names(column)]


def column_kind_counts(columns: Sequence[str]) -> list[Column]:
    """Aggregates of the flags of ``column_kind_flags``: each column's non-empty and numeric
    values (``<c>__values``, ``<c>__numbers``), for ``column_kinds``."""
    return [F.sum(name).alias(name) for name in column_kind_flag_names(columns)]


def column_kinds(counts: Mapping[str, int | None], columns: Sequence[str]) -> dict[str, str]:
    """Each column's kind from the counts of ``column_kind_counts``."""
    return {
        c: column_kind(int(counts[f"{c}__values"] or 0), int(counts[f"{c}__numbers"] or 0))
        for c in columns
    }


def previous_fields(
    spark: SparkSession, settings: Settings, source: str, batch_id: int
) -> dict[str, str] | None:
    """The shape of the source's latest recorded batch that had one, ``batch_id`` left out (a
    batch replayed after a crash may have recorded itself already); None before the first."""
    path = settings.table_path(*SCHEMA_DRIFT)
    if not is_delta_table(spark, path):
        return None
    row = (
        read_table(spark, path)
        .where(
            (F.col("source") == source) & (F.size("fields") > 0) & (F.col("batch_id") != batch_id)
        )
        .orderBy(F.col("recorded_at").desc(), F.col("batch_id").desc())
        .select("fields")
        .first()
    )
    return None if row is None else dict(row["fields"])


class Batch(NamedTuple):
    """An ingested batch: its id, its lane (``""``, or a retry lane) and how many files."""

    batch_id: int
    lane: str
    files: int


def record_drift(
    spark: SparkSession,
    settings: Settings,
    source: str,
    batch: Batch,
    fields: Mapping[str, str],
    drifts: Sequence[Drift],
) -> None:
    """Append the batch's row to ``audit/schema_drift``, once per (source, lane, batch)."""
    kept, kept_drifts, truncated = bounded(fields, drifts)
    row = (
        source,
        batch.batch_id,
        batch.files,
        kept,
        [(d.kind, d.field, d.expected, d.observed) for d in kept_drifts],
        truncated,
    )
    df = spark.createDataFrame([row], SCHEMA_DRIFT_SCHEMA).withColumn(
        "recorded_at", F.current_timestamp()
    )
    append_once(
        df,
        settings.table_path(*SCHEMA_DRIFT),
        app_id=f"{SCHEMA_DRIFT.key}:{source}{batch.lane}",
        batch_id=batch.batch_id,
    )


def _note(
    spark: SparkSession,
    settings: Settings,
    report: StepReport,
    batch: Batch,
    fields: Mapping[str, str],
    drifts: list[Drift],
) -> None:
    record_drift(spark, settings, report.source, batch, fields, drifts)
    report.note_drift(drifts, settings.quality.fail_on_drift)
    if drifts:
        log.warning(
            "%s batch %s: schema drift: %s",
            report.source,
            batch.batch_id,
            "; ".join(d.describe() for d in drifts[:20]),
            extra={"source": report.source, "batch_id": batch.batch_id, "drift": len(drifts)},
        )


def observe_session_batch(
    spark: SparkSession,
    settings: Settings,
    report: StepReport,
    batch: Batch,
    schemas: Mapping[str, str | None],
) -> None:
    """Compare a sessions batch's documents (the values of ``document_schemas()`` by name)
    with the contract and the previous batch; record and report the drift."""
    fields = document_fields(schemas[HIT_SCHEMA], schemas[SOURCE_SCHEMA])
    previous = previous_fields(spark, settings, report.source, batch.batch_id)
    drifts = document_drift(SESSION_CONTRACT, fields, previous, SESSION_REQUIRED_FIELDS)
    _note(spark, settings, report, batch, fields, drifts)


def observe_csv_batch(
    spark: SparkSession,
    settings: Settings,
    report: StepReport,
    batch: Batch,
    groups: Sequence[HeaderGroup],
    kinds: Mapping[str, str],
) -> None:
    """Compare a CSV batch's headers and column kinds (``column_kinds``) with the feed's
    columns and the previous batch; record and report the drift."""
    previous = previous_fields(spark, settings, report.source, batch.batch_id)
    drifts = csv_drift(FEED_COLUMNS[report.source], groups, kinds, previous)
    _note(spark, settings, report, batch, csv_fields(kinds, groups), drifts)


def read_drift(spark: SparkSession, settings: Settings) -> DataFrame | None:
    """``audit/schema_drift``, or None before any batch was recorded."""
    path = settings.table_path(*SCHEMA_DRIFT)
    return read_table(spark, path) if is_delta_table(spark, path) else None
