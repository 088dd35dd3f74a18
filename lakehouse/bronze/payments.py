"""Bronze for the payment CSV feeds: columns matched by header name, nothing dropped.

Upstream files reorder, rename and drop columns. Each file's header is mapped to the feed's
canonical columns through configured aliases; a canonical column the file lacks is null (and
listed in ``_missing_columns``); a column nobody knows is kept in ``_extra_columns``. Every
value stays a string here, and the row as it arrived is kept as JSON in ``raw_record``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
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

from lakehouse.contract import ERROR_AMBIGUOUS_COLUMN, ERROR_MALFORMED_ROW, FEED_COLUMNS

CORRUPT_COLUMN = "_corrupt_record"
_BOM = "\ufeff"

LINEAGE_FIELDS = [
    StructField("_extra_columns", MapType(StringType(), StringType())),
    StructField("_missing_columns", ArrayType(StringType())),
    StructField("raw_record", StringType()),
    StructField("is_malformed", BooleanType(), False),
    StructField("parse_error", StringType()),
    StructField("_file_error", StringType()),
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
    """How one file's header maps onto a feed's canonical columns, by position."""

    raw_header: tuple[str, ...]
    positions: dict[str, int]  # canonical column -> the first header position that means it
    # canonical column -> later positions that mean it too (a duplicated column)
    duplicates: dict[str, tuple[int, ...]]
    missing: tuple[str, ...]  # canonical columns the file lacks

    @property
    def canonical(self) -> dict[str, str]:
        """Raw column name -> canonical column name, for the mapped columns."""
        return {self.raw_header[p]: c for c, p in sorted(self.positions.items(), key=_second)}

    @property
    def extra_positions(self) -> tuple[int, ...]:
        """Positions no canonical column takes (unknown names, and later duplicates)."""
        taken = set(self.positions.values())
        return tuple(p for p in range(len(self.raw_header)) if p not in taken)

    @property
    def extra(self) -> tuple[str, ...]:
        """The raw names at ``extra_positions``."""
        return tuple(self.raw_header[p] for p in self.extra_positions)

    @property
    def unknown(self) -> tuple[str, ...]:
        """The names no canonical column takes (``extra`` without the later copies of a known
        column, which Bronze compares row by row)."""
        copies = {p for positions in self.duplicates.values() for p in positions}
        return tuple(self.raw_header[p] for p in self.extra_positions if p not in copies)


def _second(pair: tuple[str, int]) -> int:
    return pair[1]


def map_header(
    feed: str, raw_header: Sequence[str], aliases: Mapping[str, Sequence[str]]
) -> HeaderMapping:
    """Match a file's header to the canonical columns by name, through ``aliases``.

    The first column that means a canonical column supplies it; a later one meaning the same
    (a repeated name, or a name and its alias) is kept aside and compared row by row.

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
    positions: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    for position, raw in enumerate(raw_header):
        target = lookup.get(normalize_header_name(raw))
        if target is None:
            continue
        if target in positions:
            duplicates.setdefault(target, []).append(position)
        else:
            positions[target] = position
    missing = tuple(c for c in FEED_COLUMNS[feed] if c not in positions)
    return HeaderMapping(
        tuple(raw_header),
        positions,
        {c: tuple(p) for c, p in duplicates.items()},
        missing,
    )


def positional_names(raw_header: Sequence[str]) -> list[str]:
    """Spark-safe, unique names (``c0``, ``c1``...) for reading a file by position: upstream
    headers may repeat a name or hold characters Spark column names dislike."""
    return [f"c{i}" for i in range(len(raw_header))]


def _extra_keys(mapping: HeaderMapping) -> list[str]:
    """Map keys for the extra columns: a name given twice gets ``#<header position>`` appended
    from its second use, so no value is dropped and the map has no duplicate key."""
    seen: set[str] = set()
    keys = []
    for position in mapping.extra_positions:
        name = mapping.raw_header[position]
        keys.append(name if name not in seen else f"{name}#{position}")
        seen.add(name)
    return keys


def _nonblank(value: Column) -> Column:
    return value.isNotNull() & (F.trim(value) != "")


def _canonical_value(columns: list[Column]) -> Column:
    """The first non-blank of a canonical column's values (a duplicated column left empty by
    the exporter does not hide the other), else the first as it is."""
    chosen = F.when(_nonblank(columns[0]), columns[0])
    for column in columns[1:]:
        chosen = chosen.when(_nonblank(column), column)
    return chosen.otherwise(columns[0])


def _disagree(columns: list[Column]) -> Column:
    """Whether two of the values are non-blank and differ (spaces around them aside)."""
    trimmed = F.array(*[F.trim(c) for c in columns])
    present = F.filter(trimmed, lambda v: v.isNotNull() & (v != ""))
    return F.size(F.array_distinct(present)) > 1


