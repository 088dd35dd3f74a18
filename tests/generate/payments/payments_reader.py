"""A plain-Python reader of the payment feeds, written independently of the generator.

It knows only the contract (CONTRACT 1.2): UTF-8 CSV with a header row and RFC 4180 quoting,
an optional byte order mark, columns that may be renamed, missing or reordered.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

BOM = b"\xef\xbb\xbf"
FEED_COLUMNS = {
    "payment_transactions": (
        "transaction_id", "transaction_ts", "source_account_id", "destination_account_id",
        "amount", "currency", "channel", "merchant_category", "card_number", "ip_address",
        "device_id",
    ),
    "account_details": (
        "account_id", "account_type", "holder_name", "email", "country", "kyc_status",
        "created_date", "updated_at",
    ),
    "external_risk_feed": ("account_id", "risk_flag", "risk_score", "reason", "effective_ts"),
    "historical_fraud_cases": ("transaction_id", "fraud_type", "status", "reported_ts"),
}  # fmt: skip
EXPECTED_ALIASES = {
    "transaction_id": ["txn_id"],
    "transaction_ts": ["txn_ts", "timestamp"],
    "amount": ["amt"],
    "account_id": ["acct_id"],
    "source_account_id": ["src_account_id"],
    "destination_account_id": ["dst_account_id"],
}
AMOUNT = re.compile(r"-?\d+\.\d{2}")
RISK_SCORE = re.compile(r"0\.\d{3}")


@dataclass
class CsvFile:
    """One landing file, with its rows keyed by canonical column names."""

    path: str
    mtime_ns: int
    has_bom: bool
    header: list[str]
    columns: list[str]  # canonical names in file order
    rows: list[dict[str, str]] = field(default_factory=list)
    physical_lines: int = 0

    @property
    def renamed(self) -> dict[str, str]:
        return {c: h for c, h in zip(self.columns, self.header, strict=True) if c != h}


def read_feed_file(root: Path, path: Path) -> CsvFile:
    """Parse one CSV file, mapping upstream aliases back to canonical names."""
    canonical_of = {alias: c for c, aliases in EXPECTED_ALIASES.items() for alias in aliases}
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    records = list(csv.reader(io.StringIO(text, newline="")))
    header = records[0]
    columns = [canonical_of.get(h, h) for h in header]
    rows = [dict(zip(columns, record, strict=True)) for record in records[1:]]
    return CsvFile(
        path=path.relative_to(root).as_posix(),
        mtime_ns=os.stat(path).st_mtime_ns,
        has_bom=raw.startswith(BOM),
        header=header,
        columns=columns,
        rows=rows,
        physical_lines=text.count("\n"),
    )


def read_feed(root: Path, feed: str) -> list[CsvFile]:
    """Every file of a feed, in modification-time order."""
    files = sorted((root / "payments" / feed).glob("*.csv"))
    return sorted((read_feed_file(root, p) for p in files), key=lambda f: f.mtime_ns)


def parse_timestamp(value: str) -> dt.datetime | None:
    """An ISO-8601 timestamp with a zone (``Z`` or an offset), or None."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def is_wrong_type(feed: str, row: dict[str, str]) -> bool:
    """Whether the feed's typed column holds a value of the wrong type."""
    if feed == "payment_transactions":
        return not AMOUNT.fullmatch(row["amount"])
    if feed == "account_details" and "created_date" in row:
        return parse_date(row["created_date"]) is None
    if feed == "external_risk_feed" and "risk_score" in row:
        return not RISK_SCORE.fullmatch(row["risk_score"])
    return False


TIMESTAMP_COLUMN = {
    "payment_transactions": "transaction_ts",
    "account_details": "updated_at",
    "external_risk_feed": "effective_ts",
    "historical_fraud_cases": "reported_ts",
}


def has_bad_timestamp(feed: str, row: dict[str, str]) -> bool:
    return parse_timestamp(row[TIMESTAMP_COLUMN[feed]]) is None


def has_line_break(row: dict[str, str]) -> bool:
    return any("\n" in value for value in row.values())


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
