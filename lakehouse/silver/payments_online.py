"""Online twin of ``lakehouse.silver.payments``: one transaction validated and typed as Silver.

The prediction service receives one transaction as JSON (CONTRACT 1.2 column names);
``parse_transaction`` reads each value as the CSV cell Bronze would hold, applies Silver's
rules in Silver's order and raises ``FeatureError`` with Silver's reason code, or returns the
typed ``PaymentTransaction``.

Known, deliberate differences from Silver, on inputs no real feed sends: timestamps before
year 1 or after 9999 (Spark accepts years 0 to 294247; Python datetimes cannot hold them) are
rejected as ``invalid_transaction_ts``; a JSON object or list as a value is rejected with
``wrong_type`` (a CSV cell cannot hold one).

No pyspark here: the prediction service runs this for every request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NoReturn

import numpy as np

from lakehouse import contract
from lakehouse.features import FeatureError
from lakehouse.silver.normalize_online import epoch_or_iso_micros_py, strip_control_py
from lakehouse.silver.payments_rules import (
    AMOUNT_PATTERN,
    AMOUNT_PRECISION,
    AMOUNT_SCALE,
    NO_EPOCH_SECONDS,
)
from lakehouse.spark_semantics import (
    MAX_DATETIME_US,
    MIN_DATETIME_US,
    datetime_to_micros,
    java_regex,
    java_trim,
    micros_to_datetime,
    trim_to_null,
    try_decimal,
)

# A JSON object or list where a value belongs: a CSV cell never holds one, so Silver has no code.
REASON_WRONG_TYPE = "wrong_type"

# The request fields the features read (CONTRACT 1.2 names): the transaction feed's columns up
# to the merchant category (card, ip and device are PII the features never read).
REQUEST_FIELDS = contract.TRANSACTION_COLUMNS[
    : contract.TRANSACTION_COLUMNS.index("merchant_category") + 1
]
_REASON_FIELD = {
    contract.REASON_MISSING_TRANSACTION_ID: "transaction_id",
    contract.REASON_INVALID_TRANSACTION_TS: "transaction_ts",
    contract.REASON_INVALID_AMOUNT: "amount",
    contract.REASON_NEGATIVE_AMOUNT: "amount",
    contract.REASON_MISSING_SOURCE_ACCOUNT: "source_account_id",
}
_CENTS = Decimal("0.01")

_PLAIN_NUMBER = java_regex(AMOUNT_PATTERN)  # iso_ts uses the same pattern as amounts
_NUMBER_BODY = re.compile(AMOUNT_PATTERN.strip("^$"), re.ASCII)


class _NotScalar:
    """Marker for a JSON object or list where a scalar belongs."""


_NOT_SCALAR = _NotScalar()


def _cell(value: Any) -> str | _NotScalar | None:
    """The text a CSV cell would hold for a JSON value."""
    if type(value) is str:  # the usual case, first
        return value
    if isinstance(value, np.generic):  # a value that came through pandas
        value = value.item()
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # fixed notation, so that 1e-05 reads like the 0.00001 a CSV would carry
        return format(Decimal(repr(value)), "f") if math.isfinite(value) else repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return _NOT_SCALAR


def amount_of(text: str | None) -> Decimal | None:
    """Silver's ``amount_of``: a plain decimal, cast to ``decimal(18,2)`` rounding half up."""
    if text is None or not _PLAIN_NUMBER.match(text):
        return None
    body = java_trim(text)
    if not _NUMBER_BODY.fullmatch(body):  # e.g. a trailing U+2028 passes $ but not the cast
        return None
    return try_decimal(body, AMOUNT_PRECISION, AMOUNT_SCALE)


def _ts_micros(raw: datetime | str | None) -> int | None:
    """Silver's ``iso_ts`` as microseconds since the epoch (UTC), or None."""
    text = None if isinstance(raw, datetime) else trim_to_null(raw)
    if isinstance(raw, datetime):  # a caller that parsed the JSON already; naive means UTC
        micros = datetime_to_micros(raw)
    elif text is None or _PLAIN_NUMBER.match(text):
        return None
    else:
        micros = epoch_or_iso_micros_py(text, NO_EPOCH_SECONDS)
    # Python datetimes end at year 9999; Spark's timestamps go further (a documented difference)
    return micros if micros is not None and MIN_DATETIME_US <= micros <= MAX_DATETIME_US else None


