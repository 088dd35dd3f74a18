"""Value normalisation shared by Silver (Spark columns) and the service (Python twins).

Each Spark function has a pure-Python twin right below it; tests prove the two agree, so the
batch pipeline and online predictions read a raw document the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

TS_FORMAT_EPOCH_MS = "epoch_ms"
TS_FORMAT_EPOCH_S = "epoch_seconds"
TS_FORMAT_ISO = "iso8601"

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

_MICROS_PER_MS = 1_000
_MICROS_PER_S = 1_000_000
_SECONDS_PER_DAY = 86_400
# The numeric branch reads decimal(38,6): at most 32 integer digits, before and after scaling
_EPOCH_DECIMAL = "decimal(38,6)"
_EPOCH_SCALE = Decimal("0.000001")
_EPOCH_DIGITS = 32
_WIDE = 80  # decimal digits for exact intermediate arithmetic (the default context has 28)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS = timedelta(microseconds=1)
_MIN_DATETIME_US = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROS
_MAX_DATETIME_US = (datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC) - _EPOCH) // _MICROS


# java.math.BigDecimal reads exponents up to an int, but scaling 1e2147483647 to a decimal type
# overflows BigInteger: an ArithmeticException that try_cast does not catch, so it failed the
# whole batch. No real value has five exponent digits; such text is not a number here.
HUGE_EXPONENT_PATTERN = r"[eE][+-]?\p{Nd}{5,}"
_HUGE_EXPONENT_RE = re.compile(r"[eE][+-]?\d{5,}")  # Python's \d is Unicode's Nd


def try_decimal(text: Column, decimal_type: str | DecimalType) -> Column:
    """``text.try_cast(decimal_type)`` that cannot fail: null for a huge exponent too."""
    return F.when(~text.rlike(HUGE_EXPONENT_PATTERN), text).try_cast(decimal_type)


def has_huge_exponent_py(text: str) -> bool:
    """Python twin of the guard in ``try_decimal``: such text casts to no decimal."""
    return _HUGE_EXPONENT_RE.search(text) is not None


def _spark_trim(text: str) -> str:
    """Spark's ``trim``: spaces only (a tab or a line break stays and fails the patterns)."""
    return text.strip(" ")


def parse_epoch_or_iso(raw: Column, epoch_seconds_below: int) -> Column:
    """Parse ``createdDateTime``-style text into a UTC timestamp.

    Numbers (or numeric strings) are epoch milliseconds, or epoch seconds below
    ``epoch_seconds_below``; ISO-8601 strings with ``Z`` or an offset are converted to UTC
    (without a zone they are taken as UTC). Anything else gives null, and so does a number
    too large for a timestamp (the multiplication cannot fail the batch: ``1e30`` is null).
    """
    text = F.trim(raw)
    number = try_decimal(text, _EPOCH_DECIMAL)
    scale = F.when(number < epoch_seconds_below, F.lit(_MICROS_PER_S)).otherwise(
        F.lit(_MICROS_PER_MS)
    )
    # ANSI multiplication overflows decimal(38,6) from 1e29 ms on and would fail the job
    micros = F.try_multiply(number, scale)
    from_number = F.timestamp_micros(micros.try_cast("long"))
    from_iso = F.try_to_timestamp(F.regexp_replace(text, " ", "T"))
    return F.when(text.rlike(NUMERIC_PATTERN), from_number).when(text.rlike(ISO_PATTERN), from_iso)


def epoch_or_iso_format(raw: Column, epoch_seconds_below: int) -> Column:
    """Which variant ``parse_epoch_or_iso`` read (for data-quality reporting)."""
    text = F.trim(raw)
    number = try_decimal(text, _EPOCH_DECIMAL)
    return (
        F.when(text.rlike(NUMERIC_PATTERN) & (number < epoch_seconds_below), TS_FORMAT_EPOCH_S)
        .when(text.rlike(NUMERIC_PATTERN), TS_FORMAT_EPOCH_MS)
        .when(text.rlike(ISO_PATTERN), TS_FORMAT_ISO)
    )


def epoch_or_iso_micros_py(raw: object, epoch_seconds_below: int) -> int | None:
    """Python twin of ``parse_epoch_or_iso``, exact: microseconds since the epoch, or None.

    Microseconds rather than a datetime because Spark's timestamps reach years 0 and 10000,
    which Python's datetime cannot hold (``tests/silver/test_normalize.py`` checks each rule
    against Spark).
    """
    if raw is None or isinstance(raw, bool):
        return None
    text = _spark_trim(str(raw))
    if len(text) <= _PLAIN_DIGITS_MAX and text.isascii() and text.isdigit():
        # the usual epoch number: the same rules without Decimal (exact for an integer)
        return _int_epoch_micros(int(text), epoch_seconds_below)
    if _NUMERIC_RE.fullmatch(text):
        return _epoch_micros(text, epoch_seconds_below)
    if _ISO_PREFIX_RE.match(text):
        return _iso_micros(text.replace(" ", "T"))
    return None


