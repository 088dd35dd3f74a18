"""The online fraud features equal Spark's ``gold/payments_unified``, value for value.

Unit tests build Gold with Spark from small explicit frames and replay the same transactions
through the Python state; the replay tests run the real payments pipeline on a generated
landing zone and replay every Silver transaction, directly and through the API (whose scores
must equal batch scoring's).
"""

from __future__ import annotations

import json
import math
import random
import time
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest
from chispa import assert_approx_df_equality
from deltalake import DeltaTable
from pyspark.sql import functions as F

import serving.predict
from lakehouse.bronze.payments import bronze_schema
from lakehouse.config import load_settings
from lakehouse.features import FeatureError
from lakehouse.features.fraud_online import (
    REASON_WRONG_TYPE,
    AccountHistory,
    VelocityState,
    frame,
    frame_dtypes,
    load_account_history,
    load_velocity_state,
    online_feature_columns,
    parse_transaction,
    transaction_features,
)
from lakehouse.generate import generate_payments_landing
from lakehouse.gold.payments import DEFAULT_VELOCITY_WINDOWS_S, to_payments_unified
from lakehouse.io.delta import read_table
from lakehouse.ml.promotion import promote
from lakehouse.ml.scoring import score_table
from lakehouse.ml.training import train_model
from lakehouse.pipeline import run_all
from lakehouse.silver import payments as sp
from lakehouse.silver.payments import to_account_versions, to_risk_intervals
from lakehouse.tables import (
    GOLD_FRAUD_SCORES,
    GOLD_PAYMENTS_UNIFIED,
    SILVER_ACCOUNTS,
    SILVER_RISK_INTERVALS,
    SILVER_TRANSACTIONS,
)
from tests.serving.conftest import serving_client
from tests.support.gold import FAST_OVERRIDES, fraud_rows, write_gold

WINDOWS = DEFAULT_VELOCITY_WINDOWS_S
COLUMNS = online_feature_columns(WINDOWS)
TX_SCHEMA = (
    "transaction_id string, transaction_ts timestamp, source_account_id string, "
    "destination_account_id string, amount decimal(18,2), currency string, channel string, "
    "merchant_category string"
)
CHANGES_SCHEMA = (
    "account_id string, updated_at timestamp, account_type string, holder_name_token string, "
    "email_token string, country string, kyc_status string, created_date date, "
    "attributes_hash string"
)
RISK_SCHEMA = (
    "account_id string, effective_ts timestamp, risk_flag int, risk_score double, reason string"
)
CASES_SCHEMA = "transaction_id string, status string, reported_ts timestamp, fraud_type string"
T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
HOUR, DAY, MICRO = timedelta(hours=1), timedelta(days=1), timedelta(microseconds=1)
DOUBLE_TOLERANCE = 1e-9
_CENT = Decimal("0.01")


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def request(txn_id, ts, src, dst, amount, channel="web", currency="usd", category="toys"):
    """A transaction as the service receives it: JSON values, CONTRACT 1.2 names."""
    return {
        "transaction_id": txn_id,
        "transaction_ts": iso(ts),
        "source_account_id": src,
        "destination_account_id": dst,
        "amount": amount,
        "currency": currency,
        "channel": channel,
        "merchant_category": category,
        "card_number": "4111111111111111",  # not a feature: ignored
    }


def change(account, updated, kyc="verified", country="US", created=date(2023, 1, 1)):
    return (account, updated, "personal", None, None, country, kyc, created, f"{kyc}{country}")


def utc_pandas(df):
    """A Spark frame as pandas with timestamps as ISO strings (independent of the local zone)."""
    cols = [
        F.date_format(c, "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX").alias(c)
        if t == "timestamp"
        else F.col(c)
        for c, t in df.dtypes
    ]
    return df.select(*cols).toPandas()


