"""Spark SQL's semantics in plain Python: trims, casts, dates, timestamps, rounding, text.

The online twins (``*_online.py`` beside the Spark layers) replay Bronze, Silver and Gold for
the prediction service without a JVM; every Spark behaviour they depend on is reproduced once,
here, and checked against Spark by ``tests/test_spark_semantics.py`` and the twins' tests.

Reproduced on purpose:

- Trims. Spark's ``trim`` strips spaces only (a tab or a line break stays); the casts strip
  more: UTF8String's numeric, date and timestamp parsers skip ASCII whitespace and control
  bytes (up to U+0020, and U+007F) at both ends, ``java.lang.String.trim`` (decimals,
  doubles) every char up to U+0020.
- Casts. ``try_cast`` to ``int`` is exact (``"2.0"`` is not an int); to ``decimal(p,s)`` reads
  ``java.math.BigDecimal``'s grammar (any Unicode decimal digit) and rounds half up; to
  ``double`` reads ``Double.parseDouble`` (``NaN``, ``Infinity``, ``1.5f``, hex floats) then
  Spark's special literals (``inf``, ``-nan``); ``try_to_date`` accepts ``2024``,
  ``2024-1-5`` and ignores anything after ``T`` or a space; the string-to-timestamp cast
  (``try_to_timestamp`` without a format) is replayed rule for rule, zones included.
- Dates and timestamps are counted as days and microseconds since 1970-01-01 UTC, in the
  proleptic Gregorian calendar: Spark's timestamps reach years 0 and 10000, which Python's
  ``datetime`` cannot hold.
- ``round(x, d)`` of a double is ``BigDecimal.valueOf(x).setScale(d, HALF_UP)``: half up on the
  decimal text of the double (2.675 rounds to 2.68, although the double is slightly below).
- ``Double.toString``, the text Spark's JSON reader keeps for a number read into a string.

Known difference, on inputs no real export sends: ``Double.toString`` of JDK 17 is not always
the shortest text (JDK-4511638, fixed in 19; ``1.0E23`` prints as ``9.999999999999999E22``);
Python's shortest ``repr`` digits are used, for the text and for ``round``. Both read back as
the same double; a value whose shortest form ends exactly on a half could in principle round
differently, but none did in 60,000 probes around half cents nor in the replay tests.

No pyspark here: the prediction service imports this module without a JVM.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, available_timezones

# --- numbers and instants -------------------------------------------------------------------

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

MICROS_PER_MS = 1_000
MICROS_PER_SECOND = 1_000_000
SECONDS_PER_DAY = 86_400
MICROS_PER_HOUR = 3_600 * MICROS_PER_SECOND
MICROS_PER_DAY = SECONDS_PER_DAY * MICROS_PER_SECOND
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Spark's weekday() counts Monday as 0
MICROSECOND = timedelta(microseconds=1)
# The instants a Python datetime can hold, as microseconds since the epoch.
MIN_DATETIME_US = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // MICROSECOND
MAX_DATETIME_US = (datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC) - EPOCH) // MICROSECOND
# Decimal digits for exact intermediate arithmetic (the default context has 28).
WIDE_DIGITS = 80


def micros_to_datetime(micros: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime (years 1 to 9999)."""
    return EPOCH + timedelta(microseconds=micros)


def datetime_to_micros(ts: datetime) -> int:
    """An aware datetime (naive means UTC) as microseconds since the epoch."""
    return ((ts if ts.tzinfo else ts.replace(tzinfo=UTC)) - EPOCH) // MICROSECOND


# --- trims ----------------------------------------------------------------------------------

# UTF8String's numeric, date and timestamp parsers skip ASCII whitespace and control bytes.
UTF8_TRIM_CHARS = "".join(map(chr, range(0x21))) + "\x7f"
# java.lang.String.trim (BigDecimal and Double.parseDouble casts): every char up to U+0020.
JAVA_TRIM_CHARS = "".join(map(chr, range(0x21)))


def spark_trim(text: str) -> str:
    """Spark's ``trim``: spaces only (a tab or a line break stays and fails the patterns)."""
    return text.strip(" ")


def trim_to_null(text: str | None) -> str | None:
    """``when(trim(x) != '', trim(x))``: the text trimmed of spaces, None when nothing is left."""
    if text is None:
        return None
    return text.strip(" ") or None


def java_trim(text: str) -> str:
    """``java.lang.String.trim``: every char up to U+0020 at both ends."""
    return text.strip(JAVA_TRIM_CHARS)


def utf8_trim(text: str) -> str:
    """UTF8String's cast trim: ASCII whitespace and control bytes (and U+007F) at both ends."""
    return text.strip(UTF8_TRIM_CHARS)


# --- regular expressions --------------------------------------------------------------------