def parse_epoch_or_iso_py(raw: object, epoch_seconds_below: int) -> datetime | None:
    """``epoch_or_iso_micros_py`` as an aware UTC datetime.

    None also for an instant Spark reads but Python's datetime cannot hold (before year 1 or
    after 9999): use ``epoch_or_iso_micros_py`` to tell the two apart.
    """
    micros = epoch_or_iso_micros_py(raw, epoch_seconds_below)
    if micros is None or not _MIN_DATETIME_US <= micros <= _MAX_DATETIME_US:
        return None
    return _EPOCH + timedelta(microseconds=micros)


_EPOCH_LIMIT = 10**_EPOCH_DIGITS
_PLAIN_DIGITS_MAX = 40  # longer runs of digits are past _EPOCH_LIMIT: the Decimal path says so


def _int_epoch_micros(number: int, epoch_seconds_below: int) -> int | None:
    """``_epoch_micros(str(number))`` for an int, where decimal(38,6) arithmetic is exact."""
    if abs(number) >= _EPOCH_LIMIT:
        return None
    scaled = number * (_MICROS_PER_S if number < epoch_seconds_below else _MICROS_PER_MS)
    if abs(scaled) >= _EPOCH_LIMIT:
        return None
    return scaled if _INT64_MIN <= scaled <= _INT64_MAX else None


def _epoch_micros(text: str, epoch_seconds_below: int) -> int | None:
    """The numeric branch: ``try_cast(decimal(38,6))``, ``try_multiply``, ``try_cast(long)``."""
    if has_huge_exponent_py(text):
        return None
    number = Decimal(text)
    if number.adjusted() >= _EPOCH_DIGITS:
        return None
    with localcontext(prec=_WIDE):
        number = number.quantize(_EPOCH_SCALE, rounding=ROUND_HALF_UP)  # decimal(38,6)
        if abs(number) >= Decimal(10) ** _EPOCH_DIGITS:
            return None
        scaled = number * (_MICROS_PER_S if number < epoch_seconds_below else _MICROS_PER_MS)
        if abs(scaled) >= Decimal(10) ** _EPOCH_DIGITS:
            return None  # try_multiply: null where the multiplication overflows
        micros = int(scaled)  # decimal to long truncates toward zero
    return micros if _INT64_MIN <= micros <= _INT64_MAX else None


# --- Spark's string-to-timestamp cast (``try_to_timestamp`` without a format) --------------

# UTF8String's timestamp parser skips ASCII whitespace and control bytes at both ends.
_CAST_TRIM = "".join(map(chr, range(0x21))) + "\x7f"
# What the cast reads after the prefix check: seconds (one or two digits) are optional only
# at the very end; a fraction is truncated to microseconds; a zone may follow the seconds.
_ISO_BODY = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{1,2})(?:\.(\d*))?(.*))?",
    re.ASCII | re.DOTALL,
)
_OFFSET_FORMS = {  # java.time.ZoneOffset.of: length -> pattern of the part after the sign
    2: re.compile(r"(\d)", re.ASCII),
    3: re.compile(r"(\d\d)", re.ASCII),
    5: re.compile(r"(\d\d)(\d\d)", re.ASCII),
    6: re.compile(r"(\d\d):(\d\d)", re.ASCII),
    7: re.compile(r"(\d\d)(\d\d)(\d\d)", re.ASCII),
    9: re.compile(r"(\d\d):(\d\d):(\d\d)", re.ASCII),
}
_MAX_OFFSET_S = 18 * 3_600
_REGION_ID = re.compile(r"[A-Za-z][A-Za-z0-9~/._+-]+", re.ASCII)
# java.time.ZoneId.SHORT_IDS, which Spark passes to ZoneId.of
_SHORT_IDS = {
    "ACT": "Australia/Darwin",
    "AET": "Australia/Sydney",
    "AGT": "America/Argentina/Buenos_Aires",
    "ART": "Africa/Cairo",
    "AST": "America/Anchorage",
    "BET": "America/Sao_Paulo",
    "BST": "Asia/Dhaka",
    "CAT": "Africa/Harare",
    "CNT": "America/St_Johns",
    "CST": "America/Chicago",
    "CTT": "Asia/Shanghai",
    "EAT": "Africa/Addis_Ababa",
    "ECT": "Europe/Paris",
    "IET": "America/Indiana/Indianapolis",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "MIT": "Pacific/Apia",
    "NET": "Asia/Yerevan",
    "NST": "Pacific/Auckland",
    "PLT": "Asia/Karachi",
    "PNT": "America/Phoenix",
    "PRT": "America/Puerto_Rico",
    "PST": "America/Los_Angeles",
    "SST": "Pacific/Guadalcanal",
    "VST": "Asia/Ho_Chi_Minh",
    "EST": "-05:00",
    "MST": "-07:00",
    "HST": "-10:00",
}
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# 400 Gregorian years: the calendar repeats, so year 0 borrows year 400's weekday and dates
_GREGORIAN_CYCLE_YEARS = 400


