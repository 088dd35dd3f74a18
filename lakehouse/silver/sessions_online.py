"""Online twin of ``lakehouse.silver.sessions``: the quarantine rules for one document.

The same rules in the same order as ``with_quarantine_reasons``, through the Python twins of
``lakehouse.silver.normalize`` and the casts of ``lakehouse.spark_semantics``: the first
failing rule is raised as a ``FeatureError`` with Silver's reason code and the field path,
every failing rule is listed in its message. A valid document comes back typed as Silver
stores it (the columns the Gold features read).

Spark casts reproduced on purpose: a cart item's ``quantity`` is ``try_cast(int)`` (``"2.0"``
is not an int, so the item is invalid), ``unitPrice`` Silver's ``try_decimal`` to MONEY,
``weightKg`` ``try_cast(double)``; ``promisedDeliveryDate`` is ``try_to_date``. A cart whose
units add up beyond a 32-bit int is quarantined (``cart_quantity_out_of_range``).

No pyspark here: the prediction service runs this for every request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from lakehouse import contract
from lakehouse.bronze.sessions_online import json_text
from lakehouse.features import FeatureError
from lakehouse.silver.normalize_online import (
    epoch_or_iso_micros_py,
    has_huge_exponent_py,
    normalize_zip_py,
    upper_code_py,
)
from lakehouse.silver.sessions_rules import MAX_CART_UNITS, MONEY_PRECISION, MONEY_SCALE
from lakehouse.spark_semantics import (
    INT32_MAX,
    INT32_MIN,
    datetime_to_micros,
    micros_to_datetime,
    try_decimal,
    try_double,
    try_int,
    try_to_date,
)

if TYPE_CHECKING:
    from lakehouse.gold.delivery_online import DeliveryRules

_VALUE_IN_MESSAGE = 60
_EMPTY: Mapping = MappingProxyType({})


class SilverSession(NamedTuple):
    """A valid session document as Silver types it: the columns Gold's features read.

    Attributes:
        record_id: The record id.
        event_ts: ``event_ts``, aware UTC.
        event_type: Upper-cased event type (one of ``contract.EVENT_TYPES``).
        zip_code: Five-character zip code, or None.
        cart_items: ``(quantity, unit_price, weight_kg)`` of each item (None when absent;
            unit prices as the double Gold reads), or None without an item list.
        cart_units: The units in the cart (Silver checks them against an int), None without
            an item list.
        promised_day: ``promised_delivery_date`` as days since 1970-01-01, or None.
        shipping_method, carrier, warehouse_id, ship_state: Upper-cased codes, or None.
        warnings: ``(field path, code)`` of auxiliary fields that were present but unreadable
            and are null here, as Silver keeps the record (``contract.SESSION_WARNINGS``).
    """

    record_id: str
    event_ts: datetime
    event_type: str
    zip_code: str | None
    cart_items: list[tuple[int | None, float | None, float | None]] | None
    cart_units: int | None
    promised_day: int | None
    shipping_method: str | None
    carrier: str | None
    warehouse_id: str | None
    ship_state: str | None
    warnings: tuple[tuple[str, str], ...] = ()


def is_present(text: str | None) -> bool:
    """Silver's ``_present``: not null and not blank after ``trim``."""
    return text is not None and text.strip(" ") != ""


@lru_cache(maxsize=65_536)
def try_money(text: str) -> Decimal | None:
    """Silver's ``try_decimal(text, MONEY)``: null for a huge exponent, else the cast."""
    if has_huge_exponent_py(text):
        return None
    return try_decimal(text, MONEY_PRECISION, MONEY_SCALE)


@lru_cache(maxsize=65_536)
def _normalize_zip(text: str) -> str | None:
    # the twin, cached: zip codes repeat a lot
    return normalize_zip_py(text)


@lru_cache(maxsize=4_096)
def _upper_code(text: str | None) -> str | None:
    # the twin, cached: methods, carriers, states and warehouses are few
    return upper_code_py(text)


def _shown(text: str | None) -> str:
    shown = repr(text)
    return shown if len(shown) <= _VALUE_IN_MESSAGE else shown[: _VALUE_IN_MESSAGE - 3] + "..."


@lru_cache(maxsize=16_384, typed=True)
def _cached_price(raw: str | int | float) -> tuple[str | None, float | None]:
    return _uncached_price(raw)


def _uncached_price(raw: Any) -> tuple[str | None, float | None]:
    # unit_price as Gold reads it: decimal(12,2) of the trimmed text, then cast to double
    text = json_text(raw)
    number = None if text is None else try_money(text.strip(" "))
    return text, None if number is None else float(number)


def _price(raw: Any) -> tuple[str | None, float | None]:
    """The text of a ``unitPrice`` and Gold's double of it (prices repeat: cached)."""
    if type(raw) in (str, int, float):
        return _cached_price(raw)
    return _uncached_price(raw)


