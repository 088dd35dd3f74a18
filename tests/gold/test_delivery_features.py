from datetime import date, datetime
from decimal import Decimal

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import Row

from lakehouse.contract import DELIVERY_FEATURES_COLUMNS
from lakehouse.gold.delivery import haversine_km, to_delivery_features
from lakehouse.gold.delivery_rules import MODEL_FEATURES
from lakehouse.silver.schemas import (
    HOLIDAYS_SCHEMA,
    SILVER_SESSIONS_SCHEMA,
    WAREHOUSES_SCHEMA,
    ZIP_CODES_SCHEMA,
)

ITEM = Row("sku", "product_name", "category", "quantity", "unit_price", "weight_kg")


def silver_row(**values):
    defaults = {
        "event_type": "CHECKOUT_COMPLETED",
        "record_hash": "h",
        "_export_order": (datetime(2024, 12, 1), "f", 1),
        "shipping_method": "STANDARD",
        "warehouse_id": "WH-07",
        "zip_code": "02139",
        "session_id": "s-1",
    }
    merged = {**defaults, **values}
    return tuple(merged.get(name) for name in SILVER_SESSIONS_SCHEMA.fieldNames())


@pytest.fixture
def reference(spark):
    zips = spark.createDataFrame(
        [
            ("02139", "Cambridge", "MA", 42.3736, -71.1097, False),
            ("99501", "Anchorage", "AK", 61.2181, -149.9003, True),
        ],
        ZIP_CODES_SCHEMA,
    )
    warehouses = spark.createDataFrame(
        [("WH-07", "97201", 45.5152, -122.6784), ("WH-01", "02139", 42.3736, -71.1097)],
        WAREHOUSES_SCHEMA,
    )
    holidays = spark.createDataFrame(
        [(date(2024, 11, 28), "Thanksgiving", "US"), (date(2024, 12, 25), "Christmas", "US")],
        HOLIDAYS_SCHEMA,
    )
    return zips, warehouses, holidays


def build(spark, rows, reference, window=7):
    silver_df = spark.createDataFrame(rows, SILVER_SESSIONS_SCHEMA)
    return to_delivery_features(silver_df, *reference, holiday_window_days=window)


def test_worked_example_and_contract_columns(spark, reference):
    rows = [
        silver_row(
            record_id="co-1",
            event_ts=datetime(2024, 11, 17, 21, 53, 1, 293000),
            cart_items=[
                ITEM("a", "A", "toys", 2, Decimal("19.99"), 0.4),
                ITEM("b", "B", "toys", 1, Decimal("5.00"), None),
            ],
            promised_delivery_date=date(2024, 11, 21),
            delivered_ts=datetime(2024, 11, 21, 23, 0),
        )
    ]
    gold_df = build(spark, rows, reference)
    assert gold_df.columns == DELIVERY_FEATURES_COLUMNS
    assert set(MODEL_FEATURES) <= set(gold_df.columns)
    row = gold_df.first()
    # CONTRACT section 2.1, worked example: 1731880381293 -> 2024-11-17 21:53:01.293 UTC
    assert (row["day_of_year"], row["day_of_week"], row["hour_of_day"]) == (322, 6, 21)
    assert row["is_weekend"] is True
    assert (row["item_count"], row["line_count"], row["total_weight_kg"], row["order_value"]) == (
        3,
        2,
        0.8,
        44.98,
    )
    assert row["distance_km"] == pytest.approx(4_100, rel=0.02)  # Portland OR -> Cambridge MA
    assert (row["promised_days"], row["delivery_days"], row["delivered_date"]) == (
        4,
        4,
        date(2024, 11, 21),
    )
    assert (row["days_to_next_holiday"], row["holidays_in_window"], row["is_holiday"]) == (
        11,
        0,
        False,
    )


