"""The Silver twin applies the quarantine rules as Spark does, reason for reason
(``lakehouse.silver.sessions_online``): every error path in plain Python, then odd and edge
documents through the real Bronze, Silver and Gold transforms in memory."""

from __future__ import annotations

import json
import math

import pytest
from chispa import assert_approx_df_equality

from lakehouse import contract
from lakehouse.contract import ERROR_MALFORMED_JSON
from lakehouse.features import FeatureError
from lakehouse.features.delivery_online import checkout_features
from lakehouse.gold.delivery_online import (
    FEATURE_COLUMNS,
    FRAME_DTYPES,
    REASON_NOT_A_CHECKOUT,
    DeliveryReference,
)
from lakehouse.silver.sessions_online import silver_session
from tests.support.delivery_twins import (
    CONTRACT_DOC,
    CREATED,
    DELIVERED,
    DOUBLE_TOLERANCE,
    DROP,
    EVENT,
    ITEM,
    KG,
    PRICE,
    PROMISED,
    QTY,
    RULES,
    WORKED_TS,
    ZIP,
    assert_same_outcomes,
    hit,
    make_reference,
    online_outcome,
    spark_outcomes,
    variant,
)


@pytest.fixture(scope="module")
def reference() -> DeliveryReference:
    return make_reference()


BAD_ITEM, OUT_OF_RANGE = contract.REASON_INVALID_CART_ITEM, contract.REASON_CREATED_TS_OUT_OF_RANGE


ERROR_CASES = [
    # (case id, changes to the CONTRACT document, field, reason)
    ("no-id", {"id": ""}, "id", contract.REASON_MISSING_RECORD_ID),
    ("blank-id", {"id": "   "}, "id", contract.REASON_MISSING_RECORD_ID),
    ("created-null", {CREATED: None}, CREATED, contract.REASON_MISSING_CREATED_TS),
    ("created-missing", {CREATED: DROP}, CREATED, contract.REASON_MISSING_CREATED_TS),
    ("created-blank", {CREATED: "  "}, CREATED, contract.REASON_MISSING_CREATED_TS),
    ("created-text", {CREATED: "not-a-date"}, CREATED, contract.REASON_INVALID_CREATED_TS),
    (
        "created-bad-iso",
        {CREATED: "2024-13-45T99:99:99Z"},
        CREATED,
        contract.REASON_INVALID_CREATED_TS,
    ),
    ("created-bool", {CREATED: True}, CREATED, contract.REASON_INVALID_CREATED_TS),
    ("created-early", {CREATED: "1999-12-31T23:59:59.999Z"}, CREATED, OUT_OF_RANGE),
    ("created-max-excluded", {CREATED: 4102444800000}, CREATED, OUT_OF_RANGE),
    ("event-unknown", {EVENT: "PURCHASE"}, EVENT, contract.REASON_INVALID_EVENT_TYPE),
    ("event-missing", {EVENT: DROP}, EVENT, contract.REASON_INVALID_EVENT_TYPE),
    ("quantity-negative", {QTY: -1}, "cart.items[0].quantity", BAD_ITEM),
    ("quantity-text", {QTY: "two"}, "cart.items[0].quantity", BAD_ITEM),
    ("quantity-fraction", {QTY: 2.0}, "cart.items[0].quantity", BAD_ITEM),
    ("quantity-overflow", {QTY: 2**31}, "cart.items[0].quantity", BAD_ITEM),
    ("price-negative", {PRICE: "-0.01"}, "cart.items[0].unitPrice", BAD_ITEM),
    ("price-too-large", {PRICE: 1e10}, "cart.items[0].unitPrice", BAD_ITEM),
    ("weight-text", {KG: "heavy"}, "cart.items[0].weightKg", BAD_ITEM),
    ("weight-nan-token", {KG: math.nan}, "cart.items[0].weightKg", BAD_ITEM),
    ("not-a-checkout", {EVENT: "product_view"}, EVENT, REASON_NOT_A_CHECKOUT),
    ("cart-not-object", {"cart": "full"}, "cart", ERROR_MALFORMED_JSON),
    ("item-not-object", {ITEM: [1]}, f"{ITEM}[0]", ERROR_MALFORMED_JSON),
    ("items-not-list", {ITEM: {"quantity": 1}}, ITEM, ERROR_MALFORMED_JSON),
]  # fmt: skip


