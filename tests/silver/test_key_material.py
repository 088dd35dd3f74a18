"""The PII key stays out of Spark's plans: ``EXPLAIN`` (also what the UI's SQL tab and event logs
show) of every Silver plan that tokenizes holds no form of it. The event log of a whole run is
checked by ``tests/test_cli.py::test_jobs_run_under_spark_submit``."""

from pyspark.sql import functions as F

from lakehouse.privacy import INNER_KEY_COLUMN, _padded_keys
from lakehouse.silver import payments as sp
from lakehouse.silver.sessions import filter_valid, to_silver_sessions, with_quarantine_reasons
from tests.silver.test_payments_silver import bronze as payments_bronze
from tests.silver.test_sessions_silver import CHECKOUT, RULES
from tests.silver.test_sessions_silver import bronze as sessions_bronze
from tests.support.key_material import explained, leaks

# long enough to be hashed first (HMAC keys over 64 bytes are), and a short one
KEYS = [b"plan-secret-9f3c-Q", b"L0ng-plan-secret-" * 5]
TRANSACTION = ("tx1", "2024-03-01T10:00:00Z", "A", "B", "1.00", "USD", "web", "toys", "4111")
ACCOUNT = (
    "A",
    "personal",
    "Jane",
    "jane@x.com",
    "US",
    "verified",
    "2024-01-01",
    "2024-02-01T00:00:00Z",
)


def silver_plans(spark, key):
    sessions = with_quarantine_reasons(sessions_bronze(spark, [CHECKOUT]), RULES)
    transactions = sp.with_transaction_reasons(
        payments_bronze(spark, "payment_transactions", [TRANSACTION])
    )
    accounts = sp.with_account_reasons(payments_bronze(spark, "account_details", [ACCOUNT]))
    return {
        "silver/sessions": to_silver_sessions(filter_valid(sessions), key, 10**11),
        "silver/transactions": sp.to_silver_transactions(transactions, key),
        "silver/accounts": sp.to_account_versions(sp.to_account_changes(accounts, key)),
    }


def test_no_silver_plan_holds_the_key(spark):
    for key in KEYS:
        for name, df in silver_plans(spark, key).items():
            plan = explained(df)
            assert INNER_KEY_COLUMN in plan, name  # the tokenizing plan is the one explained
            assert leaks(plan, key) == [], name
            assert df.count() == 1, name  # and it runs


def test_a_key_as_a_literal_would_be_found(spark):
    """The check above can fail: a literal key is printed by every plan."""
    for key in KEYS:
        inner, _ = _padded_keys(key)
        plan = explained(spark.range(1).select(F.sha2(F.lit(inner), 256)))
        assert "inner padded key (hex)" in leaks(plan, key)
