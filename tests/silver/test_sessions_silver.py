import json
from datetime import UTC, date, datetime
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse.bronze.schemas import LANDING_FILE_SCHEMA
from lakehouse.bronze.sessions import to_bronze_sessions, with_ingestion_metadata
from lakehouse.contract import EXAMPLE_SESSION_DOCUMENT, example_session_document
from lakehouse.privacy import token_of
from lakehouse.silver.schemas import SILVER_SESSIONS_SCHEMA
from lakehouse.silver.sessions import (
    SessionRules,
    filter_invalid,
    filter_latest_export,
    filter_valid,
    to_latest_silver_sessions,
    to_quarantine_rows,
    to_silver_sessions,
    to_warning_rows,
    with_quarantine_reasons,
)

KEY = b"test-key"
RULES = SessionRules(
    epoch_seconds_below=100_000_000_000,
    min_event_ts=datetime(2000, 1, 1, tzinfo=UTC),
    max_event_ts=datetime(2100, 1, 1, tzinfo=UTC),
)
# The contract's document, with values Silver must normalise (case, spaces, ZIP+4)
CHECKOUT = example_session_document(
    changes={
        "id": "rec-1",
        "sessionId": "s-1",
        "eventType": "checkout_completed",
        "customer": {"email": " Jane.Doe@Example.com"},
        "cart": {
            "items": [
                {**EXAMPLE_SESSION_DOCUMENT["cart"]["items"][0], "sku": "SKU-1", "category": "Toys"}
            ]
        },
        "shipping": {"address": {"zipCode": "97201-1234"}},
    }
)
PII_VALUES = [
    "Jane.Doe@Example.com",
    "jane.doe@example.com",
    "Jane",
    "Doe",
    "+1-555-0100",
    "203.0.113.7",
    "12 Main St",
]


def bronze(spark, records, modified=datetime(2024, 11, 18), name="f.ndjson", batch_id=0):
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records)
    files_df = spark.createDataFrame([(text, name, modified)], LANDING_FILE_SCHEMA)
    return with_ingestion_metadata(files_df.transform(to_bronze_sessions), batch_id)


def with_(doc, **changes):
    merged = json.loads(json.dumps(doc))
    for path, value in changes.items():
        node = merged
        *parents, leaf = path.split("__")
        for p in parents:
            node = node[p]
        if value is ...:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return merged


