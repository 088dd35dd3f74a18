"""Bronze for the payment CSV feeds: columns matched by header name, nothing dropped.

Upstream files reorder, rename and drop columns. Each file's header is mapped to the feed's
canonical columns through configured aliases; a canonical column the file lacks is null (and
listed in ``_missing_columns``); a column nobody knows is kept in ``_extra_columns``. Every
value stays a string here, and the row as it arrived is kept as JSON in ``raw_record``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakehouse.contract import ERROR_MALFORMED_ROW, FEED_COLUMNS

CORRUPT_COLUMN = "_corrupt_record"
_BOM = "\ufeff"

LINEAGE_FIELDS = [
    StructField("_extra_columns", MapType(StringType(), StringType())),
    StructField("_missing_columns", ArrayType(StringType())),
    StructField("raw_record", StringType()),
    StructField("is_malformed", BooleanType(), False),
    StructField("parse_error", StringType()),
    StructField("_source_file", StringType()),
    StructField("_source_modified_at", TimestampType()),
    StructField("_batch_id", LongType()),
    StructField("_ingested_at", TimestampType()),
]


def bronze_schema(feed: str) -> StructType:
    """The Bronze table of one feed: canonical columns as strings, then lineage."""
    return StructType([StructField(c, StringType()) for c in FEED_COLUMNS[feed]] + LINEAGE_FIELDS)


def normalize_header_name(name: str) -> str:
    """``" Transaction ID"`` -> ``"transaction_id"`` (BOM, case, spaces and dashes folded)."""
    cleaned = name.replace(_BOM, "").strip().lower()
    return re.sub(r"[\s\-]+", "_", cleaned)


@dataclass(frozen=True)
class HeaderMapping:
    """How one file's header maps onto a feed's canonical columns."""

    raw_header: tuple[str, ...]
    canonical: dict[str, str]  # raw column name -> canonical column name
    extra: tuple[str, ...]  # raw column names no alias knows
    missing: tuple[str, ...]  # canonical columns the file lacks


def map_header(
    feed: str, raw_header: Sequence[str], aliases: Mapping[str, Sequence[str]]
) -> HeaderMapping:
    """Match a file's header to the canonical columns by name, through ``aliases``.

    Args:
        feed: The feed name (a key of ``FEED_COLUMNS``).
        raw_header: Column names as they appear in the file.
        aliases: Canonical column -> upstream names that mean it.
    """
    lookup = {normalize_header_name(c): c for c in FEED_COLUMNS[feed]}
    for canonical, names in aliases.items():
        if canonical in FEED_COLUMNS[feed]:
            for name in names:
                lookup.setdefault(normalize_header_name(name), canonical)
    canonical: dict[str, str] = {}
    extra: list[str] = []
    for raw in raw_header:
        target = lookup.get(normalize_header_name(raw))
        if target is not None and target not in canonical.values():
            canonical[raw] = target
        else:
            extra.append(raw)
    missing = tuple(c for c in FEED_COLUMNS[feed] if c not in canonical.values())
    return HeaderMapping(tuple(raw_header), canonical, tuple(extra), missing)


def positional_names(raw_header: Sequence[str]) -> list[str]:
    """Spark-safe, unique names (``c0``, ``c1``...) for reading a file by position: upstream
    headers may repeat a name or hold characters Spark column names dislike."""
    return [f"c{i}" for i in range(len(raw_header))]


def to_bronze_payments(
    rows_df: DataFrame, feed: str, mapping: HeaderMapping, batch_id: int
) -> DataFrame:
    """Rows read positionally (columns ``c0..cN`` plus ``_corrupt_record``) to Bronze rows.

    Args:
        rows_df: One file group's rows with ``_source_file`` and ``_source_modified_at``.
        feed: The feed.
        mapping: The group's header mapping.
        batch_id: The ingest micro-batch.
    """
    positional = dict(zip(mapping.raw_header, positional_names(mapping.raw_header), strict=True))
    by_canonical = {target: positional[raw] for raw, target in mapping.canonical.items()}
    canonical_cols = [
        (F.col(by_canonical[c]) if c in by_canonical else F.lit(None).cast("string")).alias(c)
        for c in FEED_COLUMNS[feed]
    ]
    extra = (
        F.map_from_arrays(
            F.array(*[F.lit(raw) for raw in mapping.extra]),
            F.array(*[F.col(positional[raw]) for raw in mapping.extra]),
        )
        if mapping.extra
        else F.lit(None).cast("map<string,string>")
    )
    raw_record = F.to_json(
        F.struct(*[F.col(positional[raw]).alias(raw) for raw in mapping.raw_header])
    )
    is_malformed = F.col(CORRUPT_COLUMN).isNotNull()
    return rows_df.select(
        *canonical_cols,
        extra.alias("_extra_columns"),
        F.array(*[F.lit(c) for c in mapping.missing])
        .cast("array<string>")
        .alias("_missing_columns"),
        F.when(is_malformed, F.col(CORRUPT_COLUMN)).otherwise(raw_record).alias("raw_record"),
        is_malformed.alias("is_malformed"),
        F.when(is_malformed, F.lit(ERROR_MALFORMED_ROW)).alias("parse_error"),
        "_source_file",
        "_source_modified_at",
        F.lit(batch_id).cast("long").alias("_batch_id"),
        F.current_timestamp().alias("_ingested_at"),
    )
