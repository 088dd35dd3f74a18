"""Python twins of ``lakehouse.silver.normalize``: the same values Silver's columns compute.

The patterns are defined here once (as Java regex for Spark's ``rlike``, as bodies for the
twins' ``fullmatch``); ``lakehouse.silver.normalize`` builds its columns from them, and
``tests/silver/test_normalize.py`` proves each twin equal to its Spark function. No pyspark
here: the prediction service imports this module without a JVM.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext

from lakehouse.spark_semantics import (
    INT64_MAX,
    INT64_MIN,
    MAX_DATETIME_US,
    MICROS_PER_MS,
    MICROS_PER_SECOND,
    MIN_DATETIME_US,
    WIDE_DIGITS,
    micros_to_datetime,
    spark_trim,
    try_to_timestamp_micros,
)

# Spark's patterns (Java regex) end in \z, not $: Java's $ also matches before one final line
# break, which let "2139\n" through as the zip code "2139\n". The Python twins match the
# same bodies with ``fullmatch`` and ``re.ASCII`` (Java's \d is ASCII only).
_NUMERIC_BODY = r"-?\d+(\.\d+)?([eE][+-]?\d+)?"
_ZIP5_OR_ZIP4_BODY = r"\d{5}(-\d{4})?"
_ZIP9_BODY = r"\d{9}"
_ZIP_LOST_ZEROS_BODY = r"\d{1,4}"
NUMERIC_PATTERN = rf"^{_NUMERIC_BODY}\z"
# A prefix only: Spark's string-to-timestamp cast reads (and validates) the rest.
ISO_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"
ZIP5_OR_ZIP4_PATTERN = rf"^{_ZIP5_OR_ZIP4_BODY}\z"
ZIP9_PATTERN = rf"^{_ZIP9_BODY}\z"
ZIP_LOST_ZEROS_PATTERN = rf"^{_ZIP_LOST_ZEROS_BODY}\z"
ZIP_LENGTH = 5

_NUMERIC_RE = re.compile(_NUMERIC_BODY, re.ASCII)
_ISO_PREFIX_RE = re.compile(ISO_PATTERN, re.ASCII)
_ZIP5_OR_ZIP4_RE = re.compile(_ZIP5_OR_ZIP4_BODY, re.ASCII)
_ZIP9_RE = re.compile(_ZIP9_BODY, re.ASCII)
_ZIP_LOST_ZEROS_RE = re.compile(_ZIP_LOST_ZEROS_BODY, re.ASCII)

# The numeric branch reads decimal(38,6): at most 32 integer digits, before and after scaling
EPOCH_DECIMAL = "decimal(38,6)"
_EPOCH_SCALE = Decimal("0.000001")
_EPOCH_DIGITS = 32

# java.math.BigDecimal reads exponents up to an int, but scaling 1e2147483647 to a decimal type
# overflows BigInteger: an ArithmeticException that try_cast does not catch, so it failed the
# whole batch. No real value has five exponent digits; such text is not a number here.
HUGE_EXPONENT_PATTERN = r"[eE][+-]?\p{Nd}{5,}"
# C0 control characters other than tab and line feed (NUL among them): never part of a value,
# removed from every payment field before Silver's rules read it (CONTRACT section 3).
CONTROL_CHARS_PATTERN = r"[\x00-\x08\x0B-\x1F]"
_CONTROL_CHARS = re.compile(CONTROL_CHARS_PATTERN)


def strip_control_py(value: object) -> object:
    """Python twin of ``strip_control``: a string without C0 control characters (other than
    tab and line feed); anything else unchanged."""
    return _CONTROL_CHARS.sub("", value) if isinstance(value, str) else value


def has_control_chars_py(text: str) -> bool:
    """Whether ``strip_control_py`` would change ``text`` (one search over many values
    joined tells whether any of them needs it)."""
    return _CONTROL_CHARS.search(text) is not None


_HUGE_EXPONENT_RE = re.compile(r"[eE][+-]?\d{5,}")  # Python's \d is Unicode's Nd


def has_huge_exponent_py(text: str) -> bool:
    """Python twin of the guard in ``try_decimal``: such text casts to no decimal."""
    return _HUGE_EXPONENT_RE.search(text) is not None


def epoch_or_iso_micros_py(raw: object, epoch_seconds_below: int) -> int | None:
    """Python twin of ``parse_epoch_or_iso``, exact: microseconds since the epoch, or None.

    Microseconds rather than a datetime because Spark's timestamps reach years 0 and 10000,
    which Python's datetime cannot hold (``tests/silver/test_normalize.py`` checks each rule
    against Spark).
    """
    if raw is None or isinstance(raw, bool):
        return None
    text = spark_trim(str(raw))
    if len(text) <= _PLAIN_DIGITS_MAX and text.isascii() and text.isdigit():
        # the usual epoch number: the same rules without Decimal (exact for an integer)
        return _int_epoch_micros(int(text), epoch_seconds_below)
    if _NUMERIC_RE.fullmatch(text):
        return _epoch_micros(text, epoch_seconds_below)
    if _ISO_PREFIX_RE.match(text):
        return try_to_timestamp_micros(text.replace(" ", "T"))
    return None


def parse_epoch_or_iso_py(raw: object, epoch_seconds_below: int) -> datetime | None:
    """``epoch_or_iso_micros_py`` as an aware UTC datetime.

    None also for an instant Spark reads but Python's datetime cannot hold (before year 1 or
    after 9999): use ``epoch_or_iso_micros_py`` to tell the two apart.
    """
    micros = epoch_or_iso_micros_py(raw, epoch_seconds_below)
    if micros is None or not MIN_DATETIME_US <= micros <= MAX_DATETIME_US:
        return None
    return micros_to_datetime(micros)


_EPOCH_LIMIT = 10**_EPOCH_DIGITS
_PLAIN_DIGITS_MAX = 40  # longer runs of digits are past _EPOCH_LIMIT: the Decimal path says so


def _int_epoch_micros(number: int, epoch_seconds_below: int) -> int | None:
    """``_epoch_micros(str(number))`` for an int, where decimal(38,6) arithmetic is exact."""
    if abs(number) >= _EPOCH_LIMIT:
        return None
    scaled = number * (MICROS_PER_SECOND if number < epoch_seconds_below else MICROS_PER_MS)
    if abs(scaled) >= _EPOCH_LIMIT:
        return None
    return scaled if INT64_MIN <= scaled <= INT64_MAX else None


def _epoch_micros(text: str, epoch_seconds_below: int) -> int | None:
    """The numeric branch: ``try_cast(decimal(38,6))``, ``try_multiply``, ``try_cast(long)``."""
    if has_huge_exponent_py(text):
        return None
    number = Decimal(text)
    if number.adjusted() >= _EPOCH_DIGITS:
        return None
    with localcontext(prec=WIDE_DIGITS):
        number = number.quantize(_EPOCH_SCALE, rounding=ROUND_HALF_UP)  # decimal(38,6)
        if abs(number) >= Decimal(10) ** _EPOCH_DIGITS:
            return None
        scaled = number * (MICROS_PER_SECOND if number < epoch_seconds_below else MICROS_PER_MS)
        if abs(scaled) >= Decimal(10) ** _EPOCH_DIGITS:
            return None  # try_multiply: null where the multiplication overflows
        micros = int(scaled)  # decimal to long truncates toward zero
    return micros if INT64_MIN <= micros <= INT64_MAX else None


def normalize_zip_py(raw: object) -> str | None:
    """Python twin of ``normalize_zip`` (spaces are trimmed; other whitespace is invalid)."""
    if raw is None or isinstance(raw, bool):
        return None
    text = spark_trim(str(raw))
    if _ZIP5_OR_ZIP4_RE.fullmatch(text) or _ZIP9_RE.fullmatch(text):
        return text[:ZIP_LENGTH]
    if _ZIP_LOST_ZEROS_RE.fullmatch(text):
        return text.rjust(ZIP_LENGTH, "0")
    return None


def upper_code_py(raw: object) -> str | None:
    """Python twin of ``upper_code``."""
    if raw is None:
        return None
    text = spark_trim(_CONTROL_CHARS.sub("", str(raw))).upper()
    return text or None