def test_every_anomaly_gets_its_reason(spark):
    cases = {
        "ok": CHECKOUT,
        "malformed": '{"id": "x", "createdDateTime": ',
        "no_id": with_(CHECKOUT, id=...),
        "null_ts": with_(CHECKOUT, id="null_ts", createdDateTime=None),
        "missing_ts": with_(CHECKOUT, id="missing_ts", createdDateTime=...),
        "bad_ts": with_(CHECKOUT, id="bad_ts", createdDateTime="yesterday"),
        "old_ts": with_(CHECKOUT, id="old_ts", createdDateTime="1999-12-31T23:59:59Z"),
        "bad_type": with_(CHECKOUT, id="bad_type", eventType="LOGOUT"),
        "no_type": with_(CHECKOUT, id="no_type", eventType=...),
        "bad_zip": with_(CHECKOUT, id="bad_zip", shipping__address__zipCode="ABCDE"),
        "bad_qty": with_(CHECKOUT, id="bad_qty", cart__items=[{"sku": "a", "quantity": "two"}]),
        "neg_price": with_(CHECKOUT, id="neg_price", cart__items=[{"sku": "a", "unitPrice": -1}]),
        "bad_delivery": with_(CHECKOUT, id="bad_delivery", delivery__deliveredDateTime="soon"),
        "bad_promise": with_(
            CHECKOUT, id="bad_promise", shipping__promisedDeliveryDate="2024-02-30"
        ),
    }
    checked = with_quarantine_reasons(bronze(spark, list(cases.values())), RULES)
    reasons = [r["reasons"] for r in checked.orderBy("_record_index").collect()]
    assert reasons == [
        [],
        ["malformed_json"],
        ["missing_record_id"],
        ["missing_created_ts"],
        ["missing_created_ts"],
        ["invalid_created_ts"],
        ["created_ts_out_of_range"],
        ["invalid_event_type"],
        ["invalid_event_type"],
        [],
        ["invalid_cart_item"],
        ["invalid_cart_item"],
        [],
        [],
    ]
    # an unreadable zip, delivery time or promised date only warns: the record is kept
    warnings = {r["record_id"]: r["warnings"] for r in checked.collect() if r["warnings"]}
    assert warnings == {
        "bad_zip": ["invalid_zip_code"],
        "bad_delivery": ["invalid_delivered_ts"],
        "bad_promise": ["invalid_promised_date"],
    }
    kept = to_silver_sessions(filter_valid(checked), KEY, RULES.epoch_seconds_below)
    typed = {r["record_id"]: r for r in kept.collect()}
    assert typed["bad_zip"]["zip_code"] is None
    assert typed["bad_delivery"]["delivered_ts"] is None
    assert typed["bad_promise"]["promised_delivery_date"] is None
    warned = to_warning_rows(checked.where(F.size("warnings") > 0)).collect()
    assert sorted((r["record_id"], r["warning"], r["source"]) for r in warned) == [
        ("bad_delivery", "invalid_delivered_ts", "sessions"),
        ("bad_promise", "invalid_promised_date", "sessions"),
        ("bad_zip", "invalid_zip_code", "sessions"),
    ]
    quarantine = to_quarantine_rows(filter_invalid(checked)).orderBy("record_index").collect()
    assert len(quarantine) == len(cases) - 4
    first = quarantine[0]
    assert (first["reason"], first["source_file"], first["record_index"]) == (
        "malformed_json",
        "f.ndjson",
        2,
    )
    assert first["raw_record"] == cases["malformed"]
    assert filter_valid(checked).count() == 4  # the clean record and the three warned ones


def test_typed_row_with_tokens_and_no_raw_pii(spark):
    checked = with_quarantine_reasons(bronze(spark, [CHECKOUT]), RULES)
    silver_df = to_silver_sessions(filter_valid(checked), KEY, RULES.epoch_seconds_below)
    assert silver_df.schema.fieldNames() == SILVER_SESSIONS_SCHEMA.fieldNames()
    row = silver_df.first().asDict()
    assert row["event_ts"] == datetime(2024, 11, 17, 21, 53, 1, 293000)
    assert (row["event_type"], row["zip_code"], row["ship_state"]) == (
        "CHECKOUT_COMPLETED",
        "97201",
        "OR",
    )
    assert row["cart_items"][0].asDict() == {
        "sku": "SKU-1",
        "product_name": "Wooden train",
        "category": "toys",
        "quantity": 2,
        "unit_price": Decimal("19.99"),
        "weight_kg": 0.4,
    }
    assert row["promised_delivery_date"] == date(2024, 11, 21)
    assert row["delivered_ts"] == datetime(2024, 11, 21, 23, 0)
    assert row["customer_email_token"] == token_of("jane.doe@example.com", KEY)
    assert row["customer_phone_token"] == token_of("+15550100", KEY)
    assert row["device_ip_token"] == token_of("203.0.113.7", KEY)
    flat = json.dumps(silver_df.toJSON().collect())
    for pii in PII_VALUES:
        assert pii not in flat


def test_missing_sections_give_nulls_not_errors(spark):
    bare = {"id": "v-1", "createdDateTime": "1731880381", "eventType": "PRODUCT_VIEW"}
    checked = with_quarantine_reasons(bronze(spark, [bare]), RULES)
    row = to_silver_sessions(filter_valid(checked), KEY, RULES.epoch_seconds_below).first()
    assert row["event_ts"] == datetime(2024, 11, 17, 21, 53, 1)
    assert row["event_ts_format"] == "epoch_seconds"
    assert (row["cart_items"], row["zip_code"], row["customer_email_token"]) == (None, None, None)


