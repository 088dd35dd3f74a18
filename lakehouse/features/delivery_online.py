"""Online twin of ``gold/delivery_features``: the model features of one checkout, in plain Python.

The prediction service receives one Elasticsearch checkout document (a bare ``_source`` or a hit
``{"_id": ..., "_source": {...}}``) and must feed the model exactly the values Spark computes
in batch. The path of a document through the lake is replayed step by step:

- Bronze (``lakehouse.bronze.sessions``): the document is read against
  ``SESSION_SOURCE_SCHEMA``, where every scalar is kept as the text Spark's JSON reader gives
  it (a JSON number becomes Java's ``Double.toString``, an object its compact JSON); a value of
  the wrong shape where an object or a list belongs makes the record malformed.
- Silver (``lakehouse.silver.sessions``): the same quarantine rules in the same order, through
  the Python twins of ``lakehouse.silver.normalize``; the first failing rule is raised as a
  ``FeatureError`` with Silver's reason code and the field path, every failing rule is listed
  in its message.
- Gold (``lakehouse.gold.delivery``): calendar, cart, distance, holiday and promise features
  with the same constants, the same IEEE operations in the same order, Spark's ``round``
  (half up on the decimal text of the double) and the same nulls for what is unknown.

No SparkSession is started here; the Spark modules are imported for their constants only, so
that a rule has one definition. Spark casts reproduced on purpose (``tests/features`` checks
each against Spark): ``try_cast`` to ``int`` is exact (``"2.0"`` is not an int, so it is an
invalid cart item), to ``decimal(12,2)`` rounds half up and accepts any Unicode digit, to
``double`` accepts ``NaN``, ``Infinity``, ``1.5f`` and hex floats; ``try_to_date`` accepts
``2024``, ``2024-1-5`` and ignores anything after ``T`` or a space.

Timestamps, zip codes and codes go through the twins of ``lakehouse.silver.normalize``, which
are exact (Spark's ``trim`` strips spaces only; the string-to-timestamp cast is replayed rule
for rule). A cart whose units add up beyond a 32-bit int is quarantined by Silver
(``cart_quantity_out_of_range``) and raised here with that reason.

Known difference, on inputs no real export sends: ``Double.toString`` of JDK 17 is not always
the shortest text (``1.0E23`` prints as ``9.999999999999999E22``); Python's shortest ``repr``
digits are used. Both read back as the same double.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql.types import ArrayType, StructType

from lakehouse.bronze.schemas import SESSION_SOURCE_SCHEMA
from lakehouse.bronze.sessions import ERROR_MALFORMED_JSON, ERROR_NOT_A_DOCUMENT
from lakehouse.config import SessionsSettings, Settings
from lakehouse.features import FeatureError
from lakehouse.gold.delivery import (
    BOOLEAN_FEATURES,
    CATEGORICAL_FEATURES,
    DISTANCE_DECIMALS,
    EARTH_RADIUS_KM,
    MODEL_FEATURES,
    MONEY_DECIMALS,
    NUMERIC_FEATURES,
    WEEKEND_FIRST_DAY,
    WEIGHT_DECIMALS,
)
from lakehouse.silver import sessions as ss
from lakehouse.silver.normalize import (
    epoch_or_iso_micros_py,
    has_huge_exponent_py,
    normalize_zip_py,
    upper_code_py,
)
from lakehouse.silver.schemas import MONEY
from lakehouse.tables import SILVER_HOLIDAYS, SILVER_WAREHOUSES, SILVER_ZIP_CODES

# What a checkout's features are returned with: identity and time, then the model features.
KEY_COLUMNS = ["record_id", "event_ts", "order_date"]
FEATURE_COLUMNS = KEY_COLUMNS + MODEL_FEATURES

# A valid record that is not a checkout has no Gold row; Silver has no code for that.
REASON_NOT_A_CHECKOUT = "not_a_checkout"
# The field a FeatureError names when the document as a whole is at fault.
DOCUMENT_FIELD = "_source"

INTEGER_FEATURES = [
    "day_of_year",
    "day_of_week",
    "hour_of_day",
    "item_count",
    "promised_days",
    "days_to_next_holiday",
    "holidays_in_window",
]
FLOAT_FEATURES = [c for c in NUMERIC_FEATURES if c not in INTEGER_FEATURES]
# features_frame's dtypes: nullable ints stay ints, null doubles are NaN, flags are never null.
FRAME_DTYPES: dict[str, str] = {
    "record_id": "object",
    "event_ts": "datetime64[us, UTC]",
    "order_date": "object",
    **{c: "Int64" for c in INTEGER_FEATURES},
    **{c: "float64" for c in FLOAT_FEATURES},
    **{c: "bool" for c in BOOLEAN_FEATURES},
    **{c: "object" for c in CATEGORICAL_FEATURES},
}

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MICROS = timedelta(microseconds=1)
_TWO_R = 2 * EARTH_RADIUS_KM  # Gold multiplies by the literal 2R, not by 2 then R
_QUANTUM = {d: Decimal(1).scaleb(-d) for d in {DISTANCE_DECIMALS, WEIGHT_DECIMALS, MONEY_DECIMALS}}
_POWERS_OF_TEN = {d: 10**d for d in _QUANTUM}
# Every double at or beyond 2**52 is a whole number: rounding to decimals leaves it as it is.
_WHOLE_DOUBLES = 2.0**52
# Silver reads unit prices as MONEY, decimal(12,2)
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY.scale)
_MONEY_INTEGER_DIGITS = MONEY.precision - MONEY.scale
_VALUE_IN_MESSAGE = 60


# --- Bronze: the text Spark's JSON reader keeps for a value --------------------------------


def _java_double_text(value: float) -> str:
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


def _json_escape(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch < " ":
            out.append(_SHORT_ESCAPES.get(ch) or f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _json_compact(value: Any) -> str:
    """Jackson's compact JSON of an object or list kept in a string field."""
    if isinstance(value, Mapping):
        inner = ",".join(f"{_json_escape(str(k))}:{_json_compact(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_compact(v) for v in value) + "]"
    if isinstance(value, str):
        return _json_escape(value)
    if value is None:
        return "null"
    return _text(value)


