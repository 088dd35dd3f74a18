"""Clean CSV values of each feed, rendered column by column from the simulated data.

Row-based feeds return a renderer per column, so that a file missing a column never renders it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.generate.customers import EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES
from lakehouse.generate.payments.accounts import (
    ACCOUNT_TYPES,
    BUSINESS_SUFFIXES,
    COUNTRIES,
    CURRENCIES,
    BookKey,
    build_account_book,
)
from lakehouse.generate.payments.contract import CASE_STATUSES, CHANNELS, KYC_STATUSES
from lakehouse.generate.payments.formats import (
    SECONDS_PER_DAY,
    UTC_DESIGNATOR,
    decimal_fraction,
    integers,
    ipv4,
    iso_dates,
    iso_timestamps,
    labels,
    money,
    zone_designators,
    zoned_timestamps,
)
from lakehouse.generate.payments.fraud import FRAUD_TYPES
from lakehouse.generate.payments.identifiers import account_ids, device_ids, transaction_ids
from lakehouse.generate.payments.risk import REASONS
from lakehouse.generate.payments.transactions import CATEGORIES

# The risk provider writes UTC as an explicit offset.
RISK_ZONE_DESIGNATOR = "+00:00"
NAME_SEPARATOR = " "
EMAIL_LOCAL_SEPARATOR = "."
EMAIL_AT = "@"

Renderers = dict[str, Callable[[], pa.Array]]


def _utc(seconds: np.ndarray, designator: str = UTC_DESIGNATOR) -> pa.Array:
    return pc.binary_join_element_wise(iso_timestamps(seconds), designator, "")


def _lower(codes: np.ndarray, vocabulary: tuple[str, ...]) -> pa.Array:
    return labels(codes, tuple(v.lower() for v in vocabulary))


def transaction_columns(rows: dict[str, np.ndarray]) -> Renderers:
    """Clean values of transaction rows."""
    return {
        "transaction_id": lambda: transaction_ids(rows["transaction"]),
        "transaction_ts": lambda: zoned_timestamps(
            rows["ts_s"],
            rows["offset_minutes"],
            zone_designators(rows["offset_minutes"], rows["is_local_time"]),
        ),
        "source_account_id": lambda: account_ids(rows["source"]),
        "destination_account_id": lambda: account_ids(rows["destination"]),
        "amount": lambda: money(rows["cents"]),
        "currency": lambda: labels(rows["currency"], CURRENCIES),
        "channel": lambda: labels(rows["channel"], CHANNELS),
        "merchant_category": lambda: labels(rows["category"], CATEGORIES),
        "card_number": lambda: integers(rows["card"]),
        "ip_address": lambda: ipv4(rows["ip"]),
        "device_id": lambda: device_ids(rows["device"]),
    }


@lru_cache(maxsize=1)
def account_version_columns(key: BookKey) -> dict[str, pa.Array]:
    """Clean values of every account version (snapshots take their rows from these)."""
    book = build_account_book(key)
    account = book.version_account
    first = book.first_name[account]
    last = book.last_name[account]
    suffix = book.business_suffix[account]
    is_business = pa.array(book.is_business_name[account])
    number = integers(book.email_number[account])
    domain = labels(book.email_domain[account], EMAIL_DOMAINS)
    person = pc.binary_join_element_wise(
        labels(first, FIRST_NAMES), labels(last, LAST_NAMES), NAME_SEPARATOR
    )
    business = pc.binary_join_element_wise(
        labels(last, LAST_NAMES), labels(suffix, BUSINESS_SUFFIXES), NAME_SEPARATOR
    )
    person_mail = pc.binary_join_element_wise(
        _lower(first, FIRST_NAMES), EMAIL_LOCAL_SEPARATOR, _lower(last, LAST_NAMES), number, ""
    )
    business_mail = pc.binary_join_element_wise(
        _lower(last, LAST_NAMES),
        EMAIL_LOCAL_SEPARATOR,
        _lower(suffix, BUSINESS_SUFFIXES),
        number,
        "",
    )
    mailbox = pc.if_else(is_business, business_mail, person_mail)
    return {
        "account_id": account_ids(account),
        "account_type": labels(book.version_type, ACCOUNT_TYPES),
        "holder_name": pc.if_else(is_business, business, person),
        "email": pc.binary_join_element_wise(mailbox, EMAIL_AT, domain, ""),
        "country": labels(book.version_country, COUNTRIES),
        "kyc_status": labels(book.version_kyc, KYC_STATUSES),
        "created_date": iso_dates(book.created_s[account] // SECONDS_PER_DAY),
        "updated_at": _utc(book.version_from_s),
    }


def risk_columns(rows: dict[str, np.ndarray]) -> Renderers:
    """Clean values of risk-feed rows."""
    return {
        "account_id": lambda: account_ids(rows["account"]),
        "risk_flag": lambda: integers(rows["flag"]),
        "risk_score": lambda: decimal_fraction(rows["score_milli"]),
        "reason": lambda: labels(rows["reason"], REASONS),
        "effective_ts": lambda: _utc(rows["effective_s"], RISK_ZONE_DESIGNATOR),
    }


def fraud_case_columns(rows: dict[str, np.ndarray]) -> Renderers:
    """Clean values of fraud-case status rows."""
    return {
        "transaction_id": lambda: transaction_ids(rows["transaction"]),
        "fraud_type": lambda: labels(rows["fraud_type"], FRAUD_TYPES),
        "status": lambda: labels(rows["status"], CASE_STATUSES),
        "reported_ts": lambda: _utc(rows["status_s"]),
    }