def test_newest_export_wins_and_identical_exports_hash_alike(spark):
    undelivered = with_(CHECKOUT, delivery={"status": "IN_TRANSIT"})
    older = bronze(spark, [undelivered, undelivered], modified=datetime(2024, 11, 18), name="a")
    newer = bronze(spark, [CHECKOUT], modified=datetime(2024, 11, 25), name="b")
    # a stale copy that arrives last, in a later batch, but was exported first
    stale = bronze(spark, [undelivered], modified=datetime(2024, 11, 1), name="c", batch_id=3)
    checked = with_quarantine_reasons(older.unionByName(newer).unionByName(stale), RULES)
    silver_df = to_silver_sessions(filter_valid(checked), KEY, RULES.epoch_seconds_below)
    hashes = silver_df.groupBy("record_hash").count().collect()
    assert sorted(r["count"] for r in hashes) == [1, 3]
    latest = filter_latest_export(silver_df)
    expected = spark.createDataFrame(
        [("rec-1", "DELIVERED", "b")], "record_id string, delivery_status string, file string"
    )
    assert_df_equality(
        latest.select(
            "record_id", "delivery_status", F.col("_export_order.source_file").alias("file")
        ),
        expected,
        ignore_nullable=True,
    )
    # the step's one-pass version keeps the same row
    one_pass = to_latest_silver_sessions(filter_valid(checked), KEY, RULES.epoch_seconds_below)
    assert_df_equality(one_pass, latest, ignore_nullable=True)


def test_absurd_values_are_quarantined_not_fatal(spark):
    """Values that once failed the whole Silver step (ANSI overflow) each get a reason."""
    int_max = 2**31 - 1
    cases = [
        with_(CHECKOUT, id="ok-int-max", cart__items=[{"sku": "a", "quantity": int_max}]),
        with_(
            CHECKOUT,
            id="units-overflow",
            cart__items=[{"sku": "a", "quantity": int_max}, {"sku": "b", "quantity": "1"}],
        ),
        with_(
            CHECKOUT,
            id="units-overflow-in-three",
            cart__items=[
                {"quantity": "1000000000"},
                {"quantity": 1_000_000_000},
                {"quantity": " 147483648"},
            ],
        ),
        with_(CHECKOUT, id="nine-digits", cart__items=[{"quantity": "99999999"}, {"quantity": 9}]),
        with_(CHECKOUT, id="ts-1e30", createdDateTime=1e30),
        with_(CHECKOUT, id="ts-1e30-text", createdDateTime="1e30"),
        with_(CHECKOUT, id="ts-negative", createdDateTime=-1e27),
        with_(CHECKOUT, id="ts-exponent", createdDateTime="1e2147483647"),
        with_(CHECKOUT, id="delivered-1e30", delivery__deliveredDateTime="1e30"),
        with_(
            CHECKOUT, id="price-exponent", cart__items=[{"sku": "a", "unitPrice": "1e2147483647"}]
        ),
        with_(CHECKOUT, id="zip-newline", shipping__address__zipCode="2139\n"),
    ]
    checked = with_quarantine_reasons(bronze(spark, cases), RULES)
    reasons = {r["record_id"]: r["reasons"] for r in checked.collect()}
    assert reasons == {
        "ok-int-max": [],
        "units-overflow": ["cart_quantity_out_of_range"],
        "units-overflow-in-three": ["cart_quantity_out_of_range"],
        "nine-digits": [],
        "ts-1e30": ["invalid_created_ts"],
        "ts-1e30-text": ["invalid_created_ts"],
        "ts-negative": ["invalid_created_ts"],
        "ts-exponent": ["invalid_created_ts"],
        "delivered-1e30": [],  # kept, with a warning (delivered_ts null)
        "price-exponent": ["invalid_cart_item"],
        "zip-newline": [],  # kept, with a warning (zip_code null)
    }
    quarantine = to_quarantine_rows(filter_invalid(checked)).collect()
    assert {r["record_id"]: r["reason"] for r in quarantine} == {
        k: v[0] for k, v in reasons.items() if v
    }
    valid = to_silver_sessions(filter_valid(checked), KEY, RULES.epoch_seconds_below).collect()
    quantities = {r["record_id"]: [i["quantity"] for i in r["cart_items"]] for r in valid}
    assert quantities == {
        "ok-int-max": [int_max],
        "nine-digits": [99_999_999, 9],
        "delivered-1e30": [2],
        "zip-newline": [2],
    }


