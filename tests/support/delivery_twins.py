"""Shared by the delivery twin tests: the CONTRACT document, small reference data, and the
same documents through the real Spark transforms, in memory."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from pyspark.sql import functions as F

from lakehouse.bronze.schemas import LANDING_FILE_SCHEMA
from lakehouse.bronze.sessions import (
    to_bronze_sessions,
    with_ingestion_metadata,
)
from lakehouse.config import load_settings
from lakehouse.contract import example_session_document
from lakehouse.features import FeatureError
from lakehouse.features.delivery_online import checkout_features
from lakehouse.gold.delivery import to_delivery_features
from lakehouse.gold.delivery_online import (
    FEATURE_COLUMNS,
    FLOAT_FEATURES,
    REASON_NOT_A_CHECKOUT,
    DeliveryReference,
    DeliveryRules,
)
from lakehouse.silver import sessions as ss
from lakehouse.silver.schemas import HOLIDAYS_SCHEMA, WAREHOUSES_SCHEMA, ZIP_CODES_SCHEMA

DOUBLE_TOLERANCE = 1e-9


RULES = DeliveryRules.from_settings(load_settings("local"))


HMAC_KEY = b"delivery-online-test-key"


ZIPS = [
    ("97201", "Portland", "OR", 45.5076, -122.6907, False),
    ("02139", "Cambridge", "MA", 42.3736, -71.1097, False),
    ("99501", "Anchorage", "AK", 61.2181, -149.9003, True),
    ("00501", "Holtsville", "NY", 40.8154, -73.0451, False),
]


WAREHOUSES = [("WH-07", "97201", 45.5152, -122.6784), ("WH-01", "02139", 42.3736, -71.1097)]


HOLIDAYS = [
    (date(2024, 1, 1), "New Year's Day", "US"),
    (date(2024, 11, 28), "Thanksgiving", "US"),
    (date(2024, 12, 25), "Christmas", "US"),
    # the same date for another country: Gold collects distinct dates of every country
    (date(2024, 12, 25), "Christmas", "CA"),
    (date(2025, 1, 1), "New Year's Day", "US"),
]


# CONTRACT section 1.1, with a warehouse and zip code of the reference data above
CONTRACT_DOC = example_session_document()


WORKED_TS = datetime(2024, 11, 17, 21, 53, 1, 293000, tzinfo=UTC)


DROP = object()  # as a value in ``variant``'s changes: remove the field


def variant(doc_id: str, changes: dict | None = None) -> dict:
    """The CONTRACT document with another id and ``changes`` (dotted path -> value or DROP)."""
    doc = copy.deepcopy(CONTRACT_DOC)
    doc["id"] = doc_id
    for path, value in (changes or {}).items():
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key = int(leaf) if isinstance(node, list) else leaf
        if value is DROP:
            del node[key]
        else:
            node[key] = value
    return doc


def hit(doc: dict, *, es_id: str | None = None) -> dict:
    return {
        "_index": "sessions-2024.11.17",
        "_id": es_id or doc.get("id"),
        "_score": 1.0,
        "_source": doc,
    }


def haversine_reference_km(lat1, lon1, lat2, lon2) -> float:
    """An independent haversine (different operation order), for approximate checks."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def make_reference() -> DeliveryReference:
    """The reference data above, as the twins index it."""
    return DeliveryReference.from_frames(
        pd.DataFrame(ZIPS, columns=ZIP_CODES_SCHEMA.fieldNames()),
        pd.DataFrame(WAREHOUSES, columns=WAREHOUSES_SCHEMA.fieldNames()),
        pd.DataFrame(HOLIDAYS, columns=HOLIDAYS_SCHEMA.fieldNames()),
    )


def spark_outcomes(spark, documents: list, rules: DeliveryRules = RULES) -> list:
    """Per document, in order: Gold's features (a dict), Silver's quarantine reason, or None.

    The documents travel as one NDJSON export file through Bronze, Silver and Gold.
    """
    lines = [d if isinstance(d, str) else json.dumps(d) for d in documents]
    files_df = spark.createDataFrame(
        [("\n".join(lines) + "\n", "memory://export.ndjson", datetime(2024, 12, 1))],
        LANDING_FILE_SCHEMA,
    )
    bronze_df = with_ingestion_metadata(to_bronze_sessions(files_df), 0)
    session_rules = ss.SessionRules(
        rules.epoch_seconds_below, rules.min_event_ts, rules.max_event_ts
    )
    checked_df = ss.with_quarantine_reasons(bronze_df, session_rules)
    reasons = {
        r["_record_index"]: r["reasons"][0]
        for r in ss.filter_invalid(checked_df).select("_record_index", "reasons").collect()
    }
    silver_df = ss.to_latest_silver_sessions(
        ss.filter_valid(checked_df), HMAC_KEY, rules.epoch_seconds_below
    )
    gold_df = to_delivery_features(
        silver_df,
        spark.createDataFrame(ZIPS, ZIP_CODES_SCHEMA),
        spark.createDataFrame(WAREHOUSES, WAREHOUSES_SCHEMA),
        spark.createDataFrame(HOLIDAYS, HOLIDAYS_SCHEMA),
        holiday_window_days=rules.holiday_window_days,
    )
    line_of = {
        r["record_id"]: r["_export_order"]["record_index"]
        for r in silver_df.select("record_id", "_export_order").collect()
    }
    gold = {}
    for row in gold_df.select(
        *FEATURE_COLUMNS, F.unix_micros("event_ts").alias("_event_us")
    ).collect():
        values = row.asDict()
        values["event_ts"] = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=values.pop("_event_us")
        )
        gold[line_of[values["record_id"]]] = values
    return [gold.get(i) or reasons.get(i) for i in range(1, len(lines) + 1)]


def online_outcome(document, reference) -> dict | str:
    try:
        return checkout_features(document, reference, RULES)
    except FeatureError as exc:
        return exc.reason


def differences(online: dict, gold: dict) -> list[str]:
    """Columns of ``FEATURE_COLUMNS`` that differ (floats within 1e-9, others exactly)."""
    found = []
    for column in FEATURE_COLUMNS:
        a, b = online[column], gold[column]
        if a is None or b is None:
            same = a is None and b is None
        elif column in FLOAT_FEATURES:
            same = (math.isnan(a) and math.isnan(b)) or abs(a - b) <= DOUBLE_TOLERANCE
        else:
            same = a == b and type(a) is type(b)
        if not same:
            found.append(f"{column}: online {a!r} != gold {b!r}")
    return found


def assert_same_outcomes(documents, online, gold) -> None:
    mismatches = []
    for doc, o, g in zip(documents, online, gold, strict=True):
        label = doc if isinstance(doc, str) else doc.get("id") or doc.get("_id")
        if g is None:
            # valid in Silver, no Gold row: must be a valid record that is not a checkout
            if o != REASON_NOT_A_CHECKOUT:
                mismatches.append(f"{label}: online {o!r}, Silver kept it without a Gold row")
        elif isinstance(g, str) or isinstance(o, str):
            if o != g:
                mismatches.append(f"{label}: online {o!r} != spark {g!r}")
        elif diff := differences(o, g):
            mismatches.append(f"{label}: {diff}")
    assert mismatches == []


CREATED, EVENT, ZIP, ITEM = "createdDateTime", "eventType", "shipping.address.zipCode", "cart.items"


PROMISED, DELIVERED = "shipping.promisedDeliveryDate", "delivery.deliveredDateTime"


QTY, PRICE, KG = "cart.items.0.quantity", "cart.items.0.unitPrice", "cart.items.0.weightKg"
