"""Silver schemas: typed, PII-free, one row per record."""

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakehouse.silver.sessions_rules import MONEY_PRECISION, MONEY_SCALE

MONEY = DecimalType(MONEY_PRECISION, MONEY_SCALE)

SILVER_CART_ITEM_SCHEMA = StructType(
    [
        StructField("sku", StringType()),
        StructField("product_name", StringType()),
        StructField("category", StringType()),
        StructField("quantity", IntegerType()),
        StructField("unit_price", MONEY),
        StructField("weight_kg", DoubleType()),
    ]
)

# Which export of a record is newest: file modification time, then file, then position.
EXPORT_ORDER_SCHEMA = StructType(
    [
        StructField("modified_at", TimestampType()),
        StructField("source_file", StringType()),
        StructField("record_index", IntegerType()),
    ]
)

SILVER_SESSIONS_SCHEMA = StructType(
    [
        StructField("record_id", StringType(), False),
        StructField("session_id", StringType()),
        StructField("event_ts", TimestampType(), False),
        StructField("event_type", StringType(), False),
        StructField("customer_id", StringType()),
        StructField("customer_email_token", StringType()),
        StructField("customer_phone_token", StringType()),
        StructField("loyalty_tier", StringType()),
        StructField("device_type", StringType()),
        StructField("device_os", StringType()),
        StructField("app_version", StringType()),
        StructField("device_ip_token", StringType()),
        StructField("cart_currency", StringType()),
        StructField("cart_items", ArrayType(SILVER_CART_ITEM_SCHEMA)),
        StructField("shipping_method", StringType()),
        StructField("carrier", StringType()),
        StructField("warehouse_id", StringType()),
        StructField("promised_delivery_date", DateType()),
        StructField("ship_city", StringType()),
        StructField("ship_state", StringType()),
        StructField("zip_code", StringType()),
        StructField("ship_country", StringType()),
        StructField("delivery_status", StringType()),
        StructField("delivered_ts", TimestampType()),
        StructField("event_ts_format", StringType()),
        StructField("record_hash", StringType(), False),
        StructField("_export_order", EXPORT_ORDER_SCHEMA, False),
        StructField("_bronze_batch_id", LongType()),
    ]
)

QUARANTINE_SCHEMA = StructType(
    [
        StructField("reason", StringType(), False),
        StructField("reasons", ArrayType(StringType()), False),
        StructField("record_id", StringType()),
        StructField("raw_record", StringType()),
        StructField("source_file", StringType()),
        StructField("record_index", IntegerType()),
        StructField("source_modified_at", TimestampType()),
        StructField("bronze_batch_id", LongType()),
        StructField("quarantined_at", TimestampType()),
    ]
)

# audit/row_warnings: a kept row with an auxiliary field that was unreadable or unknown (the
# field is kept, or nulled when unreadable); no raw record, so no PII.
ROW_WARNINGS_SCHEMA = StructType(
    [
        StructField("source", StringType(), False),
        StructField("warning", StringType(), False),
        StructField("warnings", ArrayType(StringType()), False),
        StructField("record_id", StringType()),
        StructField("source_file", StringType()),
        StructField("record_index", IntegerType()),
        StructField("bronze_batch_id", LongType()),
        StructField("recorded_at", TimestampType()),
    ]
)

ZIP_CODES_SCHEMA = StructType(
    [
        StructField("zip_code", StringType(), False),
        StructField("city", StringType()),
        StructField("state", StringType()),
        StructField("latitude", DoubleType()),
        StructField("longitude", DoubleType()),
        StructField("is_remote_area", BooleanType()),
    ]
)

WAREHOUSES_SCHEMA = StructType(
    [
        StructField("warehouse_id", StringType(), False),
        StructField("zip_code", StringType()),
        StructField("latitude", DoubleType()),
        StructField("longitude", DoubleType()),
    ]
)

HOLIDAYS_SCHEMA = StructType(
    [
        StructField("date", DateType(), False),
        StructField("name", StringType()),
        StructField("country", StringType()),
    ]
)