def test_cart_fast_paths_equal_the_per_item_lambdas(spark):
    """The whole-array casts are taken only where they agree exactly with the lambdas."""
    import random

    from pyspark.sql.types import ArrayType, StructField, StructType

    from lakehouse.bronze.schemas import CART_ITEM_SCHEMA
    from lakehouse.silver.sessions import (
        _cart_item_is_invalid,
        _typed_cart_items_per_item,
        has_invalid_cart_item,
        typed_cart_items,
    )

    texts = ["A-1", "shoes", "Shoes", " pad", "pad ", "", "  ", None, "a\u001fb", "a\u001f b",
             "\u0000", "null", "É", "straße", "\tx"]  # fmt: skip
    numbers = ["1", " 2 ", "x", "\t3", "007", "1.5", "-1", "12.345", "99999999999", "1e3", "",
               None, "NaN", "inf", "1e-3", "+5", "2147483648", "9999999999.995", "1,5",
               "1e2147483647", "1E-99999", "-0.0", "-2", "-0.5"]  # fmt: skip
    rng = random.Random(7)

    def item():
        if rng.random() < 0.05:
            return None
        clean = rng.random() < 0.5
        pick = (lambda pool: pool[rng.randrange(3)]) if clean else rng.choice
        return (pick(texts), pick(texts), pick(["shoes", "toys", *texts]), *(
            pick(numbers) for _ in range(3)))  # fmt: skip

    carts = [[item() for _ in range(rng.randrange(4))] for _ in range(600)]
    carts += [None, [], [("\u0000",) * 6], [None]]
    schema = StructType([StructField("items", ArrayType(CART_ITEM_SCHEMA))])
    df = spark.createDataFrame([(c,) for c in carts], schema)
    items = F.col("items")
    compared = df.select(
        F.to_json(F.struct(typed_cart_items(items).alias("v"))).alias("fast"),
        F.to_json(F.struct(_typed_cart_items_per_item(items).alias("v"))).alias("lambda"),
        has_invalid_cart_item(items).alias("fast_invalid"),
        (items.isNotNull() & F.exists(items, _cart_item_is_invalid)).alias("lambda_invalid"),
    ).collect()
    assert [r["fast"] for r in compared] == [r["lambda"] for r in compared]
    assert [r["fast_invalid"] for r in compared] == [r["lambda_invalid"] for r in compared]
    assert {r["lambda_invalid"] for r in compared} == {True, False}


def decryptions(df) -> int:
    """How many decryptions a row of ``df`` goes through, as its optimised plan holds them."""
    return df._jdf.queryExecution().optimizedPlan().toString().count("aesDecrypt")


def test_each_personal_field_is_decrypted_once_a_row(spark):
    checked = with_quarantine_reasons(bronze(spark, [CHECKOUT]), RULES)
    silver_df = to_silver_sessions(filter_valid(checked), KEY, RULES.epoch_seconds_below)
    # e-mail, phone and IP (read inline, a token and its normalisation decrypted each 8 times)
    assert decryptions(silver_df) == 3