def spark_gold(spark, requests, changes=(), risk=()):
    """gold/payments_unified (feature columns) built by Spark, and the history it joined."""
    tx_df = spark.createDataFrame(
        [
            (
                r["transaction_id"],
                datetime.fromisoformat(r["transaction_ts"]),
                r["source_account_id"],
                r["destination_account_id"],
                Decimal(str(r["amount"])),
                r["currency"].upper(),
                r["channel"],
                r["merchant_category"],
            )
            for r in requests
        ],
        TX_SCHEMA,
    )
    versions = to_account_versions(spark.createDataFrame(list(changes), CHANGES_SCHEMA))
    intervals = to_risk_intervals(spark.createDataFrame(list(risk), RISK_SCHEMA))
    gold = to_payments_unified(
        tx_df,
        versions,
        intervals,
        spark.createDataFrame([], CASES_SCHEMA),
        cutoff=datetime(2024, 12, 1),
        maturity_days=60,
        velocity_windows=WINDOWS,
    ).select(*COLUMNS)
    return gold, AccountHistory(utc_pandas(versions), utc_pandas(intervals))


def replay(requests, accounts, state=None):
    """Each request's features, then observed, in (time, id) order, as Spark orders them."""
    state = state or VelocityState(WINDOWS)
    rows = []
    parsed = sorted(map(parse_transaction, requests), key=lambda p: (p.ts_us, p.transaction_id))
    for req in parsed:
        rows.append(transaction_features(req, accounts, state, WINDOWS))
        state.observe(req)
    return rows, state


def assert_equals_spark(spark, online_rows, gold_df):
    online_df = spark.createDataFrame([tuple(r.values()) for r in online_rows], gold_df.schema)
    assert_approx_df_equality(
        online_df, gold_df, DOUBLE_TOLERANCE, ignore_row_order=True, ignore_nullable=True
    )


def by_id(rows):
    return {r["transaction_id"]: r for r in rows}


# --- unit tests: small frames, Spark as the reference --------------------------------------


def test_window_boundaries_and_same_instant_transactions(spark):
    t1 = T0 + 2 * HOUR
    requests = [
        request("a0", T0, "A", "B", "10.00"),
        request("a1-exactly-1h", T0 + HOUR, "A", "B", "20.00"),
        request("a2-1h-and-1us", T0 + HOUR + MICRO, "A", "B", "30.00"),
        request("a3-tie", t1, "A", "C", "40.00"),
        request("a4-tie", t1, "A", "D", "50.00"),
        request("a5-after-tie", t1 + MICRO, "A", "B", "60.00"),
        request("a6-exactly-24h", T0 + DAY, "A", "B", "70.00"),
        request("a7-exactly-7d", T0 + 7 * DAY, "A", "B", "80.00"),
        request("a8-7d-and-1s", T0 + 7 * DAY + timedelta(seconds=1), "A", "B", "90.00"),
        request("b0", T0 + HOUR, "B", "A", "5.00"),  # another account: its own windows
    ]
    gold_df, accounts = spark_gold(spark, requests)
    online, _ = replay(requests, accounts)
    assert_equals_spark(spark, online, gold_df)

    rows = by_id(online)
    # the frame's lower bound is inclusive: a transaction exactly one window before counts
    assert rows["a1-exactly-1h"]["src_txn_count_1h"] == 1
    assert rows["a2-1h-and-1us"]["src_txn_count_1h"] == 1  # a1 only; a0 is 1h + 1 µs before
    assert rows["a6-exactly-24h"]["src_txn_count_24h"] == 6
    assert rows["a7-exactly-7d"]["src_txn_count_7d"] == 7
    assert rows["a8-7d-and-1s"]["src_txn_count_7d"] == 7
    # two transactions at one instant do not see each other; the next one sees both
    assert rows["a3-tie"]["src_prior_txn_count"] == rows["a4-tie"]["src_prior_txn_count"] == 3
    # both tied ones, and a2 exactly one hour before
    assert rows["a5-after-tie"]["src_txn_amount_1h"] == Decimal("120.00")


