"""Silver transforms for the reference data: zip codes, warehouses, holidays.

Each takes the CSV as read (every column a string, matched by header name) and returns typed
rows plus a ``reasons`` array (empty when valid), like the session transforms, so invalid rows
go to quarantine with why and where from.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.contract import (
    REASON_DUPLICATE_KEY,
    REASON_INVALID_COORDINATES,
    REASON_INVALID_DATE,
    REASON_INVALID_ZIP,
    REASON_MISSING_KEY,
)
from lakehouse.privacy import normalize_text
from lakehouse.silver.normalize import normalize_zip, upper_code
from lakehouse.silver.reasons import reason_codes
from lakehouse.silver.schemas import HOLIDAYS_SCHEMA, WAREHOUSES_SCHEMA, ZIP_CODES_SCHEMA

MAX_LATITUDE, MAX_LONGITUDE = 90.0, 180.0
_TRUE_VALUES = ("true", "t", "yes", "y", "1")
_FALSE_VALUES = ("false", "f", "no", "n", "0")


def _coordinate(raw: Column, limit: float) -> Column:
    value = F.trim(raw).try_cast("double")
    return F.when(F.abs(value) <= limit, value)


def parse_flag(raw: Column) -> Column:
    """``true/false``, ``yes/no``, ``1/0`` (any case) to boolean; anything else null."""
    text = F.lower(F.trim(raw))
    return F.when(text.isin(*_TRUE_VALUES), True).when(text.isin(*_FALSE_VALUES), False)


def _with_coordinates(df: DataFrame) -> DataFrame:
    return df.withColumn("_lat", _coordinate(F.col("latitude"), MAX_LATITUDE)).withColumn(
        "_lon", _coordinate(F.col("longitude"), MAX_LONGITUDE)
    )


def to_zip_codes(raw_df: DataFrame) -> DataFrame:
    """Typed zip codes (5-character keys, leading zeros restored) with ``reasons``."""
    df = _with_coordinates(raw_df).withColumn("_zip", normalize_zip(F.col("zip_code")))
    return df.select(
        F.col("_zip").alias("zip_code"),
        normalize_text(F.col("city")).alias("city"),
        upper_code(F.col("state")).alias("state"),
        F.col("_lat").alias("latitude"),
        F.col("_lon").alias("longitude"),
        F.coalesce(parse_flag(F.col("is_remote_area")), F.lit(False)).alias("is_remote_area"),
        reason_codes(
            [
                (F.col("_zip").isNull(), REASON_INVALID_ZIP),
                (F.col("_lat").isNull() | F.col("_lon").isNull(), REASON_INVALID_COORDINATES),
            ]
        ).alias("reasons"),
        "_raw",
        "_source_file",
        "_record_index",
    )


def to_warehouses(raw_df: DataFrame) -> DataFrame:
    """Typed warehouses with ``reasons``."""
    df = _with_coordinates(raw_df).withColumn("_id", upper_code(F.col("warehouse_id")))
    return df.select(
        F.col("_id").alias("warehouse_id"),
        normalize_zip(F.col("zip_code")).alias("zip_code"),
        F.col("_lat").alias("latitude"),
        F.col("_lon").alias("longitude"),
        reason_codes(
            [
                (F.col("_id").isNull(), REASON_MISSING_KEY),
                (F.col("_lat").isNull() | F.col("_lon").isNull(), REASON_INVALID_COORDINATES),
            ]
        ).alias("reasons"),
        "_raw",
        "_source_file",
        "_record_index",
    )


def to_holidays(raw_df: DataFrame) -> DataFrame:
    """Typed holidays with ``reasons``."""
    df = raw_df.withColumn("_date", F.try_to_date(F.trim(F.col("date"))))
    return df.select(
        F.col("_date").alias("date"),
        normalize_text(F.col("name")).alias("name"),
        F.coalesce(upper_code(F.col("country")), F.lit("US")).alias("country"),
        reason_codes([(F.col("_date").isNull(), REASON_INVALID_DATE)]).alias("reasons"),
        "_raw",
        "_source_file",
        "_record_index",
    )


def with_duplicate_key_reason(df: DataFrame, keys: list[str]) -> DataFrame:
    """Flag every row whose key occurs more than once among otherwise valid rows."""
    is_valid = F.size("reasons") == 0
    valid_rows_with_key = F.sum(is_valid.cast("int")).over(Window.partitionBy(*keys))
    is_duplicate = is_valid & (valid_rows_with_key > 1)
    return df.withColumn(
        "reasons",
        F.when(is_duplicate, F.array_append("reasons", F.lit(REASON_DUPLICATE_KEY))).otherwise(
            F.col("reasons")
        ),
    )


REFERENCE_SPECS = {
    # name: (transform, output schema, key columns)
    "zip_codes": (to_zip_codes, ZIP_CODES_SCHEMA, ["zip_code"]),
    "warehouses": (to_warehouses, WAREHOUSES_SCHEMA, ["warehouse_id"]),
    "holidays": (to_holidays, HOLIDAYS_SCHEMA, ["date", "country"]),
}