def java_regex(pattern: str) -> re.Pattern[str]:
    """A Spark ``rlike`` pattern for ``re.match``.

    Java's ``$`` also matches before one final line terminator (``\\r\\n``, ``\\n``, ``\\r``,
    ``\\u0085``, ``\\u2028``, ``\\u2029``) and its ``\\d`` is ASCII only.
    """
    if pattern.endswith("$"):
        pattern = pattern[:-1] + "(?:\r\n|[\n\r\u0085\u2028\u2029])?\\Z"
    return re.compile(pattern, re.ASCII)


# --- casts ----------------------------------------------------------------------------------

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
# java.math.BigDecimal(String): Character.isDigit digits, i.e. any Unicode decimal digit
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE]([+-]?\d+))?")
# java.lang.Double.parseDouble: ASCII digits, an optional float/double suffix, hex floats
_DOUBLE_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?", re.ASCII)
_HEX_DOUBLE_TEXT = re.compile(
    r"([+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?", re.ASCII
)
_JAVA_SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf}
# Cast.processFloatingPointSpecialLiterals, tried when parseDouble fails
_SPARK_SPECIAL_DOUBLES = {
    "inf": math.inf,
    "+inf": math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-inf": -math.inf,
    "-infinity": -math.inf,
    "nan": math.nan,
    "+nan": math.nan,
    "-nan": math.nan,
}
# Above this many digits a decimal type's rounding needs more than the default context's 28.
_DEFAULT_CONTEXT_DIGITS = 28


def try_int(text: str) -> int | None:
    """``try_cast(text as int)``: an exact integer in range, nothing else (``2.0`` is null)."""
    body = text.strip(UTF8_TRIM_CHARS)
    if not _INT_TEXT.fullmatch(body):
        return None
    value = int(body)
    return value if INT32_MIN <= value <= INT32_MAX else None


@cache
def _quantum(scale: int) -> Decimal:
    return Decimal(1).scaleb(-scale)


def try_decimal(text: str, precision: int, scale: int) -> Decimal | None:
    """``try_cast(text as decimal(precision, scale))``: BigDecimal's grammar, rounded half up.

    A text with a huge exponent (``1e2147483647``) makes Spark's cast throw rather than give
    null; Silver guards against it (``lakehouse.silver.normalize_online.has_huge_exponent_py``)
    and so must a caller here.
    """
    body = text.strip(JAVA_TRIM_CHARS)
    match = _DECIMAL_TEXT.fullmatch(body)
    if match is None:
        return None
    if match.group(1) is not None and not INT32_MIN <= int(match.group(1)) <= INT32_MAX:
        return None  # BigDecimal's scale is an int
    number = Decimal(body)
    integer_digits = precision - scale
    if number.adjusted() >= integer_digits:
        return None
    if precision <= _DEFAULT_CONTEXT_DIGITS:
        rounded = number.quantize(_quantum(scale), rounding=ROUND_HALF_UP)
    else:
        with localcontext(prec=WIDE_DIGITS):
            rounded = number.quantize(_quantum(scale), rounding=ROUND_HALF_UP)
    if rounded.adjusted() >= integer_digits:  # 9999999999.995 rounds out of decimal(12,2)
        return None
    return rounded + 0  # Spark has no negative zero decimal


def try_double(text: str) -> float | None:
    """``try_cast(text as double)``: ``Double.parseDouble``, then Spark's special literals."""
    body = text.strip(JAVA_TRIM_CHARS)
    if _DOUBLE_TEXT.fullmatch(body):
        return float(body.rstrip("fFdD"))
    hex_match = _HEX_DOUBLE_TEXT.fullmatch(body)
    if hex_match:
        return float.fromhex(hex_match.group(1))
    unsigned = body[1:] if body[:1] in ("+", "-") else body
    if unsigned in _JAVA_SPECIAL_DOUBLES:
        value = _JAVA_SPECIAL_DOUBLES[unsigned]
        return -value if body[0] == "-" else value
    return _SPARK_SPECIAL_DOUBLES.get(body.lower())


# --- dates ----------------------------------------------------------------------------------

MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# 400 Gregorian years: the calendar repeats, so year 0 borrows year 400's weekday and dates
GREGORIAN_CYCLE_YEARS = 400