def test_first_pair_and_zscore_edges(spark):
    requests = [
        # one prior amount: no standard deviation, so no z-score
        request("p0", T0, "P", "Q", "10.00"),
        request("p1", T0 + HOUR, "P", "Q", "10.01"),
        # mean of 10.00 and 10.01 is exactly half a cent: Spark's rounding decides
        request("p2", T0 + 2 * HOUR, "P", None, "12.00"),
        request("p3", T0 + 3 * HOUR, "P", None, "12.00"),  # a null payee is a payee too
        # same instant, same new payee: both are first pairs
        request("p4", T0 + 4 * HOUR, "P", "R", "1.00"),
        request("p5", T0 + 4 * HOUR, "P", "R", "2.00"),
        # equal prior amounts: standard deviation 0, z-score null
        request("e0", T0, "E", "Q", "7.77"),
        request("e1", T0 + HOUR, "E", "Q", "7.77"),
        request("e2", T0 + 2 * HOUR, "E", "Q", "7.77"),
        request("e3", T0 + 3 * HOUR, "E", "Q", "9.99"),
    ]
    gold_df, accounts = spark_gold(spark, requests)
    online, _ = replay(requests, accounts)
    assert_equals_spark(spark, online, gold_df)

    rows = by_id(online)
    assert rows["p1"]["src_amount_mean_before"] == 10.0
    assert rows["p1"]["src_amount_zscore"] is None
    # the exact mean 10.005 would round up; Spark's double sum is 20.009999999999998, so the
    # mean rounds down, and the online twin (checked equal to Spark above) does the same
    exact = ((Decimal("10.00") + Decimal("10.01")) / 2).quantize(_CENT, ROUND_HALF_UP)
    assert rows["p2"]["src_amount_mean_before"] != float(exact)
    assert [rows[k]["is_first_pair"] for k in ("p2", "p3", "p4", "p5")] == [
        True,
        False,
        True,
        True,
    ]
    assert rows["e2"]["src_amount_zscore"] is None and rows["e3"]["src_amount_zscore"] is None


def test_duplicate_id_is_counted_once_and_features_do_not_mutate(spark):
    requests = [
        request("d0", T0, "D", "Q", "10.00"),
        request("d1", T0 + HOUR, "D", "Q", "30.00"),
        request("d2", T0 + 2 * HOUR, "D", "R", "50.00"),
    ]
    gold_df, accounts = spark_gold(spark, requests)
    state = VelocityState(WINDOWS)
    online = []
    for req in requests:
        before = transaction_features(req, accounts, state, WINDOWS)
        assert transaction_features(req, accounts, state, WINDOWS) == before
        assert state.observe(req) is True
        assert state.observe(req) is False  # a client retry
        # a retried request gets the features its first attempt got
        assert transaction_features(req, accounts, state, WINDOWS) == before
        online.append(before)
    assert_equals_spark(spark, online, gold_df)


def test_accounts_and_risk_as_of_the_transaction(spark):
    changes = [
        change("A", T0 - 30 * DAY, kyc="pending"),
        change("A", T0, kyc="verified", country="DE"),  # in effect from exactly T0
        change("A", T0 + DAY, kyc="failed", country="DE"),  # the previous ends exactly here
        change("L", T0 - DAY, created=date(2024, 3, 5)),  # created after some transactions
        change("N", T0 + HOUR),  # opens later
    ]
    risk = [
        ("A", T0 - DAY, 1, 0.9, "chargebacks"),
        ("A", T0 + DAY, 0, 0.1, "cleared"),  # cleared at exactly a transaction's instant
        ("N", T0, 1, 0.7, "mule"),
    ]
    requests = [
        request("r0", T0 - 40 * DAY, "A", "N", "1.00"),  # before any version or flag
        request("r1", T0 - MICRO, "A", "N", "2.00"),
        request("r2", T0, "A", "L", "3.00"),
        request("r3", T0 + DAY, "A", "L", "4.00"),
        request("r4", T0 + 10 * DAY, "L", "A", "5.00"),  # L created 2024-03-05: age 6
        request("r5", T0, "L", "X-unknown", "6.00"),  # created_date after the transaction
        request("r6", T0 + 2 * HOUR, "X-unknown", "N", "7.00"),
        request("r7", T0 + 2 * HOUR, "N", None, "8.00"),
    ]
    gold_df, accounts = spark_gold(spark, requests, changes, risk)
    online, _ = replay(requests, accounts)
    assert_equals_spark(spark, online, gold_df)

    rows = by_id(online)
    assert rows["r5"]["src_kyc_status"] == "verified" and rows["r5"]["src_account_age_days"] is None
    assert rows["r6"]["src_kyc_status"] is None and rows["r6"]["src_risk_flag"] == 0
    assert (rows["r2"]["src_country"], rows["r3"]["src_kyc_status"]) == ("DE", "failed")
    assert [rows[k]["src_risk_flag"] for k in ("r0", "r1", "r2", "r3")] == [0, 1, 1, 0]
    unknown = accounts.as_of("X-unknown", T0)
    assert (unknown.account_type, unknown.created_date, unknown.risk_flag) == (None, None, 0)
    assert accounts.as_of("A", (T0 + DAY).replace(tzinfo=None)).kyc_status == "failed"


