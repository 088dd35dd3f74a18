"""Gold ``delivery_features`` constants and model columns: shared by Spark and the online twin.

No pyspark here, so that ``lakehouse.gold.delivery`` (Spark), ``lakehouse.gold.delivery_online``
(the service) and the models read one definition.
"""

from __future__ import annotations

EARTH_RADIUS_KM = 6371.0088
WEEKEND_FIRST_DAY = 5  # weekday(): 0 = Monday ... 5 = Saturday, 6 = Sunday
DISTANCE_DECIMALS, WEIGHT_DECIMALS, MONEY_DECIMALS = 3, 3, 2

NUMERIC_FEATURES = [
    "day_of_year",
    "day_of_week",
    "hour_of_day",
    "distance_km",
    "item_count",
    "total_weight_kg",
    "order_value",
    "promised_days",
    "days_to_next_holiday",
    "holidays_in_window",
]
BOOLEAN_FEATURES = ["is_weekend", "is_remote_area", "is_holiday"]
CATEGORICAL_FEATURES = ["shipping_method", "carrier", "warehouse_id", "ship_state", "zip_code"]
MODEL_FEATURES = NUMERIC_FEATURES + BOOLEAN_FEATURES + CATEGORICAL_FEATURES
LABEL = "delivery_days"
