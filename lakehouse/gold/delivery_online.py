"""Online twin of ``lakehouse.gold.delivery``: the model features of one valid checkout.

Takes a document as the Silver twin types it (``lakehouse.silver.sessions_online``) and
computes calendar, cart, distance, holiday and promise features with the constants of
``lakehouse.gold.delivery_rules``, the same IEEE operations in the same order, Spark's
``round`` (half up on the decimal text of the double, ``lakehouse.spark_semantics``) and the
same nulls for what is unknown. ``DeliveryReference`` indexes the Silver reference tables for
Gold's joins; it is built from data (pandas frames), never reads the lake itself.

No pyspark here: the prediction service runs this for every request.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from lakehouse.config import SessionsSettings, Settings
from lakehouse.contract import CHECKOUT
from lakehouse.features import FeatureError
from lakehouse.gold.delivery_rules import (
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
from lakehouse.silver.sessions_online import SilverSession
from lakehouse.spark_semantics import EPOCH, MICROSECOND, day_number, spark_round
from lakehouse.tables import SILVER_HOLIDAYS, SILVER_WAREHOUSES, SILVER_ZIP_CODES

# What a checkout's features are returned with: identity and time, then the model features.
KEY_COLUMNS = ["record_id", "event_ts", "order_date"]
FEATURE_COLUMNS = KEY_COLUMNS + MODEL_FEATURES

# A valid record that is not a checkout has no Gold row; Silver has no code for that.
REASON_NOT_A_CHECKOUT = "not_a_checkout"

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

# The columns of the Silver reference tables that DeliveryReference.from_frames reads.
REFERENCE_COLUMNS = {
    SILVER_ZIP_CODES: ["zip_code", "latitude", "longitude", "is_remote_area"],
    SILVER_WAREHOUSES: ["warehouse_id", "latitude", "longitude"],
    SILVER_HOLIDAYS: ["date"],
}

_TWO_R = 2 * EARTH_RADIUS_KM  # Gold multiplies by the literal 2R, not by 2 then R


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


def as_rules(rules: DeliveryRules | Settings | SessionsSettings) -> DeliveryRules:
    """``rules`` as ``DeliveryRules`` (settings are read with ``from_settings``)."""
    return rules if isinstance(rules, DeliveryRules) else DeliveryRules.from_settings(rules)


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


_MISSING = object()


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
        object.__setattr__(self, "_holiday_days", tuple(day_number(d) for d in holidays))

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


# --- one checkout ---------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _first_day_of_year(year: int) -> int:
    return day_number(date(year, 1, 1))


_NOT_REMOTE = (None, None, False)


def checkout_row(
    session: SilverSession, prefix: str, reference: DeliveryReference, rules: DeliveryRules
) -> tuple:
    """The values of ``FEATURE_COLUMNS`` Gold computes for one valid Silver session.

    Args:
        session: The document as the Silver twin types it.
        prefix: The prefix of field paths in the request (``_source.`` for a hit).
        reference: The reference data.
        rules: Gold's ``holiday_window_days`` (and Silver's rules).

    Raises:
        FeatureError: ``not_a_checkout`` for a valid record of another event type (Gold
            keeps checkouts only).
    """
    if session.event_type != CHECKOUT:
        raise FeatureError(
            prefix + "eventType",
            REASON_NOT_A_CHECKOUT,
            f"{session.event_type} has no delivery features",
        )
    event_ts = session.event_ts
    order_date = event_ts.date()
    order_day = day_number(order_date)
    day_of_week = order_date.weekday()
    zip_code = session.zip_code
    warehouse_id = session.warehouse_id
    items = session.cart_items
    weight = value = None
    if items is not None:  # Gold's with_cart_aggregates
        weight, value = 0.0, 0.0
        for quantity, price, kg in items:
            q = quantity or 0
            weight += q * (0.0 if kg is None else kg)
            value += q * (0.0 if price is None else price)
    is_remote = reference.zip_codes.get(zip_code, _NOT_REMOTE)[2] if zip_code is not None else False
    is_holiday, days_to_next, in_window = reference.holiday_features(
        order_day, rules.holiday_window_days
    )
    promised_day = session.promised_day
    return (
        session.record_id,
        event_ts,
        order_date,
        # numeric
        order_day - _first_day_of_year(order_date.year) + 1,
        day_of_week,
        event_ts.hour,
        reference.distance_km(zip_code, warehouse_id),
        session.cart_units,
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
        session.shipping_method,
        session.carrier,
        warehouse_id,
        session.ship_state,
        zip_code,
    )


if [*KEY_COLUMNS, *NUMERIC_FEATURES, *BOOLEAN_FEATURES, *CATEGORICAL_FEATURES] != FEATURE_COLUMNS:
    raise AssertionError("checkout_row returns the numeric, boolean, then categorical features")


def _int_array(values: tuple) -> pd.arrays.IntegerArray:
    """A nullable ``Int64`` array, built directly (``pd.array`` of a list is slower)."""
    n = len(values)
    mask = np.fromiter((v is None for v in values), dtype=bool, count=n)
    data = np.fromiter((0 if v is None else v for v in values), dtype=np.int64, count=n)
    return pd.arrays.IntegerArray(data, mask)


def rows_frame(rows: Sequence[tuple], positions: Sequence[int]) -> pd.DataFrame:
    """``checkout_row`` results as one frame (``FEATURE_COLUMNS``, ``FRAME_DTYPES``).

    Args:
        rows: The rows.
        positions: The frame's index (each row's position in the request).
    """
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(FEATURE_COLUMNS)
    data = {}
    for name, values in zip(FEATURE_COLUMNS, columns, strict=True):
        dtype = FRAME_DTYPES[name]
        if name == "event_ts":
            micros = np.array(
                [(ts - EPOCH) // MICROSECOND for ts in values], dtype="datetime64[us]"
            )
            data[name] = pd.DatetimeIndex(micros).tz_localize(UTC).array
        elif dtype == "float64":
            data[name] = np.array([np.nan if v is None else v for v in values], dtype="float64")
        elif dtype == "object":
            data[name] = np.array(values, dtype=object)
        elif dtype == "bool":
            data[name] = np.array(values, dtype=bool)
        else:
            data[name] = _int_array(values)
    return pd.DataFrame(data, index=pd.Index(list(positions), dtype="int64"))
