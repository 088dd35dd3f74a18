from datetime import datetime
from decimal import Decimal

from pyspark.sql import functions as F

from lakehouse.bronze.payments import LINEAGE_FIELDS, bronze_schema
from lakehouse.privacy import token_of
from lakehouse.silver import payments as sp

KEY = b"k"
T = datetime(2024, 3, 1)


def bronze(spark, feed, rows):
    schema = bronze_schema(feed)
    n = len(schema.fieldNames()) - len(LINEAGE_FIELDS)  # canonical columns, then lineage
    full = []
    for i, values in enumerate(rows):
        values = list(values) + [None] * (n - len(values))
        lineage = [None, [], f"raw{i}", False, None, None, f"f{i % 2}"]
        lineage += [datetime(2024, 3, 2, i), 0, T]
        full.append(tuple(values + lineage))
    return spark.createDataFrame(full, schema)


def test_transactions_validated_typed_and_tokenized(spark):
    rows = [
        (
            "tx1",
            "2024-03-01T10:00:00+01:00",
            "A",
            "B",
            "12.50",
            "usd",
            "WEB",
            "toys",
            "4111-1111-1111-1234",
            "203.0.113.7",
            "d1",
        ),
        ("tx2", "2024-03-01T10:00:00Z", "A", "B", "12,50", "USD", "web"),
        ("tx3", "2024-02-30T10:00:00Z", "A", "B", "1.00", "USD", "web"),
        ("tx4", "2024-03-01T10:00:00Z", "A", "B", "-5.00", "USD", "web"),
        ("tx5", "2024-03-01T10:00:00Z", "A", "B", "N/A", "USD", "fax"),
        (None, "2024-03-01T10:00:00Z", None, "B", "1.00", "USD", "api"),
        ("tx1", "2024-03-01T09:00:00Z", "A", "B", "12.50", "USD", "web"),  # a duplicate id
    ]
    checked = sp.with_transaction_reasons(bronze(spark, "payment_transactions", rows))
    reasons = {r["raw_record"]: r["reasons"] for r in checked.collect()}
    assert reasons == {
        "raw0": [],
        "raw1": ["invalid_amount"],
        "raw2": ["invalid_transaction_ts"],
        "raw3": ["negative_amount"],
        "raw4": ["invalid_amount", "invalid_channel"],
        "raw5": ["missing_transaction_id", "missing_source_account"],
        "raw6": [],
    }
    typed = sp.to_silver_transactions(checked.where(F.size("reasons") == 0), KEY)
    first = sp.filter_first_transaction(typed).collect()
    assert len(first) == 1
    row = first[0]
    assert row["transaction_ts"] == datetime(2024, 3, 1, 9, 0)  # +01:00 -> UTC
    assert (row["amount"], row["currency"], row["channel"]) == (Decimal("12.50"), "USD", "web")
    assert row["card_last4"] == "1234"
    assert row["card_token"] == token_of("4111111111111234", KEY)
    assert row["ip_token"] == token_of("203.0.113.7", KEY)
    assert "4111" not in str(row.asDict().values()).replace(row["card_token"], "")


def test_absurd_timestamps_and_amounts_are_quarantined_not_fatal(spark):
    """Text that once failed the whole step (decimal overflow in a cast) gets a reason."""
    base = ["A", "B", "1.00", "USD", "web"]
    rows = [
        ("t0", "1e30", *base),
        ("t1", "-1e27", *base),
        ("t2", "1e2147483647", *base),
        ("t3", "2024-03-01T10:00:00Z", "A", "B", "1e2147483647", "USD", "web"),
        ("t4", "2024-03-01T10:00:00Z", "A", "B", "99999999999999999999999", "USD", "web"),
        ("t5", "1e5", *base),  # not a plain number: epoch milliseconds, as before
    ]
    checked = sp.with_transaction_reasons(bronze(spark, "payment_transactions", rows))
    reasons = {r["transaction_id"]: r["reasons"] for r in checked.collect()}
    assert reasons == {
        "t0": ["invalid_transaction_ts"],
        "t1": ["invalid_transaction_ts"],
        "t2": ["invalid_transaction_ts"],
        "t3": ["invalid_amount"],
        "t4": ["invalid_amount"],
        "t5": [],
    }
    typed = sp.to_silver_transactions(checked.where(F.size("reasons") == 0), KEY).collect()
    assert [r["transaction_ts"] for r in typed] == [datetime(1970, 1, 1, 0, 1, 40)]
    for feed, column in (
        ("account_details", "updated_at"),
        ("external_risk_feed", "effective_ts"),
        ("historical_fraud_cases", "reported_ts"),
    ):
        names = bronze_schema(feed).fieldNames()
        values = {"account_id": "A", "transaction_id": "t", column: "1e30"}
        row = [values.get(n) for n in names[: len(names) - len(LINEAGE_FIELDS)]]
        check = {
            "account_details": sp.with_account_reasons,
            "external_risk_feed": sp.with_risk_reasons,
            "historical_fraud_cases": sp.with_fraud_case_reasons,
        }[feed]
        [result] = check(bronze(spark, feed, [row])).collect()
        assert f"invalid_{column}" in result["reasons"], feed


def test_latest_case_status_with_ties_and_cutoff(spark):
    history = spark.createDataFrame(
        [
            ("t1", "reported", datetime(2024, 3, 1), "ato"),
            ("t1", "confirmed", datetime(2024, 3, 1), "ato"),  # same instant: final status wins
            ("t2", "reported", datetime(2024, 3, 1), "ato"),
            ("t2", "false_positive", datetime(2024, 4, 1), "ato"),
        ],
        "transaction_id string, status string, reported_ts timestamp, fraud_type string",
    )
    latest = {r["transaction_id"]: r["status"] for r in sp.latest_case_status(history).collect()}
    assert latest == {"t1": "confirmed", "t2": "false_positive"}
    as_of = sp.latest_case_status(history, F.lit(datetime(2024, 3, 15))).collect()
    assert {r["transaction_id"]: r["status"] for r in as_of} == {
        "t1": "confirmed",
        "t2": "reported",
    }


def test_account_snapshots_newest_view_wins_and_pii_is_tokenized(spark):
    rows = [
        (
            "A",
            "personal",
            "Jane Doe",
            "Jane@X.com",
            "us",
            "VERIFIED",
            "2024-01-01",
            "2024-02-01T00:00:00Z",
        ),
        (
            "A",
            "personal",
            "Jane Doe",
            "jane@x.com",
            "US",
            "verified",
            "2024-01-01",
            "2024-02-01T00:00:00Z",
        ),
        ("B", "business", "Acme", "a@b.c", "DE", "unknown", "2024-01-01", "2024-02-01T00:00:00Z"),
        ("C", "personal", "Bo", "b@c.d", "FR", "pending", "yesterday", "2024-02-01T00:00:00Z"),
    ]
    checked = sp.with_account_reasons(bronze(spark, "account_details", rows))
    assert [r["reasons"] for r in checked.orderBy("raw_record").collect()] == [
        [],
        [],
        ["invalid_kyc_status"],
        ["invalid_created_date"],
    ]
    changes = sp.to_account_changes(checked.where(F.size("reasons") == 0), KEY)
    newest = sp.filter_newest_snapshot(changes).collect()
    assert len(newest) == 1
    assert newest[0]["email_token"] == token_of("jane@x.com", KEY)
    assert newest[0]["country"] == "US"
    # both snapshot rows say the same thing once normalised
    assert changes.select("attributes_hash").distinct().count() == 1