def _text(value: Any) -> str | None:
    """The text Bronze holds for a JSON value read into a string field (None for null)."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _java_double_text(value)
    if isinstance(value, Mapping | list | tuple):
        return _json_compact(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float | Decimal):
        return _java_double_text(float(value))
    return str(value)


_STRUCT, _ARRAY = "struct", "array"


def _shape_of(schema: StructType) -> tuple:
    """The fields of ``schema`` that must hold an object or a list (strings take anything)."""
    shape = []
    for f in schema.fields:
        if isinstance(f.dataType, StructType):
            shape.append((f.name, _STRUCT, _shape_of(f.dataType)))
        elif isinstance(f.dataType, ArrayType):
            element = f.dataType.elementType
            shape.append(
                (f.name, _ARRAY, _shape_of(element) if isinstance(element, StructType) else None)
            )
    return tuple(shape)


_SOURCE_SHAPE = _shape_of(SESSION_SOURCE_SCHEMA)
_SOURCE_FIELDS = tuple(SESSION_SOURCE_SCHEMA.fieldNames())


def _is_object(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _is_list(value: Any) -> bool:
    return type(value) is list or isinstance(value, list | tuple)


def _well_shaped(obj: Mapping, shape: tuple) -> bool:
    """Whether every value where Spark's schema wants an object or a list is one (fast path)."""
    for name, kind, inner in shape:
        value = obj.get(name)
        if value is None:
            continue
        if kind is _STRUCT:
            if type(value) is not dict and not isinstance(value, Mapping):
                return False
            if inner and not _well_shaped(value, inner):
                return False
        elif type(value) is not list and not isinstance(value, list | tuple):
            return False
        elif inner is not None:
            for element in value:
                if element is None:
                    continue
                if type(element) is not dict and not isinstance(element, Mapping):
                    return False
                if inner and not _well_shaped(element, inner):
                    return False
    return True


def _misshapen(obj: Mapping, shape: tuple, path: str) -> str | None:
    """Path of the first value where Spark's schema wants an object or a list and gets another."""
    if _well_shaped(obj, shape):
        return None
    for name, kind, inner in shape:
        value = obj.get(name)
        if value is None:
            continue
        where = path + name
        if kind is _STRUCT:
            if not _is_object(value):
                return where
            bad = _misshapen(value, inner, where + ".")
            if bad:
                return bad
            continue
        if not _is_list(value):
            return where
        if inner is None:
            continue
        for i, element in enumerate(value):
            if element is None:
                continue
            if not _is_object(element):
                return f"{where}[{i}]"
            bad = _misshapen(element, inner, f"{where}[{i}].")
            if bad:
                return bad
    return None


