"""The Silver twin of the transactions feed validates and types a request as Silver does
(``lakehouse.silver.payments_online``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from lakehouse import contract
from lakehouse.bronze.payments import bronze_schema
from lakehouse.features import FeatureError
from lakehouse.gold.payments_online import (
    AccountHistory,
    VelocityState,
    frame,
    transaction_features,
)
from lakehouse.silver import payments as sp
from lakehouse.silver import payments_online
from lakehouse.silver.payments_online import (
    REASON_WRONG_TYPE,
    parse_transaction,
    parse_transactions,
)
from tests.support.payments_twins import (
    T0,
    WINDOWS,
    request,
)


def test_json_values_are_read_like_csv_cells():
    base = request("j", T0, "A", "B", "12.50")
    as_string = parse_transaction(base)
    assert parse_transaction({**base, "amount": 12.5}) == as_string
    assert parse_transaction({**base, "amount": Decimal("12.5")}) == as_string
    assert parse_transaction({**base, "amount": "12.345"}).amount == Decimal("12.35")
    assert parse_transaction({**base, "transaction_ts": "2024-03-01T13:00:00+01:00"}) == as_string
    assert parse_transaction({**base, "transaction_ts": T0}) == as_string
    assert parse_transaction({**base, "transaction_ts": T0.replace(tzinfo=None)}) == as_string
    assert parse_transaction({**base, "transaction_id": 17}).transaction_id == "17"


@pytest.mark.parametrize(
    ("change_to", "field", "reason"),
    [
        ({"transaction_id": None}, "transaction_id", contract.REASON_MISSING_TRANSACTION_ID),
        ({"transaction_id": "   "}, "transaction_id", contract.REASON_MISSING_TRANSACTION_ID),
        (
            {"transaction_ts": "2024-02-30T10:00:00Z"},
            "transaction_ts",
            contract.REASON_INVALID_TRANSACTION_TS,
        ),
        (
            {"transaction_ts": "1709287200"},
            "transaction_ts",
            contract.REASON_INVALID_TRANSACTION_TS,
        ),
        ({"transaction_ts": None}, "transaction_ts", contract.REASON_INVALID_TRANSACTION_TS),
        ({"amount": "12,50"}, "amount", contract.REASON_INVALID_AMOUNT),
        ({"amount": None}, "amount", contract.REASON_INVALID_AMOUNT),
        ({"amount": float("nan")}, "amount", contract.REASON_INVALID_AMOUNT),
        ({"amount": -5}, "amount", contract.REASON_NEGATIVE_AMOUNT),
        ({"source_account_id": ""}, "source_account_id", contract.REASON_MISSING_SOURCE_ACCOUNT),
        ({"amount": {"value": 1}}, "amount", REASON_WRONG_TYPE),
        # several rules fail: the first in Silver's order is the reason, all are listed
        ({"transaction_id": None, "amount": "x"}, "transaction_id", "missing_transaction_id"),
    ],
)
def test_invalid_requests_raise_silver_reason(change_to, field, reason):
    state = VelocityState(WINDOWS)
    with pytest.raises(FeatureError) as raised:
        transaction_features(
            {**request("v", T0, "A", "B", "1.00"), **change_to},
            AccountHistory(None, None),
            state,
        )
    assert (raised.value.field, raised.value.reason) == (field, reason)
    assert isinstance(raised.value, ValueError)
    with pytest.raises(FeatureError):
        frame(
            [
                request("ok", T0, "A", "B", "1.00"),
                {**request("v", T0, "A", "B", "1.00"), **change_to},
            ],
            AccountHistory(None, None),
            state,
            observe=True,
        )
    assert state.held_transactions == 0  # a bad batch changes nothing


JAVA_SHORT_ZONE_IDS = (
    "ACT", "AET", "AGT", "ART", "AST", "BET", "BST", "CAT", "CNT", "CST", "CTT", "EAT", "ECT",
    "IET", "IST", "JST", "MIT", "NET", "NST", "PLT", "PNT", "PRT", "PST", "SST", "VST", "EST",
    "MST", "HST",
)  # fmt: skip


TS_CASES = [
    "2024-03-01T10:00:00Z",
    "2024-03-01T10:00:00+01:00",
    "2024-03-01T10:00:00.123456789-05:30",
    "2024-03-01T10:00:00.5+0530",
    "2024-03-01 10:00:00",
    "2024-03-01T10:00",
    " 2024-03-01T10:00:00Z ",
    "2024-03-01T10:00:00Z\n",
    "2024-03-01T10:00:00Z\t",
    "\t2024-03-01T10:00:00Z",
    "2024-03-01T10:00:00 +01:00",
    "2024-03-01T10:00:00+1:00",
    "2024-03-01T10:00:00+01:0",
    "2024-03-01T10:00:00+1",
    "2024-03-01T10:00:00+010",
    "2024-03-01T10:00:00+013000",
    "2024-03-01T10:00:00-18:00",
    "2024-03-01T10:00:00+19:00",
    "2024-03-01T10:00:00+05:60",
    "2024-03-01T10:00:00,5Z",
    "2024-03-01T10:00:0Z",
    "2024-03-01T10:00Z",
    "2024-03-01T10:00:00.Z",
    "2024-03-01T10:00:00UTC+1",
    "2024-03-01T10:00:00GMT",
    "2024-03-01T10:00:00PST",
    "2024-03-01T10:00:00EST",
    "2024-03-01T10:00:00Zulu",
    # java.time.ZoneId.SHORT_IDS, which Spark resolves
    *(f"2024-07-01T10:00:00{zone}" for zone in JAVA_SHORT_ZONE_IDS),
    "2024-03-01T10:00:00utc",
    "2024-03-01T10:00:00Etc/GMT+1",
    "2024-03-10T02:30:00America/New_York",  # in the spring-forward gap
    "2024-11-03T01:30:00America/New_York",  # in the fall-back overlap
    "2024-03-01T10:00:00\u2028",
    "2024-03-01t10:00:00z",
    "2024-02-30T10:00:00Z",
    "2024-03-01T24:00:00Z",
    "not-a-time",
    "",
    None,
    "1709287200",
    "1e5",
    "-1.5e0",
]


AMOUNT_CASES = [
    "12.50",
    "12.345",
    "12.355",
    "-0.001",
    "-5.00",
    "12,50",
    "N/A",
    "1e3",
    ".5",
    "12.",
    " 3 ",
    "\t3",
    "12.50\r\n",
    "12.50\u2028",
    "9999999999999999.99",
    "9999999999999999.995",
    "007.10",
    None,
]


def bronze_rows(records):
    """Bronze rows of the transactions feed; the record's index is its raw text and file."""
    names = bronze_schema("payment_transactions").fieldNames()
    lineage = {"is_malformed": False, "_extra_columns": {}, "_missing_columns": []}
    return [
        tuple(
            {**lineage, "raw_record": str(i), "_source_file": str(i)}.get(n, r.get(n))
            for n in names
        )
        for i, r in enumerate(records)
    ]