def test_edge_rows(spark, reference):
    rows = [
        # on a holiday, from the nearby warehouse, to a remote zip; undelivered
        silver_row(
            record_id="holiday",
            event_ts=datetime(2024, 11, 28, 0, 0),
            zip_code="99501",
            warehouse_id="WH-01",
        ),
        # unknown zip and warehouse, no cart, delivered on the order day
        silver_row(
            record_id="unknown",
            event_ts=datetime(2024, 12, 31, 23, 59, 59),
            zip_code="00000",
            warehouse_id="WH-99",
            delivered_ts=datetime(2024, 12, 31, 23, 59, 59),
        ),
        # a delivery timestamp before the order cannot be a label
        silver_row(
            record_id="backwards",
            event_ts=datetime(2024, 2, 29, 12),
            delivered_ts=datetime(2024, 2, 28),
        ),
        # not a checkout: no Gold row
        silver_row(record_id="view", event_type="PRODUCT_VIEW", event_ts=datetime(2024, 2, 29, 11)),
    ]
    actual = build(spark, rows, reference).select(
        "record_id",
        "day_of_year",
        "day_of_week",
        "is_remote_area",
        "is_known_zip",
        "distance_km",
        "item_count",
        "is_holiday",
        "days_to_next_holiday",
        "holidays_in_window",
        "delivery_days",
    )
    expected = spark.createDataFrame(
        [
            ("holiday", 333, 3, True, True, 5_416.5, None, True, 0, 1, None),
            ("unknown", 366, 1, False, False, None, None, False, None, 0, 0),
            ("backwards", 60, 3, False, True, 4_072.1, None, False, 273, 0, None),
        ],
        actual.schema,
    )
    assert_approx_df_equality(
        actual, expected, precision=0.1, ignore_row_order=True, ignore_nullable=True
    )


def test_item_count_cannot_fail_the_build(spark, reference):
    """Quantities adding up beyond an int: Silver quarantines such carts today, and a row that
    reached Silver before gets a null count instead of failing the whole build."""
    int_max = 2**31 - 1
    items = [ITEM("a", None, None, int_max, None, 0.0), ITEM("b", None, None, 1, None, 0.0)]
    rows = [
        silver_row(record_id="int-max", event_ts=datetime(2024, 11, 1), cart_items=items[:1]),
        silver_row(record_id="beyond", event_ts=datetime(2024, 11, 1), cart_items=items),
    ]
    actual = build(spark, rows, reference).select("record_id", "item_count", "line_count")
    expected = spark.createDataFrame([("int-max", int_max, 1), ("beyond", None, 2)], actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    assert dict(actual.dtypes)["item_count"] == "int"


def test_session_history_counts_only_events_up_to_the_checkout(spark, reference):
    t = datetime(2024, 5, 1, 10, 0, 0)
    rows = [
        silver_row(record_id="start", event_type="SESSION_START", event_ts=t.replace(minute=0)),
        silver_row(record_id="v1", event_type="PRODUCT_VIEW", event_ts=t.replace(minute=1)),
        silver_row(record_id="v2", event_type="PRODUCT_VIEW", event_ts=t.replace(minute=2)),
        silver_row(record_id="c1", event_type="ADD_TO_CART", event_ts=t.replace(minute=3)),
        silver_row(record_id="co", event_ts=t.replace(minute=5)),
        silver_row(record_id="late", event_type="PRODUCT_VIEW", event_ts=t.replace(minute=9)),
    ]
    row = build(spark, rows, reference).first()
    assert row["record_id"] == "co"
    assert (
        row["session_event_count"],
        row["session_product_views"],
        row["session_add_to_carts"],
    ) == (5, 2, 1)
    assert row["session_duration_s"] == 300.0


def test_row_hash_changes_only_with_content(spark, reference):
    base = silver_row(record_id="co", event_ts=datetime(2024, 5, 1, 10))
    same = build(spark, [base], reference).first()["row_hash"]
    again = build(spark, [base], reference).first()["row_hash"]
    delivered = silver_row(
        record_id="co", event_ts=datetime(2024, 5, 1, 10), delivered_ts=datetime(2024, 5, 3)
    )
    changed = build(spark, [delivered], reference).first()["row_hash"]
    assert same == again != changed


def test_haversine_known_distance(spark):
    # London -> Paris is about 343.5 km
    row = (
        spark.range(1)
        .select(
            haversine_km(
                *[
                    __import__("pyspark.sql.functions").sql.functions.lit(v)
                    for v in (51.5074, -0.1278, 48.8566, 2.3522)
                ]
            ).alias("d")
        )
        .first()
    )
    assert row["d"] == pytest.approx(343.5, abs=1.0)
