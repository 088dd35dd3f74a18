"""Silver transforms for session events: validate, type, tokenize PII, keep the newest export.

Bronze row -> ``with_quarantine_reasons`` -> either ``to_quarantine_rows`` (with the reason and
where it came from) or ``to_silver_sessions`` (typed, PII replaced by tokens) ->
``filter_latest_export`` (one row per record id, the newest export wins).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, IntegerType

from lakehouse.bronze.schemas import CART_ITEM_SCHEMA
from lakehouse.contract import (
    EVENT_TYPES,
    REASON_CART_QUANTITY_OUT_OF_RANGE,
    REASON_CREATED_TS_OUT_OF_RANGE,
    REASON_INVALID_CART_ITEM,
    REASON_INVALID_CREATED_TS,
    REASON_INVALID_DELIVERED_TS,
    REASON_INVALID_EVENT_TYPE,
    REASON_INVALID_PROMISED_DATE,
    REASON_INVALID_ZIP,
    REASON_MISSING_CREATED_TS,
    REASON_MISSING_RECORD_ID,
)
from lakehouse.privacy import (
    hmac_token,
    normalize_email,
    normalize_phone,
    normalize_text,
    with_clear,
)
from lakehouse.silver.dedupe import first_per_key, transform_newest_per_key
from lakehouse.silver.normalize import (
    CONTROL_CHARS_PATTERN,
    HUGE_EXPONENT_PATTERN,
    epoch_or_iso_format,
    normalize_zip,
    parse_epoch_or_iso,
    try_decimal,
    upper_code,
)
from lakehouse.silver.reasons import reason_codes, warning_rows
from lakehouse.silver.schemas import MONEY, SILVER_CART_ITEM_SCHEMA, SILVER_SESSIONS_SCHEMA
from lakehouse.silver.sessions_rules import MAX_CART_UNITS


@dataclass(frozen=True)
class SessionRules:
    """The configurable part of Silver validation."""

    epoch_seconds_below: int
    min_event_ts: datetime
    max_event_ts: datetime


def _present(value: Column) -> Column:
    return value.isNotNull() & (F.trim(value) != "")


def _cart_item_is_invalid(item: Column) -> Column:
    def bad_number(raw: Column, type_: str) -> Column:
        text = F.trim(raw)
        number = try_decimal(text, type_) if type_ == MONEY else text.try_cast(type_)
        return _present(raw) & (number.isNull() | (number < 0))

    return (
        bad_number(item["quantity"], "int")
        | bad_number(item["unitPrice"], MONEY)
        | bad_number(item["weightKg"], "double")
    )


def has_invalid_cart_item(items: Column) -> Column:
    """Whether any item has a number that is present but not a number, or negative.

    Most carts are plainly valid: every number casts (the whole array at once, in generated
    code) and none is negative. The per-item lambda, evaluated interpreted, runs for the rest.
    """
    plainly_valid = F.lit(True)
    for field, type_ in (
        ("quantity", IntegerType()),
        ("unitPrice", MONEY),
        ("weightKg", DoubleType()),
    ):
        numbers = items[field].try_cast(ArrayType(type_))
        if type_ == MONEY:
            numbers = F.when(_no_huge_price_exponent(items), numbers)
        # false only without a null (a missing or failed number) and without a -1 (invalid)
        no_null = F.array_contains(numbers, F.lit(-1).cast(type_)) == F.lit(False)
        plainly_valid = plainly_valid & no_null & (F.array_min(numbers) >= 0)
    plainly_valid = (F.size(items) == 0) | F.coalesce(plainly_valid, F.lit(False))
    return items.isNotNull() & ~plainly_valid & F.exists(items, _cart_item_is_invalid)


def _no_huge_price_exponent(items: Column) -> Column:
    """No unit price has a huge exponent, which makes the decimal cast throw (see try_decimal)."""
    return ~F.array_join(items["unitPrice"], _SEP).rlike(HUGE_EXPONENT_PATTERN)


def cart_units(items: Column) -> Column:
    """Units in the cart, as a bigint (null without an item list; bad quantities count 0).

    A bigint cannot overflow here: each quantity is an int, and an array has fewer than 2**31
    elements.
    """
    return F.aggregate(
        items,
        F.lit(0).cast("bigint"),
        lambda acc, item: acc + F.coalesce(F.trim(item["quantity"]).try_cast("int"), F.lit(0)),
    )


def _cart_may_overflow(items: Column) -> Column:
    """Whether the units can add up beyond an int at all: only when the quantity texts hold
    more than 9 characters in all (numbers written with k characters in all sum below 10**k).

    A cheap guard, so that ``cart_units`` (a lambda, evaluated interpreted element by element)
    runs only for the rare carts that need it.
    """
    return F.length(F.array_join(items["quantity"], "")) > _INT_SAFE_DIGITS


_INT_SAFE_DIGITS = 9  # 10**9 - 1 < 2**31 - 1


def with_quarantine_reasons(bronze_df: DataFrame, rules: SessionRules) -> DataFrame:
    """Add ``reasons`` (array of codes, empty when the row is valid), ``warnings`` (codes of
    auxiliary fields that are unreadable: the row is kept with them null) and ``event_ts``."""
    source = F.col("source")
    created = source["createdDateTime"]
    event_ts = parse_epoch_or_iso(created, rules.epoch_seconds_below)
    zip_raw = source["shipping"]["address"]["zipCode"]
    delivered_raw = source["delivery"]["deliveredDateTime"]
    promised_raw = source["shipping"]["promisedDeliveryDate"]
    items = source["cart"]["items"]
    checks = [
        (F.col("record_id").isNull(), REASON_MISSING_RECORD_ID),
        (~_present(created), REASON_MISSING_CREATED_TS),
        (_present(created) & F.col("event_ts").isNull(), REASON_INVALID_CREATED_TS),
        (
            (F.col("event_ts") < F.lit(rules.min_event_ts))
            | (F.col("event_ts") >= F.lit(rules.max_event_ts)),
            REASON_CREATED_TS_OUT_OF_RANGE,
        ),
        (
            ~F.coalesce(upper_code(source["eventType"]).isin(*EVENT_TYPES), F.lit(False)),
            REASON_INVALID_EVENT_TYPE,
        ),
        (has_invalid_cart_item(items), REASON_INVALID_CART_ITEM),
        (
            _cart_may_overflow(items) & (cart_units(items) > MAX_CART_UNITS),
            REASON_CART_QUANTITY_OUT_OF_RANGE,
        ),
    ]
    # auxiliary fields: the record is kept with the field null (CONTRACT 2.3, warnings)
    warnings = [
        (_present(zip_raw) & normalize_zip(zip_raw).isNull(), REASON_INVALID_ZIP),
        (
            _present(delivered_raw)
            & parse_epoch_or_iso(delivered_raw, rules.epoch_seconds_below).isNull(),
            REASON_INVALID_DELIVERED_TS,
        ),
        (
            _present(promised_raw) & F.try_to_date(F.trim(promised_raw)).isNull(),
            REASON_INVALID_PROMISED_DATE,
        ),
    ]
    reasons = reason_codes(checks)
    # A record that could not be parsed has one reason; the checks would only echo it.
    return (
        bronze_df.withColumn("event_ts", F.when(~F.col("is_malformed"), event_ts))
        .withColumn(
            "reasons",
            F.when(F.col("is_malformed"), F.array(F.col("parse_error"))).otherwise(reasons),
        )
        .withColumn("warnings", reason_codes(warnings))
    )


def filter_valid(df: DataFrame) -> DataFrame:
    """Rows without a quarantine reason."""
    return df.where(F.size("reasons") == 0)


def filter_invalid(df: DataFrame) -> DataFrame:
    """Rows with at least one quarantine reason."""
    return df.where(F.size("reasons") > 0)


def to_quarantine_rows(invalid_df: DataFrame) -> DataFrame:
    """The quarantine contract: why, where from, and the raw record to replay."""
    return invalid_df.select(
        F.col("reasons")[0].alias("reason"),
        "reasons",
        "record_id",
        "raw_record",
        F.col("_source_file").alias("source_file"),
        F.col("_record_index").alias("record_index"),
        F.col("_source_modified_at").alias("source_modified_at"),
        F.col("_batch_id").alias("bronze_batch_id"),
        F.current_timestamp().alias("quarantined_at"),
    )


def to_warning_rows(warned_df: DataFrame) -> DataFrame:
    """The ``audit/row_warnings`` contract for kept session records that carry warnings."""
    return warning_rows(warned_df, "sessions", F.col("record_id"), F.col("_record_index"))


def typed_cart_items(items: Column) -> Column:
    """Silver's cart items: texts trimmed (blank is null), category lower case, numbers typed.

    Most carts hold texts that need no trimming: for those one cast of the whole array types
    the items exactly as the per-item lambda does (a string-to-number cast trims whitespace
    itself, and a failed value is null either way), in generated code. Higher-order functions
    are evaluated interpreted, several times slower, so the lambda runs only for the rest.
    """
    texts = F.array_join(F.concat(items["sku"], items["productName"], items["category"]), _SEP)
    categories = F.array_join(items["category"], _SEP)
    # false only when no item is null (the lambda makes a null item a struct of nulls, the
    # cast keeps it null): array_contains is null for an array with a null and no match
    probe = F.struct(*[F.lit("\u0000").alias(f.name) for f in CART_ITEM_SCHEMA.fields])
    no_null_item = F.array_contains(items, probe) == F.lit(False)
    castable = (F.size(items) == 0) | (
        no_null_item
        & ~texts.rlike(_UNTRIMMED_OR_BLANK_PART)
        & ~texts.rlike(CONTROL_CHARS_PATTERN)
        & (F.lower(categories) == categories)
        & _no_huge_price_exponent(items)
    )
    return F.when(castable, items.try_cast(ArrayType(SILVER_CART_ITEM_SCHEMA))).otherwise(
        _typed_cart_items_per_item(items)
    )


# Joins the texts of a cart; a text holding it only splits into more parts, each checked too.
# (A Unicode noncharacter: not a control character, which the texts must be checked for.)
_SEP = "\uffff"
# a part that is empty or starts or ends with a space (null texts are left out of the join)
_UNTRIMMED_OR_BLANK_PART = rf"(^|{_SEP})({_SEP}|\z| )| ({_SEP}|\z)"


def _typed_cart_items_per_item(items: Column) -> Column:
    return F.transform(
        items,
        lambda item: F.struct(
            normalize_text(item["sku"]).alias("sku"),
            normalize_text(item["productName"]).alias("product_name"),
            F.lower(normalize_text(item["category"])).alias("category"),
            F.trim(item["quantity"]).try_cast("int").alias("quantity"),
            try_decimal(F.trim(item["unitPrice"]), MONEY).alias("unit_price"),
            F.trim(item["weightKg"]).try_cast("double").alias("weight_kg"),
        ),
    )


def with_session_tokens(df: DataFrame, hmac_key: bytes) -> tuple[DataFrame, dict[str, Column]]:
    """``df`` with its personal fields decrypted once a row (``with_clear``), and Silver's
    tokens of them by column name: e-mail, phone and IP address."""
    s = F.col("source")
    pii = {"email": s["customer"]["email"], "phone": s["customer"]["phone"]}
    keyed, clear = with_clear(df, hmac_key, {**pii, "ip": s["device"]["ipAddress"]})
    return keyed, {
        "customer_email_token": hmac_token(normalize_email(clear["email"])),
        "customer_phone_token": hmac_token(normalize_phone(clear["phone"])),
        "device_ip_token": hmac_token(normalize_text(clear["ip"])),
    }


def to_silver_sessions(valid_df: DataFrame, hmac_key: bytes, epoch_seconds_below: int) -> DataFrame:
    """Typed Silver rows: PII replaced by keyed tokens (names and street lines are dropped).
    The personal fields are decrypted (Bronze keeps them encrypted) inside this query only.

    Args:
        valid_df: Bronze rows that passed ``with_quarantine_reasons``.
        hmac_key: The PII tokenization key.
        epoch_seconds_below: See ``parse_epoch_or_iso``.
    """
    s = F.col("source")
    address = s["shipping"]["address"]
    keyed, tokens = with_session_tokens(valid_df, hmac_key)
    business = [
        F.col("record_id"),
        normalize_text(s["sessionId"]).alias("session_id"),
        F.col("event_ts"),
        upper_code(s["eventType"]).alias("event_type"),
        normalize_text(s["customer"]["customerId"]).alias("customer_id"),
        tokens["customer_email_token"].alias("customer_email_token"),
        tokens["customer_phone_token"].alias("customer_phone_token"),
        upper_code(s["customer"]["loyaltyTier"]).alias("loyalty_tier"),
        upper_code(s["device"]["type"]).alias("device_type"),
        normalize_text(s["device"]["os"]).alias("device_os"),
        normalize_text(s["device"]["appVersion"]).alias("app_version"),
        tokens["device_ip_token"].alias("device_ip_token"),
        upper_code(s["cart"]["currency"]).alias("cart_currency"),
        typed_cart_items(s["cart"]["items"]).alias("cart_items"),
        upper_code(s["shipping"]["method"]).alias("shipping_method"),
        upper_code(s["shipping"]["carrier"]).alias("carrier"),
        upper_code(s["shipping"]["warehouseId"]).alias("warehouse_id"),
        F.try_to_date(F.trim(s["shipping"]["promisedDeliveryDate"])).alias(
            "promised_delivery_date"
        ),
        normalize_text(address["city"]).alias("ship_city"),
        upper_code(address["state"]).alias("ship_state"),
        normalize_zip(address["zipCode"]).alias("zip_code"),
        upper_code(address["country"]).alias("ship_country"),
        upper_code(s["delivery"]["status"]).alias("delivery_status"),
        parse_epoch_or_iso(s["delivery"]["deliveredDateTime"], epoch_seconds_below).alias(
            "delivered_ts"
        ),
    ]
    typed_df = keyed.select(
        *business,
        epoch_or_iso_format(s["createdDateTime"], epoch_seconds_below).alias("event_ts_format"),
        F.struct(
            F.col("_source_modified_at").alias("modified_at"),
            F.col("_source_file").alias("source_file"),
            F.col("_record_index").alias("record_index"),
        ).alias("_export_order"),
        F.col("_batch_id").alias("_bronze_batch_id"),
    )
    business_names = [c for c in SILVER_SESSIONS_SCHEMA.fieldNames() if c in typed_df.columns]
    business_names = business_names[: business_names.index("delivered_ts") + 1]
    # Identical re-exports hash the same whatever their lineage, so they are duplicates. The
    # hash only tells versions of one record apart, so 64 bits are plenty and cost far less
    # than serialising the row to JSON for SHA-256.
    record_hash = F.xxhash64(*business_names).cast("string")
    return typed_df.withColumn("record_hash", record_hash).select(
        *SILVER_SESSIONS_SCHEMA.fieldNames()
    )


def _newest_export_first() -> list[Column]:
    return [F.col("_export_order").desc()]


def filter_latest_export(silver_df: DataFrame) -> DataFrame:
    """One row per ``record_id``: the newest export (by ``_export_order``) wins."""
    return first_per_key(silver_df, ["record_id"], _newest_export_first())


# Newest export first; the Bronze batch breaks a tie (one export ingested twice), so the rows of
# a record never tie.
_EXPORT_ORDER_COLUMNS = ("_source_modified_at", "_source_file", "_record_index", "_batch_id")


def to_latest_silver_sessions(
    valid_df: DataFrame, hmac_key: bytes, epoch_seconds_below: int
) -> DataFrame:
    """``filter_latest_export(to_silver_sessions(valid_df))``, without shuffling wide rows."""
    return transform_newest_per_key(
        valid_df,
        ["record_id"],
        _EXPORT_ORDER_COLUMNS,
        lambda df: to_silver_sessions(df, hmac_key, epoch_seconds_below),
    )