def _blank_to_null(value: Any) -> str | None:
    """Bronze's ``_blank_to_null``: the text trimmed of spaces, None when nothing is left."""
    text = _text(value)
    if text is None:
        return None
    return text.strip(" ") or None


def _parse_bronze(document: Any) -> tuple[Mapping | None, str | None, str]:
    """Bronze's ``with_parsed_record`` for one document already decoded from JSON.

    Returns:
        The ``_source`` document, the record id, and the prefix of field paths in the request
        (``_source.`` for a hit, nothing for a bare document).
    """
    if not isinstance(document, Mapping):
        raise FeatureError(
            DOCUMENT_FIELD, ERROR_MALFORMED_JSON, "the document is not a JSON object"
        )
    wrapped = document.get("_source")
    is_hit = wrapped is not None or document.get("_id") is not None
    bad = None
    if wrapped is not None and not _is_object(wrapped):
        bad = "_source"
    bad = bad or _misshapen(document, _SOURCE_SHAPE, "")
    if bad is None and wrapped is not None:
        bad = _misshapen(wrapped, _SOURCE_SHAPE, "_source.")
    if bad is not None:
        raise FeatureError(bad, ERROR_MALFORMED_JSON, f"{bad}: not the object or list expected")
    if not is_hit and all(document.get(name) is None for name in _SOURCE_FIELDS):
        raise FeatureError(
            DOCUMENT_FIELD, ERROR_NOT_A_DOCUMENT, "no field of a session document is set"
        )
    record_id = (
        (_blank_to_null(wrapped.get("id")) if wrapped is not None else None)
        or _blank_to_null(document.get("id"))
        or _blank_to_null(document.get("_id"))
    )
    return (wrapped if is_hit else document), record_id, ("_source." if is_hit else "")


# --- Silver: Spark's casts of a text --------------------------------------------------------

# UTF8String's numeric and date parsers skip ASCII whitespace and control bytes at both ends;
# java.lang.String.trim (decimals, doubles) skips every char up to U+0020.
_BYTE_TRIM = "".join(map(chr, range(0x21))) + "\x7f"
_JAVA_TRIM = "".join(map(chr, range(0x21)))
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


def _is_present(text: str | None) -> bool:
    """Silver's ``_present``: not null and not blank after ``trim``."""
    return text is not None and text.strip(" ") != ""


def _try_int(text: str) -> int | None:
    """``try_cast(text as int)``: an exact integer in range, nothing else (``2.0`` is null)."""
    body = text.strip(_BYTE_TRIM)
    if not _INT_TEXT.fullmatch(body):
        return None
    value = int(body)
    return value if _INT32_MIN <= value <= _INT32_MAX else None


@lru_cache(maxsize=65_536)
def _try_money(text: str) -> Decimal | None:
    """Silver's ``try_decimal(text, decimal(12,2))``: BigDecimal's grammar, rounded half up."""
    if has_huge_exponent_py(text):
        return None
    body = text.strip(_JAVA_TRIM)
    match = _DECIMAL_TEXT.fullmatch(body)
    if match is None:
        return None
    if match.group(1) is not None and not _INT32_MIN <= int(match.group(1)) <= _INT32_MAX:
        return None  # BigDecimal's scale is an int
    number = Decimal(body)
    if number.adjusted() >= _MONEY_INTEGER_DIGITS:
        return None
    rounded = number.quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_UP)
    if rounded.adjusted() >= _MONEY_INTEGER_DIGITS:  # 9999999999.995 rounds out of range
        return None
    return rounded + 0  # Spark has no negative zero decimal


def _try_double(text: str) -> float | None:
    """``try_cast(text as double)``: ``Double.parseDouble``, then Spark's special literals."""
    body = text.strip(_JAVA_TRIM)
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


