"""The payment feeds as the landing zone delivers them (CONTRACT 1.2): folders, names, columns.

Feed names, columns, channels and statuses come from ``lakehouse.contract`` (the pipeline reads
the same); the columns' upstream aliases, and which columns an extract may lose, live here
once, so that the generator, its manifest and the tests agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.contract import (
    ACCOUNTS,
    CHANNELS,
    FEED_COLUMNS,
    FRAUD_CASES,
    KYC_STATUSES,
    RISK,
    TRANSACTIONS,
)
from lakehouse.contract import FRAUD_STATUSES as CASE_STATUSES
from lakehouse.contract import PAYMENT_FEEDS as FEEDS

__all__ = [
    "ACCOUNTS",
    "CASE_STATUSES",
    "CHANNELS",
    "COLUMN_ALIASES",
    "CONFIRMED",
    "FALSE_POSITIVE",
    "FEEDS",
    "FEED_SPECS",
    "FRAUD_CASES",
    "KYC_STATUSES",
    "PAYMENTS_DIR",
    "REPORTED",
    "RISK",
    "TRANSACTIONS",
    "FeedSpec",
]

PAYMENTS_DIR = "payments"

# Case statuses as the indices the generator draws (in CASE_STATUSES order).
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
        columns=FEED_COLUMNS[TRANSACTIONS],
        droppable=("merchant_category", "card_number", "ip_address", "device_id"),
        typed_column="amount",
        timestamp_column="transaction_ts",
        text_column="merchant_category",
    ),
    ACCOUNTS: FeedSpec(
        name=ACCOUNTS,
        file_prefix="accounts",
        columns=FEED_COLUMNS[ACCOUNTS],
        droppable=("holder_name", "email"),
        typed_column="created_date",
        timestamp_column="updated_at",
        text_column="holder_name",
    ),
    RISK: FeedSpec(
        name=RISK,
        file_prefix="risk",
        columns=FEED_COLUMNS[RISK],
        droppable=("risk_score", "reason"),
        typed_column="risk_score",
        timestamp_column="effective_ts",
        text_column="reason",
    ),
    FRAUD_CASES: FeedSpec(
        name=FRAUD_CASES,
        file_prefix="fraud-cases",
        columns=FEED_COLUMNS[FRAUD_CASES],
        droppable=("fraud_type",),
        typed_column=None,
        timestamp_column="reported_ts",
        text_column=None,
    ),
}

if any(set(s.droppable) & set(s.renamable) for s in FEED_SPECS.values()):
    raise AssertionError("a column is either droppable or renamable, never both")
