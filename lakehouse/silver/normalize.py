"""Value normalisation shared by Silver (Spark columns) and the service (Python twins).

Each Spark function has a pure-Python twin right below it; tests prove the two agree, so the
batch pipeline and online predictions read a raw document the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from pyspark.sql import Column
from pyspark.sql import functions as F

TS_FORMAT_EPOCH_MS = "epoch_ms"
TS_FORMAT_EPOCH_S = "epoch_seconds"
TS_FORMAT_ISO = "iso8601"

NUMERIC_PATTERN = r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$"
ISO_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"
_MICROS_PER_MS = 1_000
_MICROS_PER_S = 1_000_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ZIP5_OR_ZIP4_PATTERN = r"^\d{5}(-\d{4})?$"
ZIP9_PATTERN = r"^\d{9}$"
ZIP_LOST_ZEROS_PATTERN = r"^\d{1,4}$"
ZIP_LENGTH = 5


def parse_epoch_or_iso(raw: Column, epoch_seconds_below: int) -> Column:
    """Parse ``createdDateTime``-style text into a UTC timestamp.

    Numbers (or numeric strings) are epoch milliseconds, or epoch seconds below
    ``epoch_seconds_below``; ISO-8601 strings with ``Z`` or an offset are converted to UTC
    (without a zone they are taken as UTC). Anything else gives null.
    """
    text = F.trim(raw)
    number = text.try_cast("decimal(38,6)")
    micros = F.when(number < epoch_seconds_below, number * _MICROS_PER_S).otherwise(
        number * _MICROS_PER_MS
    )
    from_number = F.timestamp_micros(micros.try_cast("long"))
    from_iso = F.try_to_timestamp(F.regexp_replace(text, " ", "T"))
    return F.when(text.rlike(NUMERIC_PATTERN), from_number).when(text.rlike(ISO_PATTERN), from_iso)


def epoch_or_iso_format(raw: Column, epoch_seconds_below: int) -> Column:
    """Which variant ``parse_epoch_or_iso`` read (for data-quality reporting)."""
    text = F.trim(raw)
    number = text.try_cast("decimal(38,6)")
    return (
        F.when(text.rlike(NUMERIC_PATTERN) & (number < epoch_seconds_below), TS_FORMAT_EPOCH_S)
        .when(text.rlike(NUMERIC_PATTERN), TS_FORMAT_EPOCH_MS)
        .when(text.rlike(ISO_PATTERN), TS_FORMAT_ISO)
    )


def parse_epoch_or_iso_py(raw: object, epoch_seconds_below: int) -> datetime | None:
    """Python twin of ``parse_epoch_or_iso``: an aware UTC datetime or None."""
    if raw is None or isinstance(raw, bool):
        return None
    text = str(raw).strip()
    if re.match(NUMERIC_PATTERN, text):
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        scale = _MICROS_PER_S if number < epoch_seconds_below else _MICROS_PER_MS
        micros = int(number * scale)
        try:
            return _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            return None
    if re.match(ISO_PATTERN, text):
        try:
            parsed = datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def normalize_zip(raw: Column) -> Column:
    """Five-character zip code, or null when the value cannot be one.

    ZIP+4 (``97201-1234`` or nine digits) keeps its first five digits; one to four digits are
    a zip that travelled as a JSON number and lost its leading zeros (``2139`` -> ``02139``).
    """
    text = F.trim(raw)
    return F.when(
        text.rlike(ZIP5_OR_ZIP4_PATTERN) | text.rlike(ZIP9_PATTERN), F.substring(text, 1, 5)
    ).when(text.rlike(ZIP_LOST_ZEROS_PATTERN), F.lpad(text, ZIP_LENGTH, "0"))


def normalize_zip_py(raw: object) -> str | None:
    """Python twin of ``normalize_zip``."""
    if raw is None or isinstance(raw, bool):
        return None
    text = str(raw).strip()
    if re.match(ZIP5_OR_ZIP4_PATTERN, text) or re.match(ZIP9_PATTERN, text):
        return text[:ZIP_LENGTH]
    if re.match(ZIP_LOST_ZEROS_PATTERN, text):
        return text.rjust(ZIP_LENGTH, "0")
    return None


def upper_code(raw: Column) -> Column:
    """Trimmed, upper-cased enumeration value; blank becomes null."""
    text = F.upper(F.trim(raw))
    return F.when(text != "", text)


def upper_code_py(raw: object) -> str | None:
    """Python twin of ``upper_code``."""
    if raw is None:
        return None
    text = str(raw).strip().upper()
    return text or None