def days_from_civil(year: int, month: int, day: int) -> int | None:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year, 0 too), None if invalid."""
    if not 1 <= month <= 12 or day < 1:
        return None
    is_leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > (29 if month == 2 and is_leap else MONTH_DAYS[month]):
        return None
    y = year - (month <= 2)
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def day_number(day: date) -> int:
    """A date as days since 1970-01-01."""
    return day.toordinal() - EPOCH_ORDINAL


@lru_cache(maxsize=65_536)
def try_to_date(text: str) -> int | None:
    """``try_to_date(text)`` (Spark's ``stringToDate``) as days since 1970-01-01.

    ``[+-]yyyy[y..]``, ``-[m]m``, ``-[d]d``; after a complete day a space or ``T`` ends the
    date and the rest is ignored.
    """
    body = text.strip(UTF8_TRIM_CHARS)
    if not body:
        return None
    sign = 1
    if body[0] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    segments = [1, 1, 1]
    segment, value, digits, j = 0, 0, 0, 0
    while j < len(body) and body[j] not in " T":
        ch = body[j]
        if segment < 2 and ch == "-":
            if not _valid_digits(segment, digits):
                return None
            segments[segment] = value
            segment, value, digits = segment + 1, 0, 0
        elif "0" <= ch <= "9":
            value, digits = value * 10 + ord(ch) - 48, digits + 1
        else:
            return None
        j += 1
    if not _valid_digits(segment, digits) or (segment < 2 and j < len(body)):
        return None
    segments[segment] = value
    return days_from_civil(sign * segments[0], segments[1], segments[2])


def _valid_digits(segment: int, digits: int) -> bool:
    return 4 <= digits <= 7 if segment == 0 else 0 < digits <= 2


# --- Spark's string-to-timestamp cast (``try_to_timestamp`` without a format) ---------------

# What the cast reads once ``T`` separates date and time: seconds (one or two digits) are
# optional only at the very end; a fraction is truncated to microseconds; a zone may follow.
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


def try_to_timestamp_micros(text: str) -> int | None:
    """Spark's ``try_to_timestamp`` of an ISO-like string (``T`` between date and time).

    Returns:
        Microseconds since the epoch (UTC; without a zone the text is UTC), or None.
    """
    match = _ISO_BODY.fullmatch(text.strip(UTF8_TRIM_CHARS))
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    hour, minute, second = int(hour), int(minute), int(second or 0)
    days = days_from_civil(int(year), int(month), int(day))
    if days is None or hour > 23 or minute > 59 or second > 59:
        return None
    offset = 0
    if zone and zone != "Z":  # "Z" (by far the most common) is UTC
        # year 0 (Python has none) takes year 400's zone rules: both lie before any
        # transition, where a zone keeps its local mean time
        local = datetime(int(year) or GREGORIAN_CYCLE_YEARS, int(month), int(day), hour, minute)
        offset = _zone_offset_s(zone, local.replace(second=second))
        if offset is None:
            return None
    local_s = days * SECONDS_PER_DAY + hour * 3_600 + minute * 60 + second
    micros = int((fraction or "")[:6].ljust(6, "0"))
    return (local_s - offset) * MICROS_PER_SECOND + micros


# --- rounding -------------------------------------------------------------------------------

# Every double at or beyond 2**52 is a whole number: rounding to decimals leaves it as it is.
_WHOLE_DOUBLES = 2.0**52


@cache
def _power_of_ten(decimals: int) -> int:
    return 10**decimals


def spark_round(value: float | None, decimals: int) -> float | None:
    """``F.round`` of a double: ``BigDecimal.valueOf(value).setScale(decimals, HALF_UP)``.

    Half up on the shortest decimal text of the double (2.675 rounds to 2.68, although the
    double is slightly below it); NaN and infinities stay as they are; BigDecimal has no
    negative zero, so nothing rounds to -0.0.
    """
    if value is None or value != value or abs(value) >= _WHOLE_DOUBLES:
        return value
    text = repr(value)
    if "e" in text:  # below 1e-4 (larger values in exponent form are whole numbers)
        rounded = Decimal(text).quantize(_quantum(decimals), rounding=ROUND_HALF_UP)
        return float(rounded) + 0.0
    # Half up on the digits themselves: faster than Decimal, same result. Python divides two
    # integers correctly rounded, so the quotient is the double nearest the decimal.
    negative = text[0] == "-"
    whole, _, fraction = text.lstrip("-").partition(".")
    if len(fraction) <= decimals:
        return value + 0.0
    scaled = int(whole + fraction[:decimals]) + (fraction[decimals] >= "5")
    result = scaled / _power_of_ten(decimals)
    return -result if negative and scaled else result


# --- text -----------------------------------------------------------------------------------


def java_double_text(value: float) -> str:
    """``Double.toString`` (shortest digits), as Jackson writes a JSON float into a string field.

    Non-finite values come out quoted, as Jackson writes them (``"NaN"`` with the quotes).
    """
    if value != value:
        return '"NaN"'
    if math.isinf(value):
        return '"Infinity"' if value > 0 else '"-Infinity"'
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple))
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    point = len(digits) - 1 + exponent  # value = d.ddd x 10**point
    prefix = "-" if sign else ""
    if -3 <= point < 7:
        if point >= 0:
            whole = digits[: point + 1].ljust(point + 1, "0")
            return f"{prefix}{whole}.{digits[point + 1 :] or '0'}"
        return f"{prefix}0.{'0' * (-point - 1)}{digits}"
    return f"{prefix}{digits[0]}.{digits[1:] or '0'}E{point}"