def _cart(
    items: list | None, path: str, problems: list
) -> tuple[list[tuple[int | None, float | None, float | None]] | None, int | None]:
    """Type the items as Silver does and apply its item rules.

    Appends Silver's invalid-item problems to ``problems``; returns the typed items and the
    units in the cart (both None without an item list).
    """
    if items is None:
        return None, None
    typed, count = [], 0
    for i, item in enumerate(items):
        if item is None:
            continue  # a null item types to a struct of nulls: it adds zeros
        quantity = price = kg = None
        raw = item.get("quantity")
        if type(raw) is int:  # the usual JSON number: its text is its digits
            quantity = raw if INT32_MIN <= raw <= INT32_MAX else None
            bad = quantity is None or quantity < 0
        else:
            text = json_text(raw)
            if text is not None:
                quantity = try_int(text.strip(" "))
            bad = is_present(text) and (quantity is None or quantity < 0)
        if bad:
            problems.append(
                (f"{path}[{i}].quantity", contract.REASON_INVALID_CART_ITEM, json_text(raw))
            )
        text, price = _price(item.get("unitPrice"))
        if is_present(text) and (price is None or price < 0):
            problems.append((f"{path}[{i}].unitPrice", contract.REASON_INVALID_CART_ITEM, text))
        raw = item.get("weightKg")
        if type(raw) is float and math.isfinite(raw):  # Double.toString reads back exactly
            kg = raw
            bad = kg < 0
        else:
            text = json_text(raw)
            if text is not None:
                kg = try_double(text.strip(" "))
            bad = is_present(text) and (kg is None or kg < 0)
        if bad:
            problems.append(
                (f"{path}[{i}].weightKg", contract.REASON_INVALID_CART_ITEM, json_text(raw))
            )
        count += quantity or 0
        typed.append((quantity, price, kg))
    if count > MAX_CART_UNITS:
        problems.append((path, contract.REASON_CART_QUANTITY_OUT_OF_RANGE, str(count)))
    return typed, count


@lru_cache(maxsize=16)
def _micros_of(ts: datetime) -> int:
    """An aware datetime as microseconds since the epoch (the rules' bounds: few, cached)."""
    return datetime_to_micros(ts)


def silver_session(
    source: Mapping | None, record_id: str | None, prefix: str, rules: DeliveryRules
) -> SilverSession:
    """Silver's quarantine rules for one parsed document, and its typed columns (with the
    warnings Silver records for it).

    Args:
        source: The ``_source`` document (``lakehouse.bronze.sessions_online.parse_document``).
        record_id: Bronze's record id.
        prefix: The prefix of field paths in the request (``_source.`` for a hit).
        rules: Silver's configurable rules (``epoch_seconds_below``, ``min_event_ts``,
            ``max_event_ts``).

    Raises:
        FeatureError: With the field path and Silver's reason code of the first failing rule;
            the message lists every failing rule with the value it got.
    """
    doc = source or _EMPTY
    shipping = doc.get("shipping") or _EMPTY
    address = shipping.get("address") or _EMPTY
    cart = doc.get("cart") or _EMPTY
    delivery = doc.get("delivery") or _EMPTY
    problems: list[tuple[str, str, str | None]] = []

    # Silver's checks, in Silver's order
    if record_id is None:
        problems.append((prefix + "id", contract.REASON_MISSING_RECORD_ID, None))
    created = json_text(doc.get("createdDateTime"))
    event_ts = None
    if not is_present(created):
        problems.append((prefix + "createdDateTime", contract.REASON_MISSING_CREATED_TS, created))
    else:
        # microseconds first: Spark reads instants (year 10000) that a datetime cannot hold
        event_us = epoch_or_iso_micros_py(created, rules.epoch_seconds_below)
        if event_us is None:
            problems.append(
                (prefix + "createdDateTime", contract.REASON_INVALID_CREATED_TS, created)
            )
        elif not _micros_of(rules.min_event_ts) <= event_us < _micros_of(rules.max_event_ts):
            problems.append(
                (prefix + "createdDateTime", contract.REASON_CREATED_TS_OUT_OF_RANGE, created)
            )
        else:
            event_ts = micros_to_datetime(event_us)
    event_type_text = json_text(doc.get("eventType"))
    event_type = _upper_code(event_type_text)
    if event_type not in contract.EVENT_TYPES:
        problems.append((prefix + "eventType", contract.REASON_INVALID_EVENT_TYPE, event_type_text))
    zip_text = json_text(address.get("zipCode"))
    items, units = _cart(cart.get("items"), prefix + "cart.items", problems)
    # auxiliary fields: unreadable ones only warn, and are null (Silver keeps the record)
    warnings: list[tuple[str, str]] = []
    zip_code = None if zip_text is None else _normalize_zip(zip_text)
    if zip_code is None and is_present(zip_text):
        warnings.append((prefix + "shipping.address.zipCode", contract.REASON_INVALID_ZIP))
    delivered = json_text(delivery.get("deliveredDateTime"))
    if (
        is_present(delivered)
        and epoch_or_iso_micros_py(delivered, rules.epoch_seconds_below) is None
    ):
        warnings.append(
            (prefix + "delivery.deliveredDateTime", contract.REASON_INVALID_DELIVERED_TS)
        )
    promised_text = json_text(shipping.get("promisedDeliveryDate"))
    promised_day = None if promised_text is None else try_to_date(promised_text.strip(" "))
    if promised_day is None and is_present(promised_text):
        warnings.append(
            (prefix + "shipping.promisedDeliveryDate", contract.REASON_INVALID_PROMISED_DATE)
        )
    if problems:
        path, reason, _ = problems[0]
        message = "; ".join(f"{p}: {r} (got {_shown(v)})" for p, r, v in problems)
        raise FeatureError(path, reason, message)
    return SilverSession(
        record_id,
        event_ts,
        event_type,
        zip_code,
        items,
        units,
        promised_day,
        _upper_code(json_text(shipping.get("method"))),
        _upper_code(json_text(shipping.get("carrier"))),
        _upper_code(json_text(shipping.get("warehouseId"))),
        _upper_code(json_text(address.get("state"))),
        tuple(warnings),
    )
