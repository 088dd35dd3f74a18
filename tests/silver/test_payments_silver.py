from datetime import datetime
from decimal import Decimal

from pyspark.sql import functions as F

from lakehouse.bronze.payments import LINEAGE_FIELDS, bronze_schema
from lakehouse.privacy import token_of
from lakehouse.silver import payments as sp
from tests.silver.test_sessions_silver import decryptions

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
        "raw4": ["invalid_amount"],
        "raw5": ["missing_transaction_id", "missing_source_account"],
        "raw6": [],
    }
    warnings = {r["raw_record"]: r["warnings"] for r in checked.collect() if r["warnings"]}
    assert warnings == {"raw4": ["invalid_channel"]}  # a channel the contract does not know
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
    checked = sp.with_account_reasons(bronze(spark, "account_details", rows)).orderBy("raw_record")
    # an unknown KYC status or an unreadable creation date only warns: the snapshot is kept
    assert [(r["reasons"], r["warnings"]) for r in checked.collect()] == [
        ([], []),
        ([], []),
        ([], ["invalid_kyc_status"]),
        ([], ["invalid_created_date"]),
    ]
    changes = sp.to_account_changes(checked.where(F.size("reasons") == 0), KEY)
    newest = {r["account_id"]: r for r in sp.filter_newest_snapshot(changes).collect()}
    assert newest["A"]["email_token"] == token_of("jane@x.com", KEY)
    assert newest["A"]["country"] == "US"
    assert (newest["B"]["kyc_status"], newest["B"]["country"]) == ("unknown", "DE")
    assert (newest["C"]["kyc_status"], newest["C"]["created_date"]) == ("pending", None)
    # both snapshot rows of A say the same thing once normalised
    assert changes.where("account_id = 'A'").select("attributes_hash").distinct().count() == 1


def test_risk_rows_keep_their_flag_whatever_the_score(spark):
    """The contract sets no range for ``risk_score`` (feeds score 0-1, 0-100, 0-1000): a number
    is kept as it came; text that is no number, or not finite, only warns (score null), and
    the row's valid flag still reaches Silver."""
    ts = "2024-03-01T00:00:00Z"
    rows = [
        ("A", "1", "0.7", "ok", ts),
        ("B", "1", "87", "scale 0-100", ts),
        ("C", "0", "-3.5", "signed", ts),
        ("D", "1", "N/A", "text", ts),
        ("E", "1", "12,50", "comma", ts),
        ("F", "1", "NaN", "nan", ts),
        ("G", "1", "1e400", "overflow", ts),
        ("H", "1", None, "absent", ts),
        ("I", "yes", "0.5", "bad flag", ts),
    ]
    checked = sp.with_risk_reasons(bronze(spark, "external_risk_feed", rows))
    by_account = {r["account_id"]: r for r in checked.collect()}
    assert {a: (r["reasons"], r["warnings"]) for a, r in by_account.items()} == {
        "A": ([], []),
        "B": ([], []),
        "C": ([], []),
        "D": ([], ["invalid_risk_score"]),
        "E": ([], ["invalid_risk_score"]),
        "F": ([], ["invalid_risk_score"]),
        "G": ([], ["invalid_risk_score"]),
        "H": ([], []),
        "I": (["invalid_risk_flag"], []),  # the flag is the feed's main value
    }
    events = sp.to_risk_events(checked.where(F.size("reasons") == 0)).collect()
    scores = {r["account_id"]: (r["risk_flag"], r["risk_score"]) for r in events}
    assert scores == {
        "A": (1, 0.7),
        "B": (1, 87.0),
        "C": (0, -3.5),
        "D": (1, None),
        "E": (1, None),
        "F": (1, None),
        "G": (1, None),
        "H": (1, None),
    }
    warned = sp.to_warning_rows(
        checked.where((F.size("reasons") == 0) & (F.size("warnings") > 0)),
        key="account_id",
        source="external_risk_feed",
    ).collect()
    assert sorted((r["record_id"], r["warning"], r["source"]) for r in warned) == [
        (a, "invalid_risk_score", "external_risk_feed") for a in "DEFG"
    ]
    assert all(r["source_file"] in {"f0", "f1"} and r["bronze_batch_id"] == 0 for r in warned)


def test_each_personal_field_is_decrypted_once_a_row(spark):
    transactions = sp.to_silver_transactions(bronze(spark, "payment_transactions", []), KEY)
    accounts = sp.to_account_changes(bronze(spark, "account_details", []), KEY)
    # card and IP; holder name and e-mail
    assert (decryptions(transactions), decryptions(accounts)) == (2, 2)