def _days_from_civil(year: int, month: int, day: int) -> int | None:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year), None when invalid."""
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


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@lru_cache(maxsize=65_536)
def _try_to_date(text: str) -> int | None:
    """``try_to_date(text)`` (Spark's ``stringToDate``) as days since 1970-01-01.

    ``[+-]yyyy[y..]``, ``-[m]m``, ``-[d]d``; after a complete day a space or ``T`` ends the
    date and the rest is ignored.
    """
    body = text.strip(_BYTE_TRIM)
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
    return _days_from_civil(sign * segments[0], segments[1], segments[2])


def _valid_digits(segment: int, digits: int) -> bool:
    return 4 <= digits <= 7 if segment == 0 else 0 < digits <= 2


@lru_cache(maxsize=65_536)
def _normalize_zip(text: str) -> str | None:
    # the twin, cached: zip codes repeat a lot
    return normalize_zip_py(text)


# --- Gold: Spark's arithmetic ---------------------------------------------------------------


def spark_round(value: float | None, decimals: int) -> float | None:
    """``F.round`` of a double: ``BigDecimal.valueOf(value).setScale(decimals, HALF_UP)``.

    Half up on the shortest decimal text of the double (2.675 rounds to 2.68, although the
    double is slightly below it); NaN and infinities stay as they are.
    """
    if value is None or value != value or abs(value) >= _WHOLE_DOUBLES:
        return value
    text = repr(value)
    if "e" in text:  # below 1e-4 (larger values in exponent form are whole numbers)
        rounded = Decimal(text).quantize(_QUANTUM[decimals], rounding=ROUND_HALF_UP)
        return float(rounded) + 0.0  # BigDecimal has no negative zero
    # Half up on the digits themselves: faster than Decimal, same result. The quotient of two
    # integers below 2**53 is correctly rounded, so it is the double nearest the decimal.
    negative = text[0] == "-"
    whole, _, fraction = text.lstrip("-").partition(".")
    if len(fraction) <= decimals:
        return value + 0.0
    scaled = int(whole + fraction[:decimals]) + (fraction[decimals] >= "5")
    result = scaled / _POWERS_OF_TEN[decimals]
    return -result if negative and scaled else result


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Gold's ``haversine_km`` with the same double operations in the same order.

    ``F.pow(x, 2)`` is ``Math.pow(x, 2.0)``; HotSpot special-cases it as ``x * x``.
    """
    dlat = math.radians(lat2 - lat1)
    dlon = math.radians(lon2 - lon1)
    sin_lat = math.sin(dlat / 2)
    sin_lon = math.sin(dlon / 2)
    a = sin_lat * sin_lat + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * (
        sin_lon * sin_lon
    )
    return _TWO_R * math.asin(math.sqrt(a))


# --- rules and reference data ---------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryRules:
    """Silver's validation rules for session documents and Gold's holiday window.

    Attributes:
        epoch_seconds_below: Numeric ``createdDateTime`` values below this are epoch seconds.
        min_event_ts: Earliest valid event time (inclusive; naive means UTC).
        max_event_ts: Latest valid event time (exclusive; naive means UTC).
        holiday_window_days: Days after the order date that ``holidays_in_window`` counts.
    """

    epoch_seconds_below: int
    min_event_ts: datetime
    max_event_ts: datetime
    holiday_window_days: int

    def __post_init__(self) -> None:
        for name in ("min_event_ts", "max_event_ts"):
            value = getattr(self, name)
            aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            object.__setattr__(self, name, aware)

    @classmethod
    def from_settings(cls, settings: Settings | SessionsSettings) -> DeliveryRules:
        """The rules the pipeline runs with (``sessions`` section of the configuration)."""
        sessions = settings.sessions if isinstance(settings, Settings) else settings
        return cls(
            epoch_seconds_below=sessions.epoch_seconds_below,
            min_event_ts=sessions.min_event_ts,
            max_event_ts=sessions.max_event_ts,
            holiday_window_days=sessions.holiday_window_days,
        )


def _as_rules(rules: DeliveryRules | Settings | SessionsSettings) -> DeliveryRules:
    return rules if isinstance(rules, DeliveryRules) else DeliveryRules.from_settings(rules)


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


@dataclass(frozen=True, eq=False)
class DeliveryReference:
    """The Silver reference tables, indexed for one-document lookups.

    Attributes:
        zip_codes: zip code -> (latitude, longitude, is_remote_area).
        warehouses: warehouse id -> (latitude, longitude).
        holidays: Every holiday date, sorted, without repeats (all countries, as Gold).
        table_versions: The Delta version each table was read at (``layer/name`` -> version),
            when loaded from the lake; the model's lineage should name the same versions.
    """

    zip_codes: Mapping[str, tuple[float | None, float | None, bool]]
    warehouses: Mapping[str, tuple[float | None, float | None]]
    holidays: tuple[date, ...]
    table_versions: Mapping[str, int] = field(default_factory=dict)
    _holiday_days: tuple[int, ...] = field(init=False, repr=False)
    # distance per (zip, warehouse) pair of known keys: bounded by the reference tables
    _distances: dict = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zip_codes", MappingProxyType(dict(self.zip_codes)))
        object.__setattr__(self, "warehouses", MappingProxyType(dict(self.warehouses)))
        object.__setattr__(self, "table_versions", MappingProxyType(dict(self.table_versions)))
        holidays = tuple(sorted(set(self.holidays)))
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(
            self, "_holiday_days", tuple(d.toordinal() - _EPOCH_ORDINAL for d in holidays)
        )

    @classmethod
    def from_frames(
        cls,
        zip_codes_pdf: pd.DataFrame,
        warehouses_pdf: pd.DataFrame,
        holidays_pdf: pd.DataFrame,
        table_versions: Mapping[str, int] | None = None,
    ) -> DeliveryReference:
        """Index pandas frames with the columns of the Silver reference tables.

        Args:
            zip_codes_pdf: ``zip_code``, ``latitude``, ``longitude``, ``is_remote_area``.
            warehouses_pdf: ``warehouse_id``, ``latitude``, ``longitude``.
            holidays_pdf: ``date`` (dates, datetimes or ISO strings).
            table_versions: Where the rows came from, for lineage.

        Raises:
            ValueError: When a zip code or warehouse id occurs twice (Silver quarantines
                duplicate keys, and Gold's left join would repeat the checkout).
        """

        def coordinate(value: Any) -> float | None:
            return None if _is_null(value) else float(value)

        zips: dict[str, tuple[float | None, float | None, bool]] = {}
        for zip_code, lat, lon, remote in zip(
            zip_codes_pdf["zip_code"],
            zip_codes_pdf["latitude"],
            zip_codes_pdf["longitude"],
            zip_codes_pdf["is_remote_area"],
            strict=True,
        ):
            if _is_null(zip_code):
                continue  # a null key never matches in a join
            if zip_code in zips:
                raise ValueError(f"zip code {zip_code!r} occurs twice in the reference data")
            # Gold: coalesce(is_remote_area, false)
            zips[zip_code] = (
                coordinate(lat),
                coordinate(lon),
                False if _is_null(remote) else bool(remote),
            )
        warehouses: dict[str, tuple[float | None, float | None]] = {}
        for warehouse_id, lat, lon in zip(
            warehouses_pdf["warehouse_id"],
            warehouses_pdf["latitude"],
            warehouses_pdf["longitude"],
            strict=True,
        ):
            if _is_null(warehouse_id):
                continue
            if warehouse_id in warehouses:
                raise ValueError(f"warehouse {warehouse_id!r} occurs twice in the reference data")
            warehouses[warehouse_id] = (coordinate(lat), coordinate(lon))
        holidays = tuple(_as_date(d) for d in holidays_pdf["date"] if not _is_null(d))
        return cls(zips, warehouses, holidays, dict(table_versions or {}))

    def distance_km(self, zip_code: str | None, warehouse_id: str | None) -> float | None:
        """Gold's rounded ``distance_km``; None when either end or a coordinate is unknown."""
        key = (zip_code, warehouse_id)
        cached = self._distances.get(key, _MISSING)
        if cached is not _MISSING:
            return cached
        destination = self.zip_codes.get(zip_code) if zip_code is not None else None
        origin = self.warehouses.get(warehouse_id) if warehouse_id is not None else None
        if destination is None or origin is None:
            return None  # not cached: unknown keys come from requests and are unbounded
        if None in (origin[0], origin[1], destination[0], destination[1]):
            distance = None
        else:
            distance = spark_round(
                haversine_km(origin[0], origin[1], destination[0], destination[1]),
                DISTANCE_DECIMALS,
            )
        self._distances[key] = distance
        return distance

    def holiday_features(self, order_day: int, window_days: int) -> tuple[bool, int | None, int]:
        """``is_holiday``, ``days_to_next_holiday``, ``holidays_in_window`` of a date.

        Args:
            order_day: The order date as days since 1970-01-01.
            window_days: Gold's ``holiday_window_days``.
        """
        days = self._holiday_days
        first = bisect_left(days, order_day)
        upcoming = first < len(days)
        in_window = bisect_right(days, order_day + window_days) - first
        return (
            upcoming and days[first] == order_day,
            days[first] - order_day if upcoming else None,
            max(in_window, 0),
        )


_MISSING = object()

_REFERENCE_COLUMNS = {
    SILVER_ZIP_CODES: ["zip_code", "latitude", "longitude", "is_remote_area"],
    SILVER_WAREHOUSES: ["warehouse_id", "latitude", "longitude"],
    SILVER_HOLIDAYS: ["date"],
}


def load_delivery_reference(
    settings: Settings, versions: Mapping[str, int] | None = None
) -> DeliveryReference:
    """Read the Silver reference tables with ``deltalake`` (no JVM) and index them.

    Args:
        settings: Where the lake is.
        versions: ``layer/name`` -> Delta version to read (e.g. the source versions recorded
            by the Gold build a model was trained on); other keys are ignored, tables not named
            are read at their latest version.

    Returns:
        The reference data, with the versions it was read at in ``table_versions``.

    Raises:
        FileNotFoundError: When a reference table does not exist yet.
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    versions = versions or {}
    frames, read_versions = {}, {}
    for table, columns in _REFERENCE_COLUMNS.items():
        path = settings.table_path(*table)
        try:
            delta = DeltaTable(path, version=versions.get(table.key))
        except TableNotFoundError as exc:
            raise FileNotFoundError(
                f"{table.key} does not exist at {path}: run `lakehouse silver --source reference`"
            ) from exc
        frames[table] = delta.to_pandas(columns=columns)
        read_versions[table.key] = delta.version()
    return DeliveryReference.from_frames(
        frames[SILVER_ZIP_CODES], frames[SILVER_WAREHOUSES], frames[SILVER_HOLIDAYS], read_versions
    )


# --- one document ---------------------------------------------------------------------------


_EMPTY: Mapping = MappingProxyType({})


@lru_cache(maxsize=4_096)
def _upper_code(text: str | None) -> str | None:
    # the twin, cached: methods, carriers, states and warehouses are few
    return upper_code_py(text)


@lru_cache(maxsize=256)
def _first_day_of_year(year: int) -> int:
    return date(year, 1, 1).toordinal() - _EPOCH_ORDINAL


def _shown(text: str | None) -> str:
    shown = repr(text)
    return shown if len(shown) <= _VALUE_IN_MESSAGE else shown[: _VALUE_IN_MESSAGE - 3] + "..."


@lru_cache(maxsize=16_384, typed=True)
def _cached_price(raw: str | int | float) -> tuple[str | None, float | None]:
    return _uncached_price(raw)


def _uncached_price(raw: Any) -> tuple[str | None, float | None]:
    # unit_price as Gold reads it: decimal(12,2) of the trimmed text, then cast to double
    text = _text(raw)
    number = None if text is None else _try_money(text.strip(" "))
    return text, None if number is None else float(number)


def _price(raw: Any) -> tuple[str | None, float | None]:
    """The text of a ``unitPrice`` and Gold's double of it (prices repeat: cached)."""
    if type(raw) in (str, int, float):
        return _cached_price(raw)
    return _uncached_price(raw)


def _cart(
    items: list | None, path: str, problems: list
) -> tuple[int | None, float | None, float | None]:
    """Validate the items as Silver does and aggregate them as Gold does.

    Appends Silver's invalid-item problems to ``problems``; returns item count, weight and
    value (all None without an item list).
    """
    if items is None:
        return None, None, None
    count, weight, value = 0, 0.0, 0.0
    for i, item in enumerate(items):
        if item is None:
            continue  # a null item types to a struct of nulls: it adds zeros
        quantity = price = kg = None
        raw = item.get("quantity")
        if type(raw) is int:  # the usual JSON number: its text is its digits
            quantity = raw if _INT32_MIN <= raw <= _INT32_MAX else None
            bad = quantity is None or quantity < 0
        else:
            text = _text(raw)
            if text is not None:
                quantity = _try_int(text.strip(" "))
            bad = _is_present(text) and (quantity is None or quantity < 0)
        if bad:
            problems.append((f"{path}[{i}].quantity", ss.REASON_INVALID_CART_ITEM, _text(raw)))
        text, price = _price(item.get("unitPrice"))
        if _is_present(text) and (price is None or price < 0):
            problems.append((f"{path}[{i}].unitPrice", ss.REASON_INVALID_CART_ITEM, text))
        raw = item.get("weightKg")
        if type(raw) is float and math.isfinite(raw):  # Double.toString reads back exactly
            kg = raw
            bad = kg < 0
        else:
            text = _text(raw)
            if text is not None:
                kg = _try_double(text.strip(" "))
            bad = _is_present(text) and (kg is None or kg < 0)
        if bad:
            problems.append((f"{path}[{i}].weightKg", ss.REASON_INVALID_CART_ITEM, _text(raw)))
        q = quantity or 0
        count += q
        weight += q * (0.0 if kg is None else kg)
        value += q * (0.0 if price is None else price)
    if count > ss.MAX_CART_UNITS:
        problems.append((path, ss.REASON_CART_QUANTITY_OUT_OF_RANGE, str(count)))
    return count, weight, value


def _row(document: Any, reference: DeliveryReference, rules: DeliveryRules) -> tuple:
    """The values of ``FEATURE_COLUMNS`` for one document (see ``checkout_features``)."""
    source, record_id, prefix = _parse_bronze(document)
    doc = source or _EMPTY
    shipping = doc.get("shipping")
    shipping = shipping or _EMPTY
    address = shipping.get("address") or _EMPTY
    cart = doc.get("cart") or _EMPTY
    delivery = doc.get("delivery") or _EMPTY
    problems: list[tuple[str, str, str | None]] = []

    # Silver's checks, in Silver's order
    if record_id is None:
        problems.append((prefix + "id", ss.REASON_MISSING_RECORD_ID, None))
    created = _text(doc.get("createdDateTime"))
    event_ts = None
    if not _is_present(created):
        problems.append((prefix + "createdDateTime", ss.REASON_MISSING_CREATED_TS, created))
    else:
        # microseconds first: Spark reads instants (year 10000) that a datetime cannot hold
        event_us = epoch_or_iso_micros_py(created, rules.epoch_seconds_below)
        if event_us is None:
            problems.append((prefix + "createdDateTime", ss.REASON_INVALID_CREATED_TS, created))
        elif not _micros_of(rules.min_event_ts) <= event_us < _micros_of(rules.max_event_ts):
            problems.append(
                (prefix + "createdDateTime", ss.REASON_CREATED_TS_OUT_OF_RANGE, created)
            )
        else:
            event_ts = _EPOCH + timedelta(microseconds=event_us)
    event_type_text = _text(doc.get("eventType"))
    event_type = _upper_code(event_type_text)
    if event_type not in ss.EVENT_TYPES:
        problems.append((prefix + "eventType", ss.REASON_INVALID_EVENT_TYPE, event_type_text))
    zip_text = _text(address.get("zipCode"))
    zip_code = None if zip_text is None else _normalize_zip(zip_text)
    if zip_code is None and _is_present(zip_text):
        problems.append((prefix + "shipping.address.zipCode", ss.REASON_INVALID_ZIP, zip_text))
    items = cart.get("items")
    item_count, weight, value = _cart(items, prefix + "cart.items", problems)
    delivered = _text(delivery.get("deliveredDateTime"))
    if (
        _is_present(delivered)
        and epoch_or_iso_micros_py(delivered, rules.epoch_seconds_below) is None
    ):
        problems.append(
            (prefix + "delivery.deliveredDateTime", ss.REASON_INVALID_DELIVERED_TS, delivered)
        )
    promised_text = _text(shipping.get("promisedDeliveryDate"))
    promised_day = None if promised_text is None else _try_to_date(promised_text.strip(" "))
    if promised_day is None and _is_present(promised_text):
        problems.append(
            (
                prefix + "shipping.promisedDeliveryDate",
                ss.REASON_INVALID_PROMISED_DATE,
                promised_text,
            )
        )
    if problems:
        path, reason, _ = problems[0]
        message = "; ".join(f"{p}: {r} (got {_shown(v)})" for p, r, v in problems)
        raise FeatureError(path, reason, message)
    if event_type != ss.CHECKOUT:
        raise FeatureError(
            prefix + "eventType", REASON_NOT_A_CHECKOUT, f"{event_type} has no delivery features"
        )

    # Gold
    order_date = event_ts.date()
    order_day = order_date.toordinal() - _EPOCH_ORDINAL
    day_of_week = order_date.weekday()
    warehouse_id = _upper_code(_text(shipping.get("warehouseId")))
    is_remote = reference.zip_codes.get(zip_code, _NOT_REMOTE)[2] if zip_code is not None else False
    is_holiday, days_to_next, in_window = reference.holiday_features(
        order_day, rules.holiday_window_days
    )
    return (
        record_id,
        event_ts,
        order_date,
        # numeric
        order_day - _first_day_of_year(order_date.year) + 1,
        day_of_week,
        event_ts.hour,
        reference.distance_km(zip_code, warehouse_id),
        item_count,
        spark_round(weight, WEIGHT_DECIMALS),
        spark_round(value, MONEY_DECIMALS),
        None if promised_day is None else promised_day - order_day,
        days_to_next,
        in_window,
        # boolean
        day_of_week >= WEEKEND_FIRST_DAY,
        is_remote,
        is_holiday,
        # categorical
        _upper_code(_text(shipping.get("method"))),
        _upper_code(_text(shipping.get("carrier"))),
        warehouse_id,
        _upper_code(_text(address.get("state"))),
        zip_code,
    )


_NOT_REMOTE = (None, None, False)


@lru_cache(maxsize=16)
def _micros_of(ts: datetime) -> int:
    """An aware datetime as microseconds since the epoch (the rules' bounds: few, cached)."""
    return (ts - _EPOCH) // _MICROS


if [*KEY_COLUMNS, *NUMERIC_FEATURES, *BOOLEAN_FEATURES, *CATEGORICAL_FEATURES] != FEATURE_COLUMNS:
    raise AssertionError("_row returns the numeric, boolean, then categorical features")


def checkout_features(
    document: Mapping[str, Any],
    reference: DeliveryReference,
    rules: DeliveryRules | Settings | SessionsSettings,
) -> dict[str, Any]:
    """The model features Gold computes for one checkout document.

    Args:
        document: A ``_source`` document as decoded from JSON, or a hit wrapping one
            (``{"_id": ..., "_source": {...}}``; ``_id`` is the record id when ``id`` is blank).
        reference: The reference data (``load_delivery_reference`` or ``from_frames``).
        rules: The ``sessions`` rules of the pipeline (or the settings holding them).

    Returns:
        ``record_id``, ``event_ts`` (aware, UTC), ``order_date`` and every column of
        ``MODEL_FEATURES``, with Gold's values: ints as int, flags as bool, null as None. An
        unknown zip code or warehouse gives a null distance and no remote flag, as Gold's left
        joins do; an unknown shipping method is kept as it is.

    Raises:
        FeatureError: For a document Bronze or Silver would quarantine (the field path and
            Silver's reason code of the first failing rule; the message lists all), for a
            valid record that is not a checkout (``not_a_checkout``).
    """
    return dict(zip(FEATURE_COLUMNS, _row(document, reference, _as_rules(rules)), strict=True))


def _int_array(values: tuple) -> pd.arrays.IntegerArray:
    """A nullable ``Int64`` array, built directly (``pd.array`` of a list is slower)."""
    n = len(values)
    mask = np.fromiter((v is None for v in values), dtype=bool, count=n)
    data = np.fromiter((0 if v is None else v for v in values), dtype=np.int64, count=n)
    return pd.arrays.IntegerArray(data, mask)


def features_frame(
    documents: Iterable[Mapping[str, Any]],
    reference: DeliveryReference,
    rules: DeliveryRules | Settings | SessionsSettings,
    *,
    errors: list[tuple[int, FeatureError]] | None = None,
) -> pd.DataFrame:
    """``checkout_features`` of many documents as one frame (``FEATURE_COLUMNS``, ``FRAME_DTYPES``).

    Args:
        documents: The documents, in request order.
        reference: The reference data.
        rules: The ``sessions`` rules of the pipeline.
        errors: When given, invalid documents are left out and ``(position, error)`` is
            appended here for each; the frame's index holds the positions of the rows kept.

    Raises:
        FeatureError: For the first invalid document when ``errors`` is None; its field is
            prefixed with the position (``[3].shipping.address.zipCode``).
    """
    rules = _as_rules(rules)
    rows, positions = [], []
    for position, document in enumerate(documents):
        try:
            rows.append(_row(document, reference, rules))
        except FeatureError as exc:
            if errors is None:
                raise FeatureError(
                    f"[{position}].{exc.field}", exc.reason, f"[{position}] {exc}"
                ) from exc
            errors.append((position, exc))
            continue
        positions.append(position)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(FEATURE_COLUMNS)
    data = {}
    for name, values in zip(FEATURE_COLUMNS, columns, strict=True):
        dtype = FRAME_DTYPES[name]
        if name == "event_ts":
            micros = np.array([(ts - _EPOCH) // _MICROS for ts in values], dtype="datetime64[us]")
            data[name] = pd.DatetimeIndex(micros).tz_localize(UTC).array
        elif dtype == "float64":
            data[name] = np.array([np.nan if v is None else v for v in values], dtype="float64")
        elif dtype == "object":
            data[name] = np.array(values, dtype=object)
        elif dtype == "bool":
            data[name] = np.array(values, dtype=bool)
        else:
            data[name] = _int_array(values)
    return pd.DataFrame(data, index=pd.Index(positions, dtype="int64"))
