"""Quarantine reason and warning codes as columns, shared by every Silver transform."""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def reason_codes(checks: Iterable[tuple[Column, str]]) -> Column:
    """The codes of the checks that hold, in order: ``array<string>``, empty when none does.

    A check whose condition is null does not hold. Built as a ``concat`` of one-code arrays
    because ``array_compact`` is a higher-order function (a ``filter`` with a lambda), and
    Spark evaluates a higher-order function, with every expression inside it, interpreted:
    all the checks of a row would run outside generated code, several times slower.
    """
    no_code = F.array().cast("array<string>")
    codes = [F.when(cond, F.array(F.lit(code))).otherwise(no_code) for cond, code in checks]
    return F.concat(*codes) if codes else no_code


def warning_rows(
    warned_df: DataFrame, source: str, record_id: Column, record_index: Column
) -> DataFrame:
    """The ``audit/row_warnings`` contract (``ROW_WARNINGS_SCHEMA``) for kept rows with
    warnings: the source's record id and position, never the raw record."""
    return warned_df.select(
        F.lit(source).alias("source"),
        F.col("warnings")[0].alias("warning"),
        "warnings",
        record_id.cast("string").alias("record_id"),
        F.col("_source_file").alias("source_file"),
        record_index.cast("int").alias("record_index"),
        F.col("_batch_id").alias("bronze_batch_id"),
        F.current_timestamp().alias("recorded_at"),
    )
