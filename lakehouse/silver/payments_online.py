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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NoReturn

import numpy as np

from lakehouse import contract
from lakehouse.features import FeatureError
from lakehouse.silver.normalize_online import (
    epoch_or_iso_micros_py,
    has_control_chars_py,
    strip_control_py,
)
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
# A request's transaction that is not a JSON object (a number, a string, a list).
REASON_NOT_AN_OBJECT = "not_an_object"

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

# The usual shapes of a transaction's time and amount, which ``parse_transactions`` reads a
# column at a time: ISO-8601 in UTC with ``Z`` (years 1000-9999, at most 6 fraction digits),
# and a plain amount of at most 2 places that fits ``decimal(18,2)``. Any other text is read
# one value at a time by the rules below.
_USUAL_TS = re.compile(
    r"[1-9]\d{3}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?Z", re.ASCII
)
_USUAL_AMOUNT = re.compile(r"\d{1,16}(?:\.\d{1,2})?", re.ASCII)

# Requests of fewer transactions are read one transaction at a time.
_COLUMNS_FROM = 8

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


def parse_transactions(
    transactions: Sequence[Any],
) -> tuple[list[PaymentTransaction], list[tuple[int, FeatureError]]]:
    """``parse_transaction`` of each of a request's transactions, a column at a time.

    Equal to calling it on each (``tests/silver/test_payments_online.py``), and 2.5x faster on
    a request of usual transactions (text values, times in UTC with ``Z``, plain amounts) of
    at least ``_COLUMNS_FROM`` of them (fewer are read one at a time). The
    text fields are normalized a column at a time, the times converted by numpy together. A
    transaction with anything else (a number or an object as a value, a time with an offset,
    a value that fails a rule) is read by ``parse_transaction`` itself.

    Returns:
        The typed transactions in order (complete only when there are no errors) and the
        errors with each one's position; a transaction that is not an object is an error of
        its own (``not_an_object``).
    """
    n = len(transactions)
    records: list[PaymentTransaction] = []
    errors: list[tuple[int, FeatureError]] = []
    if n < _COLUMNS_FROM:  # a request of a few: the columns' fixed cost is not worth it
        for position, txn in enumerate(transactions):
            _parse_alone(position, txn, records, errors)
        return records, errors
    own, texts = _text_columns(transactions)
    ts_us = _column_ts_micros(texts["transaction_ts"])
    amounts = [
        None
        if text is None
        else Decimal(text).quantize(_CENTS)
        if _USUAL_AMOUNT.fullmatch(text)
        else amount_of(text)
        for text in _trimmed(texts["amount"])
    ]
    ids = _trimmed(texts["transaction_id"])
    sources = _trimmed(texts["source_account_id"])
    destinations = _trimmed(texts["destination_account_id"])
    currencies = [c.upper() if c else None for c in _trimmed(texts["currency"])]
    channels = [c.lower() if c else None for c in _trimmed(texts["channel"])]
    categories = _trimmed(texts["merchant_category"])
    for i in range(n):
        amount = amounts[i]
        if (
            i in own
            or ids[i] is None
            or ts_us[i] is None
            or amount is None
            or amount < 0
            or sources[i] is None
        ):
            _parse_alone(i, transactions[i], records, errors)
            continue
        records.append(
            PaymentTransaction(
                ids[i],
                ts_us[i],
                sources[i],
                destinations[i],
                amount,
                currencies[i],
                channels[i],
                categories[i],
            )
        )
    return records, errors


def _parse_alone(
    position: int,
    txn: Any,
    records: list[PaymentTransaction],
    errors: list[tuple[int, FeatureError]],
) -> None:
    """One transaction through ``parse_transaction``: its record or its error appended."""
    try:
        if not isinstance(txn, Mapping):
            raise FeatureError("", REASON_NOT_AN_OBJECT, "a transaction is a JSON object")
        records.append(parse_transaction(txn))
    except FeatureError as error:
        errors.append((position, error))


def _text_columns(transactions: Sequence[Any]) -> tuple[set[int], dict[str, list[Any]]]:
    """The request's fields a column each, as the text a CSV cell would hold without its
    control characters, and the positions to read one at a time (not an object, or an
    object or list as a value)."""
    n = len(transactions)
    own: set[int] = set()
    mappings: list[Mapping[str, Any]] = []
    for position, txn in enumerate(transactions):
        if type(txn) is not dict:
            own.add(position)
            txn = {}
        mappings.append(txn)
    texts: dict[str, list[Any]] = {}
    for name in REQUEST_FIELDS:
        cells = [t.get(name) for t in mappings]
        strings = [cell for cell in cells if type(cell) is str]
        if len(strings) + cells.count(None) < n:  # numbers or objects among them
            cells = [_cell(cell) for cell in cells]  # the text a CSV cell would hold
            # an object or a list: parse_transaction names the error
            own.update(i for i, cell in enumerate(cells) if cell is _NOT_SCALAR)
            cells = [None if cell is _NOT_SCALAR else cell for cell in cells]
            strings = [cell for cell in cells if cell is not None]
        if has_control_chars_py("".join(strings)):
            cells = [strip_control_py(cell) for cell in cells]
        texts[name] = cells
    return own, texts


def _trimmed(cells: list[Any]) -> list[str | None]:
    """``trim_to_null`` of each cell (None for a value read one at a time)."""
    return [cell.strip(" ") or None if type(cell) is str else None for cell in cells]


def _column_ts_micros(cells: list[Any]) -> list[int | None]:
    """``_ts_micros`` of each cell: the usual UTC times converted by numpy together."""
    out: list[int | None] = [None] * len(cells)
    usual: list[int] = []
    texts: list[str] = []
    for i, cell in enumerate(cells):
        text = cell.strip(" ") if type(cell) is str else None
        if text and _USUAL_TS.fullmatch(text):
            usual.append(i)
            texts.append(text[:-1])  # numpy reads no zone: the text is UTC
        elif cell is not None:
            out[i] = _ts_micros(cell)
    if texts:
        try:
            micros = np.array(texts, dtype="datetime64[us]").astype(np.int64).tolist()
        except ValueError:  # a day the month does not have: each read on its own
            micros = [_ts_micros(text + "Z") for text in texts]
        for i, value in zip(usual, micros, strict=True):
            out[i] = value
    return out


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