def to_bronze_payments(
    rows_df: DataFrame, feed: str, mapping: HeaderMapping, batch_id: int
) -> DataFrame:
    """Rows read positionally (columns ``c0..cN`` plus ``_corrupt_record``) to Bronze rows.

    A row whose duplicated columns disagree (two ``amount`` columns, ``12.00`` and ``21.00``)
    is flagged ``ambiguous_column``: nobody can tell which value is meant. Equal values are
    fine, and so is a blank one (the other is taken).

    Args:
        rows_df: One file group's rows with ``_source_file``, ``_source_modified_at`` and
            optionally ``_file_error``.
        feed: The feed.
        mapping: The group's header mapping.
        batch_id: The ingest micro-batch.
    """
    names = positional_names(mapping.raw_header)

    def values_of(canonical: str) -> list[Column]:
        positions = [mapping.positions[canonical], *mapping.duplicates.get(canonical, ())]
        return [F.col(names[p]) for p in positions]

    canonical_cols = [
        (
            _canonical_value(values_of(c)) if c in mapping.positions else F.lit(None).cast("string")
        ).alias(c)
        for c in FEED_COLUMNS[feed]
    ]
    extra_positions = mapping.extra_positions
    extra = (
        F.map_from_arrays(
            F.array(*[F.lit(k) for k in _extra_keys(mapping)]),
            F.array(*[F.col(names[p]) for p in extra_positions]),
        )
        if extra_positions
        else F.lit(None).cast("map<string,string>")
    )
    raw_record = F.to_json(
        F.struct(*[F.col(names[p]).alias(raw) for p, raw in enumerate(mapping.raw_header)])
    )
    is_corrupt = F.col(CORRUPT_COLUMN).isNotNull()
    is_ambiguous = F.lit(False)
    for canonical in mapping.duplicates:
        is_ambiguous = is_ambiguous | _disagree(values_of(canonical))
    parse_error = F.when(is_corrupt, F.lit(ERROR_MALFORMED_ROW)).when(
        is_ambiguous, F.lit(ERROR_AMBIGUOUS_COLUMN)
    )
    file_error = (
        F.col("_file_error") if "_file_error" in rows_df.columns else F.lit(None).cast("string")
    )
    return rows_df.select(
        *canonical_cols,
        extra.alias("_extra_columns"),
        F.array(*[F.lit(c) for c in mapping.missing])
        .cast("array<string>")
        .alias("_missing_columns"),
        F.when(is_corrupt, F.col(CORRUPT_COLUMN)).otherwise(raw_record).alias("raw_record"),
        parse_error.isNotNull().alias("is_malformed"),
        parse_error.alias("parse_error"),
        file_error.alias("_file_error"),
        "_source_file",
        "_source_modified_at",
        F.lit(batch_id).cast("long").alias("_batch_id"),
        F.current_timestamp().alias("_ingested_at"),
    )


def _normalized_name(name: Column) -> Column:
    """``normalize_header_name`` as a column expression (BOM, case, spaces and dashes)."""
    stripped = F.regexp_replace(F.regexp_replace(name, _BOM, ""), r"^\s+|\s+$", "")
    return F.regexp_replace(F.lower(stripped), r"[\s\-]+", "_")


def _named_one_of(names: list[str]):
    """A ``map_filter`` predicate: the key, normalized, is one of ``names``."""
    return lambda key, _value: _normalized_name(key).isin(*names)


def remap_missing_columns(
    bronze_df: DataFrame,
    feed: str,
    aliases: Mapping[str, Sequence[str]],
    value: Callable[[Column], Column] | None = None,
) -> DataFrame:
    """Bronze rows of ``feed`` with each missing canonical column taken, through ``aliases``
    as they are now, from the row's unknown columns (``_extra_columns``): what a file would
    have given had the alias been configured when it was ingested. A column a row has is
    left as it is; ``_missing_columns`` keeps only what is still missing. For a replay of
    quarantined rows after an alias fix.

    ``value`` turns an unknown column's stored value into the canonical column's (Bronze keeps
    them encrypted: ``lakehouse.privacy.revealed``); as it is when None."""
    out = bronze_df
    for canonical in FEED_COLUMNS[feed]:
        names = sorted(
            {normalize_header_name(n) for n in aliases.get(canonical, ())}
            | {normalize_header_name(canonical)}
        )
        candidates = F.map_values(F.map_filter(F.col("_extra_columns"), _named_one_of(names)))
        missing = F.coalesce(F.array_contains(F.col("_missing_columns"), canonical), F.lit(False))
        found = F.get(candidates, 0)
        if value is not None:
            found = value(found)
        out = out.withColumn(
            canonical, F.when(missing & found.isNotNull(), found).otherwise(F.col(canonical))
        ).withColumn(
            "_missing_columns",
            F.when(
                missing & found.isNotNull(),
                F.array_remove(F.col("_missing_columns"), canonical),
            ).otherwise(F.col("_missing_columns")),
        )
    return out