# Auxiliary fields present but unreadable: the checkout is kept (and scored) with them null,
# and the warning is recorded (Silver: audit/row_warnings; online: SilverSession.warnings).
WARNING_CASES = [
    ("zip-letters", {ZIP: "ABCDE"}, ZIP, contract.REASON_INVALID_ZIP),
    ("zip-six-digits", {ZIP: 123456}, ZIP, contract.REASON_INVALID_ZIP),
    ("delivered-text", {DELIVERED: "yesterday"}, DELIVERED, contract.REASON_INVALID_DELIVERED_TS),
    ("promised-format", {PROMISED: "21/11/2024"}, PROMISED, contract.REASON_INVALID_PROMISED_DATE),
    ("promised-feb-30", {PROMISED: "2024-02-30"}, PROMISED, contract.REASON_INVALID_PROMISED_DATE),
]  # fmt: skip


@pytest.mark.parametrize("case", WARNING_CASES, ids=[case[0] for case in WARNING_CASES])
def test_unreadable_auxiliary_fields_warn_and_are_null(reference, case):
    name, changes, field, reason = case
    document = variant(f"warning-{name}", changes)
    session = silver_session(document, document["id"], "", RULES)
    assert session.warnings == ((field, reason),)
    column = {ZIP: "zip_code", PROMISED: "promised_day"}.get(field)
    if column:
        assert getattr(session, column) is None
    features = checkout_features(document, reference, RULES)
    assert features["record_id"] == document["id"]
    clean = silver_session(CONTRACT_DOC, CONTRACT_DOC["id"], "", RULES)
    assert clean.warnings == () and clean.zip_code is not None


def error_document(case: tuple) -> dict:
    name, changes, _, _ = case
    return variant(f"error-{name}", changes)


@pytest.mark.parametrize("case", ERROR_CASES, ids=[case[0] for case in ERROR_CASES])
def test_error_paths_name_the_field_and_silvers_reason(reference, case):
    _, _, field, reason = case
    with pytest.raises(FeatureError) as raised:
        checkout_features(error_document(case), reference, RULES)
    assert (raised.value.field, raised.value.reason) == (field, reason)


def test_every_failing_rule_is_listed_and_silvers_first_one_is_raised(reference):
    doc = variant(
        "many",
        {
            "createdDateTime": "soon",
            "shipping.address.zipCode": "ABCDE",
            "cart.items.0.weightKg": -1,
            "shipping.promisedDeliveryDate": "never",
        },
    )
    with pytest.raises(FeatureError) as raised:
        checkout_features(doc, reference, RULES)
    assert (raised.value.field, raised.value.reason) == (
        "createdDateTime",
        contract.REASON_INVALID_CREATED_TS,
    )
    message = str(raised.value)
    positions = [
        message.index(f"{field}: {reason}")
        for field, reason in [
            ("createdDateTime", contract.REASON_INVALID_CREATED_TS),
            ("cart.items[0].weightKg", contract.REASON_INVALID_CART_ITEM),
        ]
    ]
    assert positions == sorted(positions)
    # the unreadable zip and promised date are warnings, not reasons
    assert contract.REASON_INVALID_ZIP not in message
    assert contract.REASON_INVALID_PROMISED_DATE not in message


