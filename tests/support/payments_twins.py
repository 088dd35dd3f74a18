"""Shared by the payment twin tests: requests, account changes, and Gold built by Spark from
small explicit frames."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from lakehouse.gold.payments import to_payments_unified
from lakehouse.gold.payments_online import (
    AccountHistory,
    VelocityState,
    online_feature_columns,
    transaction_features,
)
from lakehouse.gold.payments_rules import DEFAULT_VELOCITY_WINDOWS_S
from lakehouse.silver.payments import to_account_versions, to_risk_intervals
from lakehouse.silver.payments_online import parse_transaction

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