@cache
def _known_regions() -> frozenset[str]:
    return frozenset(available_timezones())


def _offset_s(zone: str) -> int | None:
    """``java.time.ZoneOffset.of``: seconds east of UTC, or None when invalid."""
    if zone == "Z":
        return 0
    form = _OFFSET_FORMS.get(len(zone))
    if form is None or zone[0] not in "+-":
        return None
    match = form.fullmatch(zone[1:])
    if match is None:
        return None
    hours, minutes, seconds = (int(g) for g in (*match.groups(), "0", "0")[:3])
    total = hours * 3_600 + minutes * 60 + seconds
    if hours > 18 or minutes > 59 or seconds > 59 or total > _MAX_OFFSET_S:
        return None
    return -total if zone[0] == "-" else total


def _zone_offset_s(zone: str, local: datetime) -> int | None:
    """Spark's ``getZoneId`` then ``ZoneId.of(id, SHORT_IDS)``, as an offset at ``local``."""
    if zone == "Z":  # by far the most common
        return 0
    zone = re.sub(r"([+-])(\d):", r"\g<1>0\2:", zone, count=1, flags=re.ASCII)
    zone = re.sub(r"([+-])(\d\d):(\d)\Z", r"\1\2:0\3", zone, count=1, flags=re.ASCII)
    zone = _SHORT_IDS.get(zone, zone)
    if len(zone) <= 1 or zone[0] in "+-":
        return _offset_s(zone)
    for prefix in ("UTC", "GMT", "UT"):
        if zone.startswith(prefix):
            rest = zone[len(prefix) :]
            if rest == "":
                return 0
            if rest[0] in "+-":
                return _offset_s(rest)
            break  # e.g. GMT0: a region id
    if not _REGION_ID.fullmatch(zone) or zone not in _known_regions():
        return None
    # fold=0: the earlier offset in an overlap, the offset before a gap, like java.time
    offset = local.replace(tzinfo=ZoneInfo(zone)).utcoffset()
    return None if offset is None else int(offset.total_seconds())


def _days_from_civil(year: int, month: int, day: int) -> int | None:
    """Days since 1970-01-01 of a proleptic Gregorian date (year 0 too), None when invalid."""
    if not 1 <= month <= 12 or day < 1:
        return None
    is_leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > (29 if month == 2 and is_leap else _MONTH_DAYS[month]):
        return None
    y = year - (month <= 2)
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _iso_micros(text: str) -> int | None:
    """Spark's ``try_to_timestamp`` of an ISO-like string (spaces already turned into T)."""
    match = _ISO_BODY.fullmatch(text.strip(_CAST_TRIM))
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    hour, minute, second = int(hour), int(minute), int(second or 0)
    days = _days_from_civil(int(year), int(month), int(day))
    if days is None or hour > 23 or minute > 59 or second > 59:
        return None
    offset = 0
    if zone and zone != "Z":  # "Z" (by far the most common) is UTC
        # year 0 (Python has none) takes year 400's zone rules: both lie before any
        # transition, where a zone keeps its local mean time
        local = datetime(int(year) or _GREGORIAN_CYCLE_YEARS, int(month), int(day), hour, minute)
        offset = _zone_offset_s(zone, local.replace(second=second))
        if offset is None:
            return None
    local_s = days * _SECONDS_PER_DAY + hour * 3_600 + minute * 60 + second
    micros = int((fraction or "")[:6].ljust(6, "0"))
    return (local_s - offset) * _MICROS_PER_S + micros


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
    """Python twin of ``normalize_zip`` (spaces are trimmed; other whitespace is invalid)."""
    if raw is None or isinstance(raw, bool):
        return None
    text = _spark_trim(str(raw))
    if _ZIP5_OR_ZIP4_RE.fullmatch(text) or _ZIP9_RE.fullmatch(text):
        return text[:ZIP_LENGTH]
    if _ZIP_LOST_ZEROS_RE.fullmatch(text):
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
    text = _spark_trim(str(raw)).upper()
    return text or None