def odd_documents() -> list:
    """Valid, invalid and strange documents, each a path Bronze, Silver or Gold takes."""
    docs = [CONTRACT_DOC, hit(variant("as-hit")), json.dumps(variant("as-text"))]
    docs += [error_document(case) for case in ERROR_CASES] + [{"hello": "world"}]
    docs += [variant(f"warning-{name}", changes) for name, changes, _, _ in WARNING_CASES]
    created = {
        "ms-string": "1731880381293",
        "ms-float": 1731880381293.0,
        "seconds": 1731880381,
        "seconds-string": "1731880381",
        "seconds-float": 1731880381.293,
        "iso-z": "2024-11-17T21:53:01.293Z",
        "iso-offset": "2024-11-17T23:53:01.293+02:00",
        "iso-space": "2024-11-17 21:53:01.293",
        "iso-no-zone": "2024-11-17T21:53:01",
        "iso-micros": "2024-11-17T21:53:01.123456Z",
        "exp": "1.731880381293E12",
        "leap-day": "2024-02-29T12:00:00Z",
        "year-end": "2024-12-31T23:59:59.999Z",
        "year-end-offset": "2025-01-01T01:59:59.999+02:00",
        "year-start": "2025-01-01T00:00:00Z",
        "min-included": "2000-01-01T00:00:00Z",
        "max-minus-1ms": 4102444799999,
        "pre-epoch": "1969-12-31T23:59:59Z",
    }
    docs += [variant(f"created-{k}", {"createdDateTime": v}) for k, v in created.items()]
    zips = {"number": 501, "plus4": "02139-1234", "nine": "021391234", "spaces": " 02139 ",
            "unknown": "12345", "remote": "99501", "blank": "  ", "lost-zeros": "2139"}  # fmt: skip
    docs += [variant(f"zip-{k}", {"shipping.address.zipCode": v}) for k, v in zips.items()]
    items = {
        "strings": [{"quantity": "3", "unitPrice": "19.995", "weightKg": "0.4"}],
        "rounding": [
            {"quantity": 1, "unitPrice": 2.675, "weightKg": 1.0005},
            {"quantity": 3, "unitPrice": 0.1, "weightKg": 0.1},
        ],
        "unicode-digits": [{"quantity": 1, "unitPrice": "\u0663.5", "weightKg": "0x1p3"}],
        "special-doubles": [{"quantity": 2, "weightKg": "Infinity"},
                            {"quantity": 1, "weightKg": "nan"}],
        "suffix": [{"quantity": "+2", "unitPrice": "1e2", "weightKg": "1.5f"}],
        "zero-quantity": [{"quantity": 0, "unitPrice": 10, "weightKg": 2}],
        "negative-zero": [{"quantity": 1, "unitPrice": "-0.001", "weightKg": -0.0}],
        "extra-fields": [{"quantity": 1, "unitPrice": 1, "giftWrap": True, "nested": {"a": [1]}}],
        "many-lines": [{"quantity": q, "unitPrice": p, "weightKg": w}
                       for q, p, w in [(1, 9.99, 0.25), (4, 0.33, 0.125), (2, 149.5, 3.3),
                                       (7, 0.07, 0.01)]],
        "blank-values": [{"quantity": " ", "unitPrice": "", "weightKg": None}],
    }  # fmt: skip
    docs += [variant(f"items-{k}", {"cart.items": v}) for k, v in items.items()]
    promised = {"short": "2024-1-5", "with-time": "2024-11-21T10:00:00Z", "year-only": "2025",
                "signed": "+2024-11-21", "year-zero": "0000-01-01", "far": "12024-01-01",
                "before-order": "2024-11-01", "blank": " "}  # fmt: skip
    docs += [
        variant(f"promised-{k}", {"shipping.promisedDeliveryDate": v}) for k, v in promised.items()
    ]
    texts = {
        "method-float": ("shipping.method", 1e7),
        "method-object": ("shipping.method", {"b": [1, 2.5, "x\ty"], "a": None}),
        "carrier-bool": ("shipping.carrier", True),
        "carrier-small-float": ("shipping.carrier", 0.0001),
        "state-lower": ("shipping.address.state", " or "),
        "warehouse-int": ("shipping.warehouseId", 7),
        "id-number": ("id", 12345),
        "event-lower": ("eventType", " checkout_completed "),
        "delivered-iso": ("delivery.deliveredDateTime", "2024-11-21T10:00:00Z"),
    }
    docs += [variant(f"text-{k}", {path: value}) for k, (path, value) in texts.items()]
    docs += [
        variant("holiday", {"createdDateTime": "2024-12-25T10:00:00Z"}),
        variant("before-new-year", {"createdDateTime": "2024-12-28T10:00:00Z"}),
        variant("after-last-holiday", {"createdDateTime": "2025-06-01T10:00:00Z"}),
        hit(variant(" "), es_id="hit-blank-id"),
        {"_id": "hit-without-source"},
        {"_source": {}, "id": "empty-source"},
        {"_source": None, "id": "null-source-is-bare", "createdDateTime": 5},
        {"customer": {}},
        # Spark's own corrupt-record column name, as a field of a valid document
        variant("corrupt-field") | {"_corrupt_record": "x"},
    ]
    return docs


