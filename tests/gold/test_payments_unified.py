"""Point-in-time edge cases of gold/payments_unified, on small explicit frames."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality

from lakehouse.contract import PAYMENTS_UNIFIED_CONTRACT_COLUMNS as CONTRACT_COLUMNS
from lakehouse.gold.payments import to_payments_unified
from lakehouse.silver.payments import to_account_versions, to_risk_intervals
from tests.support.payments_twins import CASES_SCHEMA, CHANGES_SCHEMA, RISK_SCHEMA, TX_SCHEMA

T0 = datetime(2024, 3, 1, 12, 0, 0)
CUTOFF = datetime(2024, 6, 1)


def tx(spark, rows):
    return spark.createDataFrame(
        [(i, ts, s, d, Decimal(a), "USD", "web", None) for i, ts, s, d, a in rows], TX_SCHEMA
    )


def change(account, updated, kyc, country="US", created=date(2024, 1, 1)):
    return (
        account,
        updated,
        "personal",
        None,
        None,
        country,
        kyc,
        created,
        f"{kyc}-{country}-{created}",
    )


@pytest.fixture
def accounts(spark):
    changes = spark.createDataFrame(
        [
            change("A", datetime(2024, 1, 1), "pending"),
            change("A", T0, "verified"),  # takes effect exactly at the transaction "t-tie"
            change("A", datetime(2024, 4, 1), "verified"),  # no real change: no new version
            change("A", datetime(2024, 5, 1), "failed", "DE"),
            change(
                "B", datetime(2024, 3, 10), "verified", created=date(2024, 3, 10)
            ),  # opened later
        ],
        CHANGES_SCHEMA,
    )
    return to_account_versions(changes)


def build(spark, tx_df, accounts, risk_rows=(), cases=(), cutoff=CUTOFF, maturity_days=60):
    risk = to_risk_intervals(spark.createDataFrame(list(risk_rows), RISK_SCHEMA))
    cases_df = spark.createDataFrame(list(cases), CASES_SCHEMA)
    return to_payments_unified(
        tx_df, accounts, risk, cases_df, cutoff=cutoff, maturity_days=maturity_days
    )


def test_type2_versions_only_on_real_change(accounts):
    rows = accounts.where("account_id = 'A'").orderBy("valid_from").collect()
    assert [(r["kyc_status"], r["valid_from"], r["valid_to"], r["is_current"]) for r in rows] == [
        ("pending", datetime(2024, 1, 1), T0, False),
        ("verified", T0, datetime(2024, 5, 1), False),
        ("failed", datetime(2024, 5, 1), None, True),
    ]


def test_account_attributes_as_of_transaction_time(spark, accounts):
    tx_df = tx(
        spark,
        [
            ("t-before", datetime(2024, 2, 1), "A", "B", "10.00"),  # B does not exist yet
            ("t-tie", T0, "A", "B", "20.00"),  # A's change at exactly this instant applies
            ("t-later", datetime(2024, 3, 20), "A", "B", "30.00"),
            ("t-unknown", datetime(2024, 3, 20), "X", "A", "40.00"),  # unknown source
            ("t-current", datetime(2024, 5, 15), "A", "B", "50.00"),
        ],
    )
    actual = build(spark, tx_df, accounts).select(
        "transaction_id",
        "src_kyc_status",
        "src_country",
        "src_account_age_days",
        "dst_kyc_status",
        "dst_account_age_days",
        "is_cross_border",
    )
    expected = spark.createDataFrame(
        [
            ("t-before", "pending", "US", 31, None, None, None),
            ("t-tie", "verified", "US", 60, None, None, None),
            ("t-later", "verified", "US", 79, "verified", 10, False),
            ("t-unknown", None, None, None, "verified", 79, None),
            ("t-current", "failed", "DE", 135, "verified", 66, True),
        ],
        actual.schema,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_risk_flags_as_known_then(spark, accounts):
    risk = [
        ("A", datetime(2024, 2, 15), 1, 0.9, "chargebacks"),
        ("A", datetime(2024, 3, 15), 0, 0.1, "cleared"),
        ("A", datetime(2024, 3, 15), 0, 0.1, "cleared"),
        ("B", datetime(2024, 4, 1), 1, 0.8, "mule"),
    ]
    tx_df = tx(
        spark,
        [
            ("t1", datetime(2024, 2, 1), "A", "B", "1.00"),
            ("t2", datetime(2024, 3, 1), "A", "B", "1.00"),
            ("t3", datetime(2024, 3, 15), "A", "B", "1.00"),  # cleared at this very instant
            ("t4", datetime(2024, 4, 2), "B", "A", "1.00"),
        ],
    )
    rows = build(spark, tx_df, accounts, risk_rows=risk).select(
        "transaction_id", "src_risk_flag", "dst_risk_flag"
    )
    assert sorted(tuple(r) for r in rows.collect()) == [
        ("t1", 0, 0),
        ("t2", 1, 0),
        ("t3", 0, 0),
        ("t4", 1, 0),
    ]


def test_velocity_windows_exclude_the_current_and_later_transactions(spark, accounts):
    base = datetime(2024, 3, 5, 10, 0, 0)
    tx_df = tx(
        spark,
        [
            ("w0", datetime(2024, 2, 20, 10), "A", "B", "100.00"),  # 14 days before
            ("w1", datetime(2024, 3, 1, 10), "A", "C", "10.00"),  # 4 days before
            ("w2", datetime(2024, 3, 5, 9, 30), "A", "B", "20.00"),  # 30 min before
            ("w3", base, "A", "B", "40.00"),
            ("w3-tie", base, "A", "D", "5.00"),  # same instant: not "before" w3
            ("w4", datetime(2024, 3, 6, 9, 59), "A", "C", "1.00"),
        ],
    )
    rows = {r["transaction_id"]: r for r in build(spark, tx_df, accounts).collect()}
    w3 = rows["w3"]
    assert (w3["src_txn_count_1h"], w3["src_txn_amount_1h"]) == (1, Decimal("20.00"))
    assert (w3["src_txn_count_24h"], w3["src_txn_amount_24h"]) == (1, Decimal("20.00"))
    assert (w3["src_txn_count_7d"], w3["src_txn_amount_7d"]) == (2, Decimal("30.00"))
    assert w3["src_prior_txn_count"] == 3
    assert rows["w3-tie"]["src_txn_count_1h"] == 1
    assert (rows["w4"]["src_txn_count_24h"], rows["w4"]["src_txn_amount_24h"]) == (
        2,
        Decimal("45.00"),
    )
    assert rows["w0"]["src_txn_count_7d"] == 0 and rows["w0"]["src_amount_zscore"] is None
    assert [rows[k]["is_first_pair"] for k in ("w0", "w1", "w2", "w3", "w4")] == [
        True,
        True,
        False,
        False,
        False,
    ]
    # mean of 100, 10, 20 = 43.33; w3's 40 sits just below it
    assert rows["w3"]["src_amount_mean_before"] == pytest.approx(43.33)
    assert rows["w3"]["src_amount_zscore"] < 0


def test_labels_as_of_cutoff_and_maturity(spark, accounts):
    tx_df = tx(
        spark,
        [
            ("old-confirmed", datetime(2024, 1, 10), "A", "B", "1.00"),
            ("old-false", datetime(2024, 1, 11), "A", "B", "1.00"),
            ("old-reported", datetime(2024, 1, 12), "A", "B", "1.00"),
            ("late-confirmed", datetime(2024, 3, 1), "A", "B", "1.00"),
            ("young", datetime(2024, 5, 20), "A", "B", "1.00"),
        ],
    )
    cases = [
        ("old-confirmed", "reported", datetime(2024, 2, 15), "card_testing"),
        ("old-confirmed", "confirmed", datetime(2024, 2, 25), "card_testing"),
        ("old-false", "reported", datetime(2024, 2, 15), "ato"),
        ("old-false", "false_positive", datetime(2024, 2, 20), "ato"),
        ("old-reported", "reported", datetime(2024, 2, 20), "ato"),
        # reported after the cutoff: must change nothing
        ("late-confirmed", "confirmed", datetime(2024, 6, 2), "mule"),
    ]
    rows = build(spark, tx_df, accounts, cases=cases).select(
        "transaction_id", "fraud_flag", "label_status", "label_is_mature"
    )
    assert sorted(tuple(r) for r in rows.collect()) == [
        ("late-confirmed", False, None, True),
        ("old-confirmed", True, "confirmed", True),
        ("old-false", False, "false_positive", True),
        ("old-reported", False, "reported", True),
        ("young", False, None, False),
    ]


def test_a_case_reported_after_the_cutoff_changes_nothing(spark, accounts):
    tx_df = tx(spark, [("t", datetime(2024, 2, 1), "A", "B", "1.00")])
    before = build(spark, tx_df, accounts, cases=[])
    after = build(
        spark, tx_df, accounts, cases=[("t", "confirmed", datetime(2024, 6, 1, 0, 0, 1), "ato")]
    )
    assert_df_equality(before, after)
    assert set(CONTRACT_COLUMNS) <= set(after.columns)