@dataclass(frozen=True, slots=True)
class PaymentTransaction:
    """A transaction as Silver stores it (the columns the features read), validated.

    Attributes:
        transaction_id: Trimmed id.
        ts_us: ``transaction_ts`` as microseconds since the epoch, UTC.
        source_account_id: Trimmed id.
        destination_account_id: Trimmed id, or None.
        amount: ``decimal(18,2)``, never negative.
        currency: Upper-cased code, or None.
        channel: Trimmed and lower-cased, or None: ``web``, ``mobile``, ``pos``, ``api``, or a
            channel the contract does not know, kept as Silver keeps it (with a warning there).
        merchant_category: Trimmed text, or None.
    """

    transaction_id: str
    ts_us: int
    source_account_id: str
    destination_account_id: str | None
    amount: Decimal
    currency: str | None
    channel: str | None
    merchant_category: str | None

    @property
    def transaction_ts(self) -> datetime:
        """``transaction_ts`` as an aware UTC datetime."""
        return micros_to_datetime(self.ts_us)

    @property
    def cents(self) -> int:
        """The amount in cents (exact)."""
        return int(self.amount.scaleb(2))


def parse_transaction(txn: Mapping[str, Any]) -> PaymentTransaction:
    """Validate and type one transaction as Silver does.

    Values may come as JSON gives them: amount as a string or a number, timestamps as
    ISO-8601 strings with ``Z`` or an offset (or as datetimes; naive ones are UTC). Fields
    beyond the ones the features read are ignored, as Bronze sets unknown columns aside.

    Raises:
        FeatureError: With Silver's reason code for the first failing rule, in Silver's order
            (the ``reason`` column of ``quarantine/payment_transactions``); the message lists
            every failing rule.
    """
    cells: dict[str, Any] = {}
    for name in REQUEST_FIELDS:
        value = txn.get(name)
        is_time = name == "transaction_ts" and isinstance(value, datetime)
        cell = value if is_time else _cell(value)
        if isinstance(cell, _NotScalar):
            raise FeatureError(name, REASON_WRONG_TYPE, f"{name}: a JSON object or list")
        cells[name] = strip_control_py(cell)
    transaction_id = trim_to_null(cells["transaction_id"])
    ts_us = _ts_micros(cells["transaction_ts"])
    amount = amount_of(trim_to_null(cells["amount"]))
    source = trim_to_null(cells["source_account_id"])
    channel = trim_to_null(cells["channel"])
    channel = channel.lower() if channel else None
    is_valid = (
        transaction_id is not None
        and ts_us is not None
        and amount is not None
        and amount >= 0
        and source is not None
    )
    if not is_valid:
        _raise_invalid(transaction_id, ts_us, amount, source)
    currency = trim_to_null(cells["currency"])
    return PaymentTransaction(
        transaction_id=transaction_id,
        ts_us=ts_us,
        source_account_id=source,
        destination_account_id=trim_to_null(cells["destination_account_id"]),
        amount=amount,
        currency=currency.upper() if currency else None,
        channel=channel,
        merchant_category=trim_to_null(cells["merchant_category"]),
    )


def _raise_invalid(
    transaction_id: str | None,
    ts_us: int | None,
    amount: Decimal | None,
    source: str | None,
) -> NoReturn:
    """Silver's reasons for an invalid transaction, in Silver's order: the first one raised,
    all of them in the message."""
    checks = [
        (transaction_id is None, contract.REASON_MISSING_TRANSACTION_ID),
        (ts_us is None, contract.REASON_INVALID_TRANSACTION_TS),
        (amount is None, contract.REASON_INVALID_AMOUNT),
        (amount is not None and amount < 0, contract.REASON_NEGATIVE_AMOUNT),
        (source is None, contract.REASON_MISSING_SOURCE_ACCOUNT),
    ]
    reasons = [code for failed, code in checks if failed]
    raise FeatureError(_REASON_FIELD[reasons[0]], reasons[0], ", ".join(reasons))


def as_transaction(txn: Mapping[str, Any] | PaymentTransaction) -> PaymentTransaction:
    """``txn`` parsed with ``parse_transaction`` unless it is parsed already."""
    return txn if isinstance(txn, PaymentTransaction) else parse_transaction(txn)


def cents_of(amount: Any) -> int:
    """A stored amount (Decimal from Delta; a number or text otherwise) in cents."""
    if not isinstance(amount, Decimal):
        amount = amount_of(trim_to_null(_cell(amount)))
    return int(amount.quantize(_CENTS).scaleb(2))