def test_late_arrivals_and_eviction_keep_features_exact(spark):
    rng = random.Random(7)
    every = timedelta(minutes=20)
    requests = [
        request(
            f"h{i:04d}",
            T0 + i * every,
            "H",
            f"P{rng.randrange(5)}",
            f"{rng.randrange(100, 9999) / 100:.2f}",
        )
        for i in range(3 * 24 * 10)  # ten days, three an hour
    ]
    # each arrives up to 50 minutes late (within max_lateness_s), so neighbours swap
    arrival = sorted(
        requests,
        key=lambda r: (
            datetime.fromisoformat(r["transaction_ts"]) + timedelta(minutes=rng.randrange(50))
        ),
    )
    assert arrival != requests
    gold_df, accounts = spark_gold(spark, requests)
    in_order, ordered_state = replay(requests, accounts)
    late_state = VelocityState(WINDOWS)
    for req in arrival:
        late_state.observe(req)
    # held: the largest window plus the lateness allowance (7 days + 1 hour), not ten days
    bound = (7 * DAY + HOUR) // every + 1
    assert ordered_state.held_transactions <= bound < len(requests)
    assert late_state.held_transactions <= bound
    for minutes in (0, 1, 59):  # probes after the newest, in and out of the hour window
        probe = request(
            "probe", T0 + len(requests) * every + timedelta(minutes=minutes), "H", "P1", "42.00"
        )
        assert transaction_features(probe, accounts, late_state) == transaction_features(
            probe, accounts, ordered_state
        )
    assert_equals_spark(spark, in_order, gold_df)


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
        ({"transaction_id": None}, "transaction_id", sp.REASON_MISSING_TRANSACTION_ID),
        ({"transaction_id": "   "}, "transaction_id", sp.REASON_MISSING_TRANSACTION_ID),
        (
            {"transaction_ts": "2024-02-30T10:00:00Z"},
            "transaction_ts",
            sp.REASON_INVALID_TRANSACTION_TS,
        ),
        ({"transaction_ts": "1709287200"}, "transaction_ts", sp.REASON_INVALID_TRANSACTION_TS),
        ({"transaction_ts": None}, "transaction_ts", sp.REASON_INVALID_TRANSACTION_TS),
        ({"amount": "12,50"}, "amount", sp.REASON_INVALID_AMOUNT),
        ({"amount": None}, "amount", sp.REASON_INVALID_AMOUNT),
        ({"amount": float("nan")}, "amount", sp.REASON_INVALID_AMOUNT),
        ({"amount": -5}, "amount", sp.REASON_NEGATIVE_AMOUNT),
        ({"source_account_id": ""}, "source_account_id", sp.REASON_MISSING_SOURCE_ACCOUNT),
        ({"channel": "fax"}, "channel", sp.REASON_INVALID_CHANNEL),
        ({"channel": None}, "channel", sp.REASON_INVALID_CHANNEL),
        ({"amount": {"value": 1}}, "amount", REASON_WRONG_TYPE),
        # several rules fail: the first in Silver's order is the reason, all are listed
        ({"transaction_id": None, "channel": "fax"}, "transaction_id", "missing_transaction_id"),
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


