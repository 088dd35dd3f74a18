"""The payment feeds as the landing zone delivers them (CONTRACT 1.2): folders, names, columns.

Column names, their upstream aliases, and which columns an extract may lose live here once, so
that the generator, its manifest and the tests agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass

PAYMENTS_DIR = "payments"

TRANSACTIONS = "payment_transactions"
ACCOUNTS = "account_details"
RISK = "external_risk_feed"
FRAUD_CASES = "historical_fraud_cases"
FEEDS = (TRANSACTIONS, ACCOUNTS, RISK, FRAUD_CASES)

CHANNELS = ("web", "mobile", "pos", "api")
KYC_STATUSES = ("verified", "pending", "failed")
CASE_STATUSES = ("reported", "confirmed", "false_positive")
REPORTED, CONFIRMED, FALSE_POSITIVE = range(len(CASE_STATUSES))

# Upstream systems rename these columns now and then (canonical name -> names seen instead).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "transaction_id": ("txn_id",),
    "transaction_ts": ("txn_ts", "timestamp"),
    "amount": ("amt",),
    "account_id": ("acct_id",),
    "source_account_id": ("src_account_id",),
    "destination_account_id": ("dst_account_id",),
}


@dataclass(frozen=True)
class FeedSpec:
    """One feed: where its files go, their canonical columns, and what anomalies may touch."""

    name: str
    file_prefix: str
    columns: tuple[str, ...]
    # Non-key columns an upstream extract may leave out.
    droppable: tuple[str, ...]
    # The column whose values can arrive with the wrong type, if any.
    typed_column: str | None
    timestamp_column: str
    # The free-text column that can carry quoted commas and newlines, if any.
    text_column: str | None

    @property
    def renamable(self) -> tuple[str, ...]:
        """Columns of this feed with known upstream aliases."""
        return tuple(c for c in self.columns if c in COLUMN_ALIASES)

    def folder(self) -> str:
        """Folder of the feed, relative to the landing root."""
        return f"{PAYMENTS_DIR}/{self.name}"


FEED_SPECS: dict[str, FeedSpec] = {
    TRANSACTIONS: FeedSpec(
        name=TRANSACTIONS,
        file_prefix="transactions",
        columns=(
            "transaction_id",
            "transaction_ts",
            "source_account_id",
            "destination_account_id",
            "amount",
            "currency",
            "channel",
            "merchant_category",
            "card_number",
            "ip_address",
            "device_id",
        ),
        droppable=("merchant_category", "card_number", "ip_address", "device_id"),
        typed_column="amount",
        timestamp_column="transaction_ts",
        text_column="merchant_category",
    ),
    ACCOUNTS: FeedSpec(
        name=ACCOUNTS,
        file_prefix="accounts",
        columns=(
            "account_id",
            "account_type",
            "holder_name",
            "email",
            "country",
            "kyc_status",
            "created_date",
            "updated_at",
        ),
        droppable=("holder_name", "email"),
        typed_column="created_date",
        timestamp_column="updated_at",
        text_column="holder_name",
    ),
    RISK: FeedSpec(
        name=RISK,
        file_prefix="risk",
        columns=("account_id", "risk_flag", "risk_score", "reason", "effective_ts"),
        droppable=("risk_score", "reason"),
        typed_column="risk_score",
        timestamp_column="effective_ts",
        text_column="reason",
    ),
    FRAUD_CASES: FeedSpec(
        name=FRAUD_CASES,
        file_prefix="fraud-cases",
        columns=("transaction_id", "fraud_type", "status", "reported_ts"),
        droppable=("fraud_type",),
        typed_column=None,
        timestamp_column="reported_ts",
        text_column=None,
    ),
}

if any(set(s.droppable) & set(s.renamable) for s in FEED_SPECS.values()):
    raise AssertionError("a column is either droppable or renamable, never both")