@pytest.fixture(scope="module")
def odd_outcomes(spark, reference):
    documents = odd_documents()
    decoded = [json.loads(d) if isinstance(d, str) else d for d in documents]
    online = [online_outcome(d, reference) for d in decoded]
    return documents, online, spark_outcomes(spark, documents)


def test_odd_documents_match_spark(odd_outcomes):
    documents, online, gold = odd_outcomes
    assert_same_outcomes(documents, online, gold)
    # the cases meant to reach Gold did, and the error cases did not
    assert sum(isinstance(g, dict) for g in gold) > 50
    assert sum(isinstance(g, str) for g in gold) >= len(ERROR_CASES) - 2


SPARK_TYPES = {"Int64": "int", "float64": "double", "bool": "boolean", "object": "string"}


SPARK_TYPES_OF_KEYS = {"record_id": "string", "event_ts": "timestamp", "order_date": "date"}


FEATURES_DDL = ", ".join(
    f"{c} {SPARK_TYPES_OF_KEYS.get(c) or SPARK_TYPES[FRAME_DTYPES[c]]}" for c in FEATURE_COLUMNS
)


def test_online_features_equal_gold_as_frames(spark, odd_outcomes):
    """The same comparison in the house style: two DataFrames of Gold's types, via chispa."""
    _, online, gold = odd_outcomes
    pairs = [(o, g) for o, g in zip(online, gold, strict=True) if isinstance(g, dict)]
    online_df, gold_df = (
        spark.createDataFrame([tuple(r[c] for c in FEATURE_COLUMNS) for r in rows], FEATURES_DDL)
        for rows in zip(*pairs, strict=True)
    )
    assert_approx_df_equality(
        online_df,
        gold_df,
        precision=DOUBLE_TOLERANCE,
        allow_nan_equality=True,
        ignore_row_order=True,
    )


# Inputs on which the twins of lakehouse.silver.normalize once differed from Spark (they
# stripped every kind of whitespace where Spark's trim strips only spaces, and read ISO-8601
# with datetime.fromisoformat), and inputs that once failed Silver or Gold for the whole batch.
INT32_MAX = 2**31 - 1


TWIN_EDGE_CASES = [
    ("zip-tab", {"shipping.address.zipCode": "\t02139"}),
    ("zip-newline-lost-zero", {"shipping.address.zipCode": "2139\n"}),
    ("zip-carriage-return", {"shipping.address.zipCode": "02139\r"}),
    ("zip-arabic-digits", {"shipping.address.zipCode": "\u0660\u0662\u0661\u0663\u0669"}),
    ("method-tab", {"shipping.method": "express\t"}),
    ("created-tab", {"createdDateTime": "\t1731880381293"}),
    ("created-newline", {"createdDateTime": "1731880381293\n"}),
    ("created-no-seconds-z", {"createdDateTime": "2024-11-17T21:53Z"}),
    ("created-utc-suffix", {"createdDateTime": "2024-11-17T21:53:01.293UTC"}),
    ("created-region", {"createdDateTime": "2024-11-17T22:53:01.293Europe/Paris"}),
    ("created-trailing-control", {"createdDateTime": "2024-11-17T21:53:01.293Z\x7f"}),
    ("created-year-10000", {"createdDateTime": 253402300800000}),
    ("created-year-0", {"createdDateTime": "0000-02-29T00:00:00Z"}),
    ("created-1e29", {"createdDateTime": 1e29}),
    ("created-1e30", {"createdDateTime": 1e30}),
    ("created-1e30-text", {"createdDateTime": "1e30"}),
    ("created-minus-1e27", {"createdDateTime": -1e27}),
    ("created-huge-exponent", {"createdDateTime": "1e99999999999"}),
    ("delivered-1e30", {"delivery.deliveredDateTime": 1e30}),
    ("delivered-year-10000", {"delivery.deliveredDateTime": "10000-01-01T00:00:00Z"}),
    ("delivered-year-20000", {"delivery.deliveredDateTime": 568971820800000}),
    ("price-huge-exponent", {"cart.items.0.unitPrice": "1e2147483647"}),
    ("price-huge-negative-exponent", {"cart.items.0.unitPrice": "1e-99999"}),
    ("price-four-exponent-digits", {"cart.items.0.unitPrice": "1999e-0003"}),
    ("cart-int32-max", {"cart.items": [{"quantity": INT32_MAX, "unitPrice": 1, "weightKg": 0}]}),
    (
        "cart-over-int32",
        {"cart.items": [{"quantity": INT32_MAX, "unitPrice": 1}, {"quantity": "1"}]},
    ),
    (
        "cart-over-int32-and-bad-item",
        {"cart.items": [{"quantity": INT32_MAX}, {"quantity": 1, "weightKg": -1}]},
    ),
]