# known channels in any case and spacing; unknown ones (kept, lower-cased, as Silver keeps them,
# with a warning there), non-ASCII ones included; blank and absent (kept as null)
CHANNEL_CASES = ("WEB", " pos ", "web\t", "Api", "Fax", " Wallet ", "ÇARŞI", "İnternet", "", None)


def test_validation_and_typing_match_silver(spark):
    base = request("tx", T0, "A", "B", "1.00")
    records = (
        [{**base, "transaction_ts": v} for v in TS_CASES]
        + [{**base, "amount": v} for v in AMOUNT_CASES]
        + [{**base, "channel": v} for v in CHANNEL_CASES]
        + [{**base, "transaction_id": v} for v in (" tx ", "  ", None)]
        + [{**base, "source_account_id": v} for v in (" A ", "", None)]
        + [{**base, "destination_account_id": v, "currency": v} for v in (" gbp ", "", None)]
        + [{**base, "merchant_category": " toys ", "amount": "-1", "channel": "fax"}]
    )
    checked = sp.with_transaction_reasons(
        spark.createDataFrame(bronze_rows(records), bronze_schema("payment_transactions"))
    )
    reasons = {int(r["raw_record"]): r["reasons"] for r in checked.collect()}
    typed_df = sp.to_silver_transactions(checked.where(F.size("reasons") == 0), b"key")
    typed = {}
    for row in typed_df.select(
        "_source_file",
        "transaction_id",
        F.unix_micros("transaction_ts").alias("ts_us"),
        "source_account_id",
        "destination_account_id",
        "amount",
        "currency",
        "channel",
        "merchant_category",
    ).collect():
        values = row.asDict()
        typed[int(values.pop("_source_file"))] = values
    assert len(reasons) == len(records) and 0 < len(typed) < len(records)
    disagreements = []
    for i, record in enumerate(records):
        try:
            parsed = parse_transaction(record)
            online = ([], {n: getattr(parsed, n) for n in typed.get(i, {})})
        except FeatureError as error:
            online = (str(error).split(", "), {})
        if online != (reasons[i], typed.get(i, {})):
            disagreements.append((record, online, (reasons[i], typed.get(i))))
    assert disagreements == []


