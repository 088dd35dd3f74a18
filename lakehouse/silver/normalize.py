"""Value normalisation shared by Silver: Spark columns, each with a pure-Python twin.

The twins (and the patterns both read) live in ``lakehouse.silver.normalize_online``, which
imports no pyspark, so the prediction service reads a raw value exactly as Silver does;
``tests/silver/test_normalize.py`` proves each pair equal.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from lakehouse.silver.normalize_online import (
    CONTROL_CHARS_PATTERN,
    EPOCH_DECIMAL,
    HUGE_EXPONENT_PATTERN,
    ISO_PATTERN,
    NUMERIC_PATTERN,
    ZIP5_OR_ZIP4_PATTERN,
    ZIP9_PATTERN,
    ZIP_LENGTH,
    ZIP_LOST_ZEROS_PATTERN,
)
from lakehouse.spark_semantics import MICROS_PER_MS, MICROS_PER_SECOND

TS_FORMAT_EPOCH_MS = "epoch_ms"
TS_FORMAT_EPOCH_S = "epoch_seconds"
TS_FORMAT_ISO = "iso8601"


def strip_control(raw: Column) -> Column:
    """The text without C0 control characters other than tab and line feed (NUL among them)."""
    return F.regexp_replace(raw, CONTROL_CHARS_PATTERN, "")


def try_decimal(text: Column, decimal_type: str | DecimalType) -> Column:
    """``text.try_cast(decimal_type)`` that cannot fail: null for a huge exponent too."""
    return F.when(~text.rlike(HUGE_EXPONENT_PATTERN), text).try_cast(decimal_type)


def parse_epoch_or_iso(raw: Column, epoch_seconds_below: int) -> Column:
    """Parse ``createdDateTime``-style text into a UTC timestamp.

    Numbers (or numeric strings) are epoch milliseconds, or epoch seconds below
    ``epoch_seconds_below``; ISO-8601 strings with ``Z`` or an offset are converted to UTC
    (without a zone they are taken as UTC). Anything else gives null, and so does a number
    too large for a timestamp (the multiplication cannot fail the batch: ``1e30`` is null).
    """
    text = F.trim(raw)
    number = try_decimal(text, EPOCH_DECIMAL)
    scale = F.when(number < epoch_seconds_below, F.lit(MICROS_PER_SECOND)).otherwise(
        F.lit(MICROS_PER_MS)
    )
    # ANSI multiplication overflows decimal(38,6) from 1e29 ms on and would fail the job
    micros = F.try_multiply(number, scale)
    from_number = F.timestamp_micros(micros.try_cast("long"))
    from_iso = F.try_to_timestamp(F.regexp_replace(text, " ", "T"))
    return F.when(text.rlike(NUMERIC_PATTERN), from_number).when(text.rlike(ISO_PATTERN), from_iso)


def epoch_or_iso_format(raw: Column, epoch_seconds_below: int) -> Column:
    """Which variant ``parse_epoch_or_iso`` read (for data-quality reporting)."""
    text = F.trim(raw)
    number = try_decimal(text, EPOCH_DECIMAL)
    return (
        F.when(text.rlike(NUMERIC_PATTERN) & (number < epoch_seconds_below), TS_FORMAT_EPOCH_S)
        .when(text.rlike(NUMERIC_PATTERN), TS_FORMAT_EPOCH_MS)
        .when(text.rlike(ISO_PATTERN), TS_FORMAT_ISO)
    )


def normalize_zip(raw: Column) -> Column:
    """Five-character zip code, or null when the value cannot be one.

    ZIP+4 (``97201-1234`` or nine digits) keeps its first five digits; one to four digits are
    a zip that travelled as a JSON number and lost its leading zeros (``2139`` -> ``02139``).
    """
    text = F.trim(raw)
    return F.when(
        text.rlike(ZIP5_OR_ZIP4_PATTERN) | text.rlike(ZIP9_PATTERN), F.substring(text, 1, 5)
    ).when(text.rlike(ZIP_LOST_ZEROS_PATTERN), F.lpad(text, ZIP_LENGTH, "0"))


def upper_code(raw: Column) -> Column:
    """Trimmed, upper-cased enumeration value without control characters; blank becomes null."""
    text = F.upper(F.trim(strip_control(raw)))
    return F.when(text != "", text)
