"""Gold: ``delivery_features``, one row per checkout, model-ready (CONTRACT section 2.1).

Every model feature is computable from one checkout document plus reference data, because the
prediction service computes the same features online: ``lakehouse.gold.delivery_online``
mirrors these column functions with the constants of ``lakehouse.gold.delivery_rules``, and
``tests/gold/test_delivery_online.py`` proves both agree record for record.
Session-history columns are for analysis only and stay out of ``MODEL_FEATURES``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import CHECKOUT, DELIVERY_FEATURES_COLUMNS
from lakehouse.gold.delivery_rules import (
    DISTANCE_DECIMALS,
    EARTH_RADIUS_KM,
    MONEY_DECIMALS,
    WEEKEND_FIRST_DAY,
    WEIGHT_DECIMALS,
)


def haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """Great-circle distance in kilometres."""
    dlat = F.radians(lat2 - lat1)
    dlon = F.radians(lon2 - lon1)
    a = F.pow(F.sin(dlat / 2), 2) + F.cos(F.radians(lat1)) * F.cos(F.radians(lat2)) * F.pow(
        F.sin(dlon / 2), 2
    )
    return F.lit(2 * EARTH_RADIUS_KM) * F.asin(F.sqrt(a))


def filter_checkouts(silver_df: DataFrame) -> DataFrame:
    """Checkout events only."""
    return silver_df.where(F.col("event_type") == CHECKOUT)


def with_time_features(df: DataFrame) -> DataFrame:
    """Order date and calendar features of ``event_ts`` (UTC)."""
    return (
        df.withColumn("order_date", F.to_date("event_ts"))
        .withColumn("day_of_year", F.dayofyear("event_ts"))
        .withColumn("day_of_week", F.weekday("event_ts"))
        .withColumn("hour_of_day", F.hour("event_ts"))
        .withColumn("is_weekend", F.col("day_of_week") >= WEEKEND_FIRST_DAY)
    )


def with_cart_aggregates(df: DataFrame) -> DataFrame:
    """Units, lines, weight and value of the cart (null when there is no cart)."""
    items = F.col("cart_items")

    def total(expr) -> Column:
        return F.aggregate(items, F.lit(0.0).cast("double"), lambda acc, x: acc + expr(x))

    def quantity(x: Column) -> Column:
        return F.coalesce(x["quantity"], F.lit(0))

    return (
        # Summed as a bigint: Silver quarantines carts beyond an int
        # (cart_quantity_out_of_range), and a row written before that rule gets a null count
        # instead of failing the whole build on an ANSI overflow.
        df.withColumn(
            "item_count",
            F.aggregate(items, F.lit(0).cast("bigint"), lambda acc, x: acc + quantity(x)).try_cast(
                "int"
            ),
        )
        .withColumn("line_count", F.when(items.isNotNull(), F.size(items)))
        .withColumn(
            "total_weight_kg",
            F.round(
                total(lambda x: quantity(x) * F.coalesce(x["weight_kg"], F.lit(0.0))),
                WEIGHT_DECIMALS,
            ),
        )
        .withColumn(
            "order_value",
            F.round(
                total(
                    lambda x: quantity(x) * F.coalesce(x["unit_price"].cast("double"), F.lit(0.0))
                ),
                MONEY_DECIMALS,
            ),
        )
    )


def enrich_geo(df: DataFrame, zip_codes_df: DataFrame, warehouses_df: DataFrame) -> DataFrame:
    """Destination and warehouse coordinates, the distance between them, the remote flag."""
    zips = F.broadcast(
        zip_codes_df.select(
            "zip_code",
            F.col("latitude").alias("_dst_lat"),
            F.col("longitude").alias("_dst_lon"),
            F.col("is_remote_area").alias("_is_remote_area"),
        )
    )
    warehouses = F.broadcast(
        warehouses_df.select(
            "warehouse_id",
            F.col("latitude").alias("_wh_lat"),
            F.col("longitude").alias("_wh_lon"),
        )
    )
    return (
        df.join(zips, on="zip_code", how="left")
        .join(warehouses, on="warehouse_id", how="left")
        .withColumn(
            "distance_km",
            F.round(
                haversine_km(
                    F.col("_wh_lat"), F.col("_wh_lon"), F.col("_dst_lat"), F.col("_dst_lon")
                ),
                DISTANCE_DECIMALS,
            ),
        )
        .withColumn("is_known_zip", F.col("_dst_lat").isNotNull())
        .withColumn("is_remote_area", F.coalesce(F.col("_is_remote_area"), F.lit(False)))
        .drop("_dst_lat", "_dst_lon", "_wh_lat", "_wh_lon", "_is_remote_area")
    )


def with_holiday_features(df: DataFrame, holidays_df: DataFrame, window_days: int) -> DataFrame:
    """Holiday proximity of the order date: on a holiday, days to the next, count in window.

    The holiday calendar is tiny, so it travels as one sorted array (a one-row broadcast)
    instead of a range join.
    """
    calendar = F.broadcast(holidays_df.agg(F.sort_array(F.collect_set("date")).alias("_holidays")))
    holidays = F.coalesce(F.col("_holidays"), F.array().cast("array<date>"))
    upcoming = F.filter(holidays, lambda d: d >= F.col("order_date"))
    in_window = F.filter(upcoming, lambda d: d <= F.date_add(F.col("order_date"), window_days))
    return (
        df.crossJoin(calendar)
        .withColumn("is_holiday", F.array_contains(holidays, F.col("order_date")))
        .withColumn(
            "days_to_next_holiday",
            F.array_min(F.transform(upcoming, lambda d: F.datediff(d, F.col("order_date")))),
        )
        .withColumn("holidays_in_window", F.size(in_window))
        .drop("_holidays")
    )


def with_promised_days(df: DataFrame) -> DataFrame:
    """Days the shop promised at checkout (order date to promised delivery date)."""
    return df.withColumn("promised_days", F.datediff("promised_delivery_date", "order_date"))


def with_delivery_label(df: DataFrame) -> DataFrame:
    """``delivery_days``: calendar days (UTC) from order to delivery; null while undelivered."""
    delivered_date = F.to_date("delivered_ts")
    days = F.datediff(delivered_date, F.col("order_date"))
    return df.withColumn("delivered_date", delivered_date).withColumn(
        "delivery_days", F.when(days >= 0, days)
    )


def enrich_session_history(checkouts_df: DataFrame, events_df: DataFrame) -> DataFrame:
    """What the session did up to the checkout (analysis only: not a model feature)."""
    events = events_df.select(
        "session_id", F.col("event_ts").alias("_e_ts"), F.col("event_type").alias("_e_type")
    )
    history = (
        checkouts_df.select("record_id", "session_id", "event_ts")
        .join(events, on="session_id", how="inner")
        .where(F.col("_e_ts") <= F.col("event_ts"))
        .groupBy("record_id")
        .agg(
            F.count(F.lit(1)).alias("session_event_count"),
            F.sum((F.col("_e_type") == "PRODUCT_VIEW").cast("int")).alias("session_product_views"),
            F.sum((F.col("_e_type") == "ADD_TO_CART").cast("int")).alias("session_add_to_carts"),
            (F.max("_e_ts").cast("double") - F.min("_e_ts").cast("double")).alias(
                "session_duration_s"
            ),
        )
    )
    return checkouts_df.join(history, on="record_id", how="left")


def with_row_hash(df: DataFrame, columns: list[str]) -> DataFrame:
    """A content hash of ``columns``, so a rebuild rewrites only rows that changed."""
    return df.withColumn("row_hash", F.sha2(F.to_json(F.struct(*columns)), 256))


def to_delivery_features(
    silver_sessions_df: DataFrame,
    zip_codes_df: DataFrame,
    warehouses_df: DataFrame,
    holidays_df: DataFrame,
    *,
    holiday_window_days: int,
) -> DataFrame:
    """Silver sessions + reference data -> ``gold/delivery_features``."""
    checkouts_df = filter_checkouts(silver_sessions_df)
    features_df = (
        checkouts_df.transform(with_time_features)
        .transform(with_cart_aggregates)
        .transform(enrich_geo, zip_codes_df, warehouses_df)
        .transform(with_holiday_features, holidays_df, holiday_window_days)
        .transform(with_promised_days)
        .transform(with_delivery_label)
        .transform(enrich_session_history, silver_sessions_df)
    )
    content = [c for c in DELIVERY_FEATURES_COLUMNS if c != "row_hash"]
    return features_df.transform(with_row_hash, content).select(*DELIVERY_FEATURES_COLUMNS)