def _one_at_a_time(transactions):
    records, errors = [], []
    for position, txn in enumerate(transactions):
        try:
            if not isinstance(txn, dict):
                raise FeatureError("", "not_an_object", "a transaction is a JSON object")
            records.append(parse_transaction(txn))
        except FeatureError as error:
            errors.append((position, error))
    return records, errors


def _comparable(parsed):
    records, errors = parsed
    return (
        [(record, str(record.amount)) for record in records],  # the amount's scale too
        [(i, e.field, e.reason, str(e)) for i, e in errors],
    )


def test_a_request_read_a_column_at_a_time_equals_each_transaction_read_alone(monkeypatch):
    base = request("tx", T0, "A", "B", "1.00")
    usual = [
        {
            **base,
            "transaction_id": f"t{i}",
            "transaction_ts": f"2024-0{1 + i % 9}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:"
            f"{i % 59:02d}{'.' + str(i)[:6] if i % 3 else ''}Z",
            "amount": f"{i}.{i % 100:02d}" if i % 2 else str(i),
            "channel": ("WEB", " pos ", None)[i % 3],
        }
        for i in range(300)
    ]
    odd = (
        [{**base, "transaction_ts": v} for v in TS_CASES]
        + [{**base, "amount": v} for v in AMOUNT_CASES]
        + [{**base, "channel": v} for v in CHANNEL_CASES]
        + [{**base, "amount": 12.5}, {**base, "amount": Decimal("7.125")}, {**base, "amount": 3}]
        + [
            {**base, "amount": {"value": 1}},
            {**base, "currency": ["usd"]},
            {**base, "amount": True},
        ]
        + [{**base, "transaction_id": "a\x00b\x1f", "merchant_category": "\x07toys "}]
        + [{**base, "transaction_ts": T0}, {**base, "transaction_ts": "0999-01-01T00:00:00Z"}]
        + [{**base, "transaction_ts": "2023-02-29T10:00:00Z"}, {"transaction_id": "bare"}]
        + [42, "a string", [base], None]
    )
    # a request of usual transactions alone, mixed with every odd one, and a short one
    for transactions in (usual, usual[:150] + odd + usual[150:], usual[:2] + odd[-3:]):
        assert _comparable(parse_transactions(transactions)) == _comparable(
            _one_at_a_time(transactions)
        )
    # the usual ones are read a column at a time: none goes through parse_transaction
    calls = []
    original = payments_online.parse_transaction
    monkeypatch.setattr(
        payments_online, "parse_transaction", lambda txn: calls.append(txn) or original(txn)
    )
    records, errors = parse_transactions(usual)
    assert len(records) == len(usual) and errors == [] and calls == []
    parse_transactions(usual + odd)
    assert 0 < len(calls) <= len(odd)
    calls.clear()  # a short request is read one transaction at a time
    assert parse_transactions(usual[:3]) == (records[:3], []) and len(calls) == 3