def test_validation_and_typing_match_silver(spark):
    base = request("tx", T0, "A", "B", "1.00")
    records = (
        [{**base, "transaction_ts": v} for v in TS_CASES]
        + [{**base, "amount": v} for v in AMOUNT_CASES]
        + [{**base, "channel": v} for v in ("WEB", " pos ", "web\t", "Api", "", None)]
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


# --- replay: the real pipeline on a generated landing zone ---------------------------------

REPLAY_TRANSACTIONS = 10_000
BATCH = 1_000


def as_request(row) -> dict:
    """A Silver row as the JSON request that would have carried it."""
    return {
        "transaction_id": row["transaction_id"],
        "transaction_ts": iso(row["transaction_ts"]),
        "source_account_id": row["source_account_id"],
        "destination_account_id": row["destination_account_id"],
        "amount": str(row["amount"]),
        "currency": row["currency"],
        "channel": row["channel"],
        "merchant_category": row["merchant_category"],
    }


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("fraud_online")
    generate_payments_landing(
        root / "landing",
        transactions=REPLAY_TRANSACTIONS,
        seed=23,
        anomaly_rate=0.03,
        days=45,
        workers=1,
    )
    settings = load_settings(
        "local",
        landing=str(root / "landing"),
        lake=str(root / "lake"),
        overrides=["privacy.hmac_key=fraud-online-test-key"],
    )
    run_all(spark, settings, source="payments")
    silver = DeltaTable(settings.table_path(*SILVER_TRANSACTIONS)).to_pyarrow_table().to_pylist()
    silver.sort(key=lambda r: (r["transaction_ts"], r["transaction_id"]))
    gold_table = DeltaTable(settings.table_path(*GOLD_PAYMENTS_UNIFIED))
    gold = by_id(gold_table.to_pyarrow_table(columns=COLUMNS).to_pylist())
    gold_dtypes = gold_table.to_pandas(columns=COLUMNS).dtypes.astype(str).to_dict()
    recorded = json.loads(gold_table.history(1)[0]["userMetadata"])["source_versions"]
    return {
        "settings": settings,
        "silver": silver,
        "gold": gold,
        "gold_dtypes": gold_dtypes,
        "recorded": recorded,
    }


def same_value(value, want) -> bool:
    """An online frame value against Gold's (as Arrow gives it), strictly typed."""
    if isinstance(value, float) and math.isnan(value):
        value = None  # pandas' null in a float column
    elif isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(want, float) and isinstance(value, float):
        return math.isclose(value, want, rel_tol=0, abs_tol=DOUBLE_TOLERANCE)
    if isinstance(want, int) and not isinstance(want, bool) and isinstance(value, float):
        return value == want  # a nullable int column is float64 in pandas
    if isinstance(want, Decimal):
        return isinstance(value, Decimal) and str(value) == str(want)  # scale included
    return type(value) is type(want) and value == want


def mismatches(online: pd.DataFrame, gold: dict) -> dict[str, list]:
    """Per column, the first rows whose online value differs from Gold's, and how many."""
    found: dict[str, list] = {}
    for row in online.to_dict("records"):
        expected = gold[row["transaction_id"]]
        for column in COLUMNS:
            if not same_value(row[column], expected[column]):
                found.setdefault(column, []).append(
                    (row["transaction_id"], row[column], expected[column])
                )
    return {c: [*rows[:5], f"{len(rows)} rows"] for c, rows in found.items()}


@pytest.mark.integration
def test_replay_of_silver_equals_gold_row_for_row(lake):
    settings, silver, gold = lake["settings"], lake["silver"], lake["gold"]
    accounts = load_account_history(settings)
    assert accounts.table_versions == {
        SILVER_ACCOUNTS.key: lake["recorded"][SILVER_ACCOUNTS.key],
        SILVER_RISK_INTERVALS.key: lake["recorded"][SILVER_RISK_INTERVALS.key],
    }
    state = VelocityState(settings.payments.velocity_windows_s)
    requests = [as_request(r) for r in silver]
    started = time.perf_counter()
    batches = [
        frame(requests[i : i + BATCH], accounts, state, observe=True)
        for i in range(0, len(requests), BATCH)
    ]
    per_record_us = (time.perf_counter() - started) / len(requests) * 1e6
    print(f"\nonline features + observe: {per_record_us:.1f} us per record, batches of {BATCH}")
    online = pd.concat(batches, ignore_index=True)

    assert sorted(online["transaction_id"]) == sorted(gold)
    assert online.dtypes.astype(str).to_dict() == frame_dtypes(settings.payments.velocity_windows_s)
    # the dtypes a Delta reader gives Gold (every nullable column holds a null in this book)
    gold_dtypes = lake["gold_dtypes"]
    assert {c: t for c, t in frame_dtypes(WINDOWS).items() if gold_dtypes[c] != t} == {}
    assert mismatches(online, gold) == {}
    # the data exercise what the features are about (counted from Gold, not assumed)
    rows = gold.values()
    assert sum(r["src_txn_count_1h"] > 0 for r in rows) > 50
    assert sum(r["src_amount_zscore"] is None and r["src_prior_txn_count"] == 1 for r in rows) > 0
    assert sum(not r["is_first_pair"] for r in rows) > 1_000
    assert sum(r["src_kyc_status"] is None for r in rows) > 0
    assert sum(r["src_risk_flag"] == 1 or r["dst_risk_flag"] == 1 for r in rows) > 0
    assert (
        sum(r["src_account_age_days"] is None and r["src_kyc_status"] is not None for r in rows)
        >= 0
    )


@pytest.mark.integration
def test_warm_start_mid_stream_continues_like_gold(lake):
    settings, silver, gold = lake["settings"], lake["silver"], lake["gold"]
    cut = len(silver) * 9 // 10
    state = VelocityState(settings.payments.velocity_windows_s)
    assert state.warm_start(pd.DataFrame(silver[:cut])) == cut
    online = frame(
        [as_request(r) for r in silver[cut:]], load_account_history(settings), state, observe=True
    )
    assert len(online) == len(silver) - cut
    assert mismatches(online, gold) == {}


@pytest.mark.integration
def test_warm_start_from_silver_scores_new_transactions_like_replay_and_spark(spark, lake):
    settings, silver = lake["settings"], lake["silver"]
    accounts = load_account_history(settings)
    warm = load_velocity_state(settings)
    assert warm.source_version == lake["recorded"][SILVER_TRANSACTIONS.key]
    _, replayed = replay([as_request(r) for r in silver], accounts)

    newest = silver[-1]
    # one new transaction per source account, so that they do not see each other in Spark
    counts = pd.Series([r["source_account_id"] for r in silver]).value_counts()
    busiest = [a for a in counts.index if a != newest["source_account_id"]][:3]
    payee = next(
        r["destination_account_id"]
        for r in reversed(silver)
        if r["source_account_id"] == busiest[0]
    )
    new = [
        # exactly one hour after the newest transaction, from its account: on the boundary
        request(
            "new-0", newest["transaction_ts"] + HOUR, newest["source_account_id"], payee, "55.55"
        ),
        request(
            "new-1",
            newest["transaction_ts"] + timedelta(minutes=10),
            busiest[0],
            payee,
            120,
        ),
        request(
            "new-2", newest["transaction_ts"], busiest[1], "AC-NEW-PAYEE", "0.50", channel="API"
        ),
        request("new-3", newest["transaction_ts"] + MICRO, busiest[2], None, "9999.99"),
    ]
    online = [transaction_features(t, accounts, warm) for t in new]
    assert online == [transaction_features(t, accounts, replayed) for t in new]

    # Spark, with the new transactions appended to Silver, agrees too
    new_df = spark.createDataFrame(
        [
            (
                p.transaction_id,
                p.transaction_ts,
                p.source_account_id,
                p.destination_account_id,
                p.amount,
                p.currency,
                p.channel,
                p.merchant_category,
            )
            for p in map(parse_transaction, new)
        ],
        TX_SCHEMA,
    )
    tables = {
        t: read_table(spark, settings.table_path(*t))
        for t in (SILVER_TRANSACTIONS, SILVER_ACCOUNTS, SILVER_RISK_INTERVALS)
    }
    gold_df = (
        to_payments_unified(
            tables[SILVER_TRANSACTIONS].unionByName(new_df, allowMissingColumns=True),
            tables[SILVER_ACCOUNTS],
            tables[SILVER_RISK_INTERVALS],
            spark.createDataFrame([], CASES_SCHEMA),  # labels are not features
            cutoff=datetime(2030, 1, 1),
            maturity_days=60,
            velocity_windows=settings.payments.velocity_windows_s,
        )
        .where(F.col("transaction_id").startswith("new-"))
        .select(*COLUMNS)
    )
    assert_equals_spark(spark, online, gold_df)
    assert sum(r["src_txn_count_7d"] for r in online) > 0


@pytest.mark.integration
def test_replaying_the_history_through_the_api_gives_golds_features_and_batch_scores(
    spark, lake, tmp_path, monkeypatch
):
    """A registered fraud model scores this lake's Gold in batch (``lakehouse score``); the
    service, from an empty velocity state, is sent the whole history in order: the features it
    computes equal Gold's and its scores equal the batch table's, transaction by transaction.

    The 45 generated days hold too few confirmed cases to train on (labels come 30-60 days
    late), so the model is trained on the ML tests' labelled Gold in another lake that shares
    this one's registry: same features, same code paths.
    """
    registry = [
        f"ml.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        f"ml.artifact_root={tmp_path}/artifacts",
    ]
    training = load_settings(
        "local", lake=str(tmp_path / "training"), overrides=[*FAST_OVERRIDES, *registry]
    )
    windows = training.payments.velocity_windows_s
    write_gold(spark, training, GOLD_PAYMENTS_UNIFIED, fraud_rows(6000, seed=2, windows=windows))
    trained = train_model(spark, training, "fraud")
    promote(spark, training, "fraud")
    base = lake["settings"]
    settings = load_settings(
        "local",
        landing=base.landing_root,
        lake=base.lake_root,
        overrides=[
            "privacy.hmac_key=fraud-online-test-key",
            *FAST_OVERRIDES,
            *registry,
            "serve.tasks=[fraud]",
        ],
    )
    scored = score_table(spark, settings, "fraud")
    assert scored.model_version == trained.model_version
    batch = by_id(
        DeltaTable(settings.table_path(*GOLD_FRAUD_SCORES))
        .to_pyarrow_table(columns=["transaction_id", "fraud_probability", "is_fraud"])
        .to_pylist()
    )

    computed: list[dict] = []

    def spy(*args, **kwargs):
        row = transaction_features(*args, **kwargs)
        computed.append(row)
        return row

    monkeypatch.setattr(serving.predict, "transaction_features", spy)
    requests = [as_request(r) for r in lake["silver"]]
    answers = {}
    with serving_client(settings) as client:
        features = client.app.state.service.features
        # replay from nothing, not from the warm start (which already holds this history)
        features.velocity = VelocityState(settings.payments.velocity_windows_s)
        for start in range(0, len(requests), BATCH):
            response = client.post("/v1/fraud/score", json=requests[start : start + BATCH])
            assert response.status_code == 200, response.text
            assert response.json()["model"]["version"] == trained.model_version
            answers.update({a["transaction_id"]: a for a in response.json()["scores"]})
        assert features.velocity.held_transactions > 0

    gold = lake["gold"]
    assert len(answers) == len(batch) == len(gold) >= 9_000
    bad_features = [
        (row["transaction_id"], column, row[column], gold[row["transaction_id"]][column])
        for row in computed
        for column in COLUMNS
        if not same_value(row[column], gold[row["transaction_id"]][column])
    ]
    assert bad_features[:5] == []
    assert len(computed) == len(gold)
    bad_scores = [
        (tid, answer["fraud_probability"], batch[tid]["fraud_probability"])
        for tid, answer in answers.items()
        if not math.isclose(
            answer["fraud_probability"], batch[tid]["fraud_probability"], abs_tol=1e-9
        )
        or answer["is_fraud"] != batch[tid]["is_fraud"]
    ]
    assert bad_scores[:5] == []
    # the scores spread (the model is not constant on this book)
    assert len({round(a["fraud_probability"], 6) for a in answers.values()}) > 100