@pytest.fixture(scope="module")
def twin_outcomes(spark, reference):
    documents = [variant(f"twin-{name}", changes) for name, changes in TWIN_EDGE_CASES]
    online = [online_outcome(d, reference) for d in documents]
    outcomes = zip(documents, online, spark_outcomes(spark, documents), strict=True)
    return dict(zip([name for name, _ in TWIN_EDGE_CASES], outcomes, strict=True))


@pytest.mark.parametrize("name", [name for name, _ in TWIN_EDGE_CASES])
def test_twin_edge_cases_match_spark(twin_outcomes, name):
    document, online, gold = twin_outcomes[name]
    assert_same_outcomes([document], [online], [gold])


def test_twin_edge_case_outcomes(twin_outcomes):
    """What Silver and Gold decided on the edge cases (online and Spark agree, above)."""
    outcome = {name: gold for name, (_, _, gold) in twin_outcomes.items()}
    reasons = {name: g for name, g in outcome.items() if isinstance(g, str)}
    assert reasons == {
        "created-tab": contract.REASON_INVALID_CREATED_TS,
        "created-newline": contract.REASON_INVALID_CREATED_TS,
        "created-no-seconds-z": contract.REASON_INVALID_CREATED_TS,
        "created-year-10000": OUT_OF_RANGE,
        "created-year-0": OUT_OF_RANGE,
        "created-1e29": contract.REASON_INVALID_CREATED_TS,
        "created-1e30": contract.REASON_INVALID_CREATED_TS,
        "created-1e30-text": contract.REASON_INVALID_CREATED_TS,
        "created-minus-1e27": contract.REASON_INVALID_CREATED_TS,
        "created-huge-exponent": contract.REASON_INVALID_CREATED_TS,
        "price-huge-exponent": BAD_ITEM,
        "price-huge-negative-exponent": BAD_ITEM,
        "cart-over-int32": contract.REASON_CART_QUANTITY_OUT_OF_RANGE,
        "cart-over-int32-and-bad-item": BAD_ITEM,
    }
    # an unreadable zip or delivery time only warns: the checkout reaches Gold without it
    for name in ("zip-tab", "zip-newline-lost-zero", "zip-carriage-return", "zip-arabic-digits"):
        assert outcome[name]["zip_code"] is None, name
    for name in ("delivered-1e30", "delivered-year-10000"):
        assert outcome[name]["record_id"] == f"twin-{name}", name
    assert outcome["method-tab"]["shipping_method"] == "EXPRESS\t"
    assert outcome["cart-int32-max"]["item_count"] == INT32_MAX
    # 1.999 as decimal(12,2) is 2.00, times the quantity 2
    assert outcome["price-four-exponent-digits"]["order_value"] == 4.0
    for name in ("created-utc-suffix", "created-region", "created-trailing-control"):
        assert outcome[name]["event_ts"] == WORKED_TS, name
