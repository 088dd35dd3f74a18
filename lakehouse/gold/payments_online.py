"""Online twin of ``lakehouse.gold.payments``: the fraud features of one payment, in Python.

Takes a transaction as the Silver twin types it (``lakehouse.silver.payments_online``) and
computes every feature column of ``gold/payments_unified`` (``lakehouse.contract``):

- ``AccountHistory`` holds every account version and risk interval and answers the
  point-in-time joins (``as_of``);
- ``VelocityState`` holds each source account's recent transactions plus running aggregates
  and answers ``with_velocity_features``;
- ``transaction_features`` combines them for one transaction, ``feature_rows`` for a batch
  (held as columns, as the service's model reads them), ``frame`` for a batch as a DataFrame.

Both are built from data (pandas frames of the Silver tables); they never read the lake
themselves (``lakehouse.features.fraud_online`` loads them).

Spark semantics reproduced on purpose (each is checked by ``tests/gold/test_payments_online.py``):

- Velocity frames are ``rangeBetween(-window, -1 µs)``: a transaction exactly ``window``
  before counts, one at the same instant does not. The window is ``[ts - window, ts)``.
- ``src_amount_mean_before`` is Spark's ``avg(double)`` over a growing frame: a running double
  sum in time order divided by the count. ``stddev_samp`` is Spark's Welford update
  (``CentralMomentAgg``) and is null for fewer than two values. Both are replayed with the
  same operations in the same order, so the doubles are bit-identical, which matters because
  a mean of cents lands exactly on a half cent very often (10.00 and 10.01).
- ``round(x, d)`` is Spark's (``lakehouse.spark_semantics.spark_round``): half-up on the
  decimal text of the double.
- Among transactions of one account at the very same instant, Spark adds them to the running
  sums in its sort's (unspecified) order; here they are added in ``transaction_id`` order.
  Double addition is not associative, so a later mean could differ in its last bit; after
  rounding that shows only on an exact rounding boundary.

Why not the exact decimal mean: on a generated book of 11,310 transactions it disagrees with
Gold's ``src_amount_mean_before`` on 85 rows (0.8%), numpy's pairwise mean on 39 and
``math.fsum`` on 64; the sequential double replay disagrees on none.

No pyspark here: the prediction service runs this for every request.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import pandas as pd

from lakehouse.contract import PAYMENTS_UNIFIED_CONTRACT_COLUMNS, feature_columns
from lakehouse.features import FeatureError, FeatureRows
from lakehouse.silver.payments_online import PaymentTransaction, as_transaction, cents_of
from lakehouse.spark_semantics import (
    EPOCH_ORDINAL,
    EPOCH_WEEKDAY,
    MICROS_PER_DAY,
    MICROS_PER_HOUR,
    MICROS_PER_SECOND,
    datetime_to_micros,
    micros_to_datetime,
    spark_round,
)

# Columns of gold/payments_unified that are labels, never model input.
LABEL_COLUMNS = ("fraud_flag", "label_is_mature", "label_status")
# How far behind the newest observed transaction a transaction may arrive and still get exact
# features: entries are kept for the largest window plus this.
DEFAULT_MAX_LATENESS_S = 3_600
# Idle accounts are swept for expired entries this often (observations), bounding memory.
SWEEP_EVERY = 100_000

# The columns of the Silver tables the history and the velocity state are built from.
ACCOUNT_VERSION_COLUMNS = [
    "account_id",
    "account_type",
    "country",
    "kyc_status",
    "created_date",
    "valid_from",
    "valid_to",
]
RISK_INTERVAL_COLUMNS = ["account_id", "risk_flag", "valid_from", "valid_to"]
VELOCITY_COLUMNS = [
    "transaction_id",
    "transaction_ts",
    "source_account_id",
    "destination_account_id",
    "amount",
]
_NO_AMOUNT = Decimal("0.00")
# the velocity state's features over all of an account's history, after its windows'
SUMMARY_FEATURES = (
    "src_prior_txn_count",
    "is_first_pair",
    "src_amount_mean_before",
    "src_amount_zscore",
)


def online_feature_columns(windows: Mapping[str, int]) -> list[str]:
    """Every column of ``gold/payments_unified`` the model may read, in Gold's order.

    The contract columns and the feature columns, without the labels.
    """
    return list(_columns(tuple(windows)))


@cache
def _columns(window_names: tuple[str, ...]) -> tuple[str, ...]:
    columns = PAYMENTS_UNIFIED_CONTRACT_COLUMNS + feature_columns(dict.fromkeys(window_names, 0))
    return tuple(c for c in columns if c not in LABEL_COLUMNS)


def _micros_of(series: pd.Series) -> list[int | None]:
    """Timestamps (aware, naive UTC or ISO strings) as epoch microseconds; null as None."""
    ts = pd.to_datetime(series, utc=True).dt.as_unit("us")
    micros = ts.dt.tz_localize(None).to_numpy().view("int64").tolist()
    return [None if missing else v for v, missing in zip(micros, ts.isna().tolist(), strict=True)]


def _null(value: Any) -> Any:
    """pandas' missing markers (NaN, NaT, NA) as None."""
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _day_number(value: Any) -> int | None:
    """A date (or datetime) as days since the epoch; null as None."""
    value = _null(value)
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    elif isinstance(value, str):
        value = date.fromisoformat(value)
    return value.toordinal() - EPOCH_ORDINAL


# --- accounts as of an instant --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountAsOf:
    """An account's attributes and risk flag at one instant (all None when unknown)."""

    account_type: str | None
    country: str | None
    kyc_status: str | None
    created_day: int | None  # created_date as days since the epoch
    risk_flag: int

    @property
    def created_date(self) -> date | None:
        """``created_date`` of the version in effect."""
        if self.created_day is None:
            return None
        return date.fromordinal(self.created_day + EPOCH_ORDINAL)

    def age_days(self, ts_us: int) -> int | None:
        """Gold's ``*_account_age_days``: UTC days from creation, None if negative or unknown."""
        return _age_days(self.created_day, ts_us // MICROS_PER_DAY)


def _age_days(created_day: int | None, day: int) -> int | None:
    """Days from ``created_day`` to ``day`` (both days since the epoch); None if negative or
    unknown."""
    return None if created_day is None or day < created_day else day - created_day


class _Intervals:
    """One account's non-overlapping ``[valid_from, valid_to)`` intervals, by start."""

    __slots__ = ("ends", "starts", "values")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int | None] = []
        self.values: list[tuple] = []

    def at(self, ts_us: int) -> tuple | None:
        i = bisect_right(self.starts, ts_us) - 1
        if i < 0:
            return None
        end = self.ends[i]
        # inclusive start, exclusive end: Gold's _as_of_condition
        return self.values[i] if end is None or ts_us < end else None


def _index_intervals(df: pd.DataFrame, value_columns: list[str]) -> dict[str, _Intervals]:
    by_account: dict[str, _Intervals] = {}
    if df is None or df.empty:
        return by_account
    starts, ends = _micros_of(df["valid_from"]), _micros_of(df["valid_to"])
    values = (df[c].tolist() for c in value_columns)
    rows = zip(df["account_id"].tolist(), starts, ends, *values, strict=True)
    # a row without a start never satisfies valid_from <= ts in Spark either
    for account, start, end, *values in sorted(
        (r for r in rows if r[0] is not None and r[1] is not None), key=lambda r: (r[0], r[1])
    ):
        intervals = by_account.get(account)
        if intervals is None:
            intervals = by_account[account] = _Intervals()
        intervals.starts.append(start)
        intervals.ends.append(end)
        intervals.values.append(tuple(_null(v) for v in values))
    return by_account


_UNKNOWN = (None, None, None, None)
_UNKNOWN_AT = (*_UNKNOWN, 0)


class AccountHistory:
    """Every account version and risk interval, for point-in-time lookups.

    Holding the whole history (not only the latest snapshot) gives the service the newest state
    it holds for a new transaction and gives tests the exact as-of values of any past one.

    Attributes:
        table_versions: The Delta versions the history was read from (``layer/name`` ->
            version, None for a table that does not exist yet), when loaded from the lake.
    """

    def __init__(
        self,
        versions: pd.DataFrame | None,
        risk_intervals: pd.DataFrame | None,
        table_versions: Mapping[str, int | None] | None = None,
    ) -> None:
        """Index the two Silver tables.

        Args:
            versions: ``silver/accounts`` rows: ``account_id``, ``valid_from``, ``valid_to``,
                ``account_type``, ``country``, ``kyc_status``, ``created_date``.
            risk_intervals: ``silver/risk_intervals`` rows: ``account_id``, ``valid_from``,
                ``valid_to``, ``risk_flag``.
            table_versions: Where the rows came from, for lineage.
        """
        self.table_versions = dict(table_versions or {})
        self._versions = _index_intervals(
            versions, ["account_type", "country", "kyc_status", "created_date"]
        )
        for intervals in self._versions.values():
            intervals.values = [(*v[:3], _day_number(v[3])) for v in intervals.values]
        self._risk = _index_intervals(risk_intervals, ["risk_flag"])

    def __len__(self) -> int:
        return len(self._versions)

    def as_of_us(self, account_id: str | None, ts_us: int) -> AccountAsOf:
        """``as_of`` with the instant as epoch microseconds."""
        return AccountAsOf(*self._at(account_id, ts_us))

    def _at(self, account_id: str | None, ts_us: int) -> tuple:
        """``as_of_us``'s fields as a tuple (a batch's loop makes no object per lookup)."""
        if account_id is None:
            return _UNKNOWN_AT
        intervals = self._versions.get(account_id)
        attributes = (intervals.at(ts_us) if intervals else None) or _UNKNOWN
        risk = self._risk.get(account_id)
        flag = risk.at(ts_us) if risk else None
        # the feed saying nothing means no flag (Gold's coalesce(flag, 0))
        return (*attributes, int(flag[0]) if flag and flag[0] is not None else 0)

    def as_of(self, account_id: str | None, ts: datetime) -> AccountAsOf:
        """The account's attributes and risk flag in effect at ``ts``.

        A version or interval applies from its ``valid_from`` (inclusive) to its ``valid_to``
        (exclusive); an unknown account, or an instant outside every version, gives nulls and
        risk flag 0, as Gold's left joins do.

        Args:
            account_id: The account, or None.
            ts: The instant (aware; naive means UTC).
        """
        return self.as_of_us(account_id, datetime_to_micros(ts))


# --- velocity: each source account's recent transactions -------------------------------------


class _SourceAccount:
    """One source account's state.

    ``ts``/``ids``/``cents`` hold the recent transactions sorted by (time, id). The ``cum_*``
    lists hold, at index ``k``, the aggregates over every transaction of the account before
    entry ``k`` (evicted ones included), accumulated in time order exactly as Spark's growing
    frame does: the exact cent sum, the double sum of ``avg`` and Welford's n, mean and M2 of
    ``stddev_samp``. Index 0 is the aggregate of everything evicted.
    """

    __slots__ = (
        "cents",
        "cum_avg",
        "cum_cents",
        "cum_m2",
        "cum_n",
        "cum_sum",
        "evicted",
        "first_to",
        "ids",
        "ts",
    )

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.ids: list[str] = []
        self.cents: list[int] = []
        self.evicted = 0
        self.cum_cents = [0]
        self.cum_sum = [0.0]
        self.cum_n = [0.0]
        self.cum_avg = [0.0]
        self.cum_m2 = [0.0]
        # destination -> earliest transaction time to it (None is a destination too: Spark's
        # window partitions group null keys together)
        self.first_to: dict[str | None, int] = {}

    def insert(self, ts_us: int, transaction_id: str, cents: int) -> None:
        at = bisect_right(self.ts, ts_us)
        while at > 0 and self.ts[at - 1] == ts_us and self.ids[at - 1] > transaction_id:
            at -= 1
        self.ts.insert(at, ts_us)
        self.ids.insert(at, transaction_id)
        self.cents.insert(at, cents)
        # a late arrival changes the running aggregates of everything after it
        for series in (self.cum_cents, self.cum_sum, self.cum_n, self.cum_avg, self.cum_m2):
            del series[at + 1 :]
        for k in range(at, len(self.ts)):
            self._accumulate(k)

    def _accumulate(self, k: int) -> None:
        cents = self.cents[k]
        x = cents / 100  # == CAST(decimal(18,2) AS DOUBLE): both round the exact quotient
        n, avg, m2 = self.cum_n[k], self.cum_avg[k], self.cum_m2[k]
        # CentralMomentAgg.updateExpressionsDef, operation for operation
        new_n = n + 1.0
        delta = x - avg
        delta_n = delta / new_n
        self.cum_cents.append(self.cum_cents[k] + cents)
        self.cum_sum.append(self.cum_sum[k] + x)  # Average: sum + CAST(amount AS DOUBLE)
        self.cum_n.append(new_n)
        self.cum_avg.append(avg + delta_n)
        self.cum_m2.append(m2 + delta * (delta - delta_n))

    def evict_before(self, cutoff_us: int) -> list[str]:
        """Drop entries older than ``cutoff_us``; their aggregates stay in index 0."""
        k = bisect_left(self.ts, cutoff_us)
        if k == 0:
            return []
        gone = self.ids[:k]
        for series in (self.ts, self.ids, self.cents):
            del series[:k]
        for series in (self.cum_cents, self.cum_sum, self.cum_n, self.cum_avg, self.cum_m2):
            del series[:k]
        self.evicted += k
        return gone


class VelocityState:
    """The service's own recent-transactions state, reproducing ``with_velocity_features``.

    Per source account it keeps the transactions of the largest window plus
    ``max_lateness_s`` (older ones are evicted into running aggregates), the all-history
    aggregates, and the earliest time of each destination paid. Memory is bounded by the
    accounts' activity within that horizon plus their distinct payees.

    Features are exact for a transaction no more than ``max_lateness_s`` older than the
    newest one observed; an older one gets what the state still holds (its windows may miss
    evicted entries, its all-history aggregates may include later transactions). A
    transaction id is counted once, as Silver keeps the first of a recurring id; ids are
    remembered as long as their transaction is held.

    Attributes:
        windows: Window name -> seconds (``payments.velocity_windows_s``).
        feature_names: The feature columns ``features`` answers, in Gold's order.
        watermark_us: The newest transaction time observed (epoch microseconds), or None.
        source_version: The ``silver/payment_transactions`` version a warm start read.
    """

    # what a shared store raises when its server does not answer (none in the process)
    unavailable: tuple[type[Exception], ...] = ()

    def __init__(
        self, windows: Mapping[str, int], *, max_lateness_s: int = DEFAULT_MAX_LATENESS_S
    ) -> None:
        """An empty state.

        Args:
            windows: Window name -> length in seconds, as in the Gold build.
            max_lateness_s: How late (behind the newest observed transaction) a transaction
                may be and still get exact features.
        """
        if not windows or min(windows.values()) <= 0 or max_lateness_s < 0:
            raise ValueError("windows must be positive and max_lateness_s not negative")
        self.windows = dict(windows)
        self._window_us = {n: s * MICROS_PER_SECOND for n, s in self.windows.items()}
        # the feature columns this state answers, in Gold's order, and an unseen account's
        names: list[str] = []
        unseen: list[Any] = []
        for name in self.windows:
            names += [f"src_txn_count_{name}", f"src_txn_amount_{name}"]
            unseen += [0, _NO_AMOUNT]
        self.feature_names = (*names, *SUMMARY_FEATURES)
        self._unseen = (*unseen, 0, True, None, None)
        self._horizon_us = (max(self.windows.values()) + max_lateness_s) * MICROS_PER_SECOND
        self._accounts: dict[str, _SourceAccount] = {}
        self._held_ids: set[str] = set()  # ids of the held transactions
        self._since_sweep = 0
        self.watermark_us: int | None = None
        self.source_version: int | None = None

    @property
    def held_transactions(self) -> int:
        """Transactions currently held in the windows (the memory that grows with traffic)."""
        return len(self._held_ids)

    def features(self, txn: Mapping[str, Any] | PaymentTransaction) -> dict[str, Any]:
        """The velocity and history features of ``txn``, without changing the state.

        Returns:
            ``src_txn_count_<w>`` (int) and ``src_txn_amount_<w>`` (Decimal, 2 places) per
            window, ``src_prior_txn_count`` (int), ``is_first_pair`` (bool),
            ``src_amount_mean_before`` and ``src_amount_zscore`` (float or None).
        """
        record = as_transaction(txn)
        return self._features(
            record.source_account_id, record.destination_account_id, record.ts_us, record.cents
        )

    def _account(self, source: str, destination: str | None) -> _SourceAccount | None:
        """The source account's state (its ``first_to`` holding at least ``destination``)."""
        return self._accounts.get(source)

    def _features(self, source: str, destination: str | None, ts_us: int, cents: int) -> dict:
        return dict(
            zip(self.feature_names, self._velocity(source, destination, ts_us, cents), strict=True)
        )

    def _velocity(self, source: str, destination: str | None, ts_us: int, cents: int) -> tuple:
        """``features``' values in ``feature_names``' order."""
        state = self._account(source, destination)
        if state is None:
            return self._unseen
        ts = state.ts
        cum_cents = state.cum_cents
        before = bisect_left(ts, ts_us)  # strictly earlier: the frame ends 1 µs before
        out: list[Any] = []
        for window_us in self._window_us.values():
            start = bisect_left(ts, ts_us - window_us)  # rangeBetween's lower bound is inclusive
            amount = cum_cents[before] - cum_cents[start]
            out.append(before - start)
            out.append(Decimal(amount).scaleb(-2) if amount else _NO_AMOUNT)
        count = state.evicted + before
        mean = std = None
        if count:
            mean = state.cum_sum[before] / float(count)  # Average: sum / CAST(count AS DOUBLE)
        if count > 1:
            std = math.sqrt(state.cum_m2[before] / (state.cum_n[before] - 1.0))
        zscore = None
        if std is not None and std > 0:
            zscore = spark_round((cents / 100 - mean) / std, 4)
        first = state.first_to.get(destination)
        out.append(count)
        out.append(first is None or first >= ts_us)
        out.append(spark_round(mean, 2))
        out.append(zscore)
        return tuple(out)

    @contextmanager
    def batch(self, records: Sequence[PaymentTransaction]) -> Iterator[VelocityState]:
        """The state to compute ``records``' features on and observe them in, for one request.

        In the process that is the state itself; a shared store's state
        (``lakehouse.features.velocity_store``) reads what the records need and
        observes them there, in one round trip.
        """
        yield self

    @asynccontextmanager
    async def abatch(self, records: Sequence[PaymentTransaction]) -> AsyncIterator[VelocityState]:
        """``batch`` for an event loop (a shared store's round trip is awaited)."""
        yield self

    def observe(self, txn: Mapping[str, Any] | PaymentTransaction) -> bool:
        """Add ``txn`` to the state (call it after scoring).

        Returns:
            False when the transaction id is already held (a duplicate, not counted again).
        """
        record = as_transaction(txn)
        return self._observe(
            record.transaction_id,
            record.source_account_id,
            record.destination_account_id,
            record.ts_us,
            record.cents,
        )

    def _observe(
        self, transaction_id: str, source: str, destination: str | None, ts_us: int, cents: int
    ) -> bool:
        if transaction_id in self._held_ids:
            return False
        state = self._accounts.get(source)
        if state is None:
            state = self._accounts[source] = _SourceAccount()
        state.insert(ts_us, transaction_id, cents)
        first = state.first_to.get(destination)
        if first is None or ts_us < first:
            state.first_to[destination] = ts_us
        self._held_ids.add(transaction_id)
        if self.watermark_us is None or ts_us > self.watermark_us:
            self.watermark_us = ts_us
        self._evict(state)
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self.sweep()
        return True

    def _evict(self, state: _SourceAccount) -> None:
        self._held_ids.difference_update(state.evict_before(self.watermark_us - self._horizon_us))

    def sweep(self) -> None:
        """Evict expired entries of every account (accounts are otherwise swept when used)."""
        self._since_sweep = 0
        if self.watermark_us is not None:
            for state in self._accounts.values():
                self._evict(state)

    def warm_start(self, transactions: pd.DataFrame) -> int:
        """Observe Silver transactions in (``transaction_ts``, ``transaction_id``) order.

        Starting from ``silver/payment_transactions`` makes a fresh service's state equal the
        batch state. Rows are taken as Silver stores them (already valid and deduplicated).

        Args:
            transactions: Columns ``transaction_id``, ``transaction_ts``,
                ``source_account_id``, ``destination_account_id``, ``amount`` (Decimal).

        Returns:
            How many transactions were added.
        """
        added = 0
        for ts_us, transaction_id, source, destination, cents in silver_rows(transactions):
            added += self._observe(transaction_id, source, destination, ts_us, cents)
        self.sweep()
        return added


def silver_rows(transactions: pd.DataFrame | None) -> list[tuple]:
    """Silver transactions as ``(time µs, id, source, destination, cents)``, in (time, id)
    order (a warm start's), null destinations as None."""
    if transactions is None or transactions.empty:
        return []
    rows = zip(
        _micros_of(transactions["transaction_ts"]),
        transactions["transaction_id"].tolist(),
        transactions["source_account_id"].tolist(),
        transactions["destination_account_id"].tolist(),
        transactions["amount"].tolist(),
        strict=True,
    )
    return sorted(
        ((ts, tid, src, _null(dst), cents_of(amount)) for ts, tid, src, dst, amount in rows),
        key=lambda r: (r[0], r[1]),
    )


# --- one transaction, and a batch ---------------------------------------------------------


def _check_windows(windows: Mapping[str, int] | None, velocity: VelocityState) -> dict[str, int]:
    if windows is None or windows == velocity.windows:
        return velocity.windows
    unknown = {n: s for n, s in windows.items() if velocity.windows.get(n) != s}
    if unknown:
        raise ValueError(f"the velocity state does not keep windows {unknown}")
    return dict(windows)


def transaction_features(
    txn: Mapping[str, Any] | PaymentTransaction,
    accounts: AccountHistory,
    velocity: VelocityState,
    windows: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Every feature column of ``gold/payments_unified`` for one transaction.

    The state is not changed: call ``velocity.observe(txn)`` once the transaction is scored.

    Args:
        txn: The request (CONTRACT 1.2 names, JSON values) or a parsed transaction.
        accounts: The account history.
        velocity: The recent-transactions state.
        windows: The velocity windows (``payments.velocity_windows_s``); the state's own when
            None. Each must be kept by ``velocity``.

    Returns:
        ``online_feature_columns(windows)`` in Gold's order, typed like Gold: strings, ints
        (``*_age_days`` None when unknown or negative), ``transaction_ts`` an aware UTC
        datetime, ``amount`` and ``src_txn_amount_*`` ``Decimal`` with 2 places (exact, as
        Gold's ``decimal(18,2)``), booleans (``is_cross_border`` None when a country is
        unknown), ``src_amount_mean_before`` and ``src_amount_zscore`` float or None.

    Raises:
        FeatureError: The request fails a Silver rule (the service answers 422).
    """
    return feature_rows([as_transaction(txn)], accounts, velocity, windows)[0]


def feature_rows(
    records: Sequence[PaymentTransaction],
    accounts: AccountHistory,
    velocity: VelocityState,
    windows: Mapping[str, int] | None = None,
    *,
    observe: bool = False,
) -> FeatureRows:
    """``transaction_features`` of parsed transactions, held as columns.

    The features of one record are computed before it is observed, and the records in order,
    so the values are those of calling ``transaction_features`` and then ``velocity.observe``
    for each in turn; a model reads them a column at a time, without a dict per row.

    Args:
        records: Parsed transactions, in arrival order.
        accounts: The account history.
        velocity: The recent-transactions state.
        windows: As in ``transaction_features``.
        observe: Observe each transaction right after computing its features, so later ones
            see earlier ones (as in Gold, where the batch is in the table); when False every
            row is computed against the state as it was.
    """
    columns = _columns(tuple(_check_windows(windows, velocity)))
    at = accounts._at
    velocity_of = velocity._velocity
    observe_one = velocity.observe if observe else None
    rows = []
    for record in records:
        ts_us = record.ts_us
        source, destination = record.source_account_id, record.destination_account_id
        src_type, src_country, src_kyc, src_created, src_risk = at(source, ts_us)
        dst_type, dst_country, dst_kyc, dst_created, dst_risk = at(destination, ts_us)
        day = ts_us // MICROS_PER_DAY
        rows.append(
            (
                record.transaction_id,
                ts_us,
                source,
                destination,
                record.amount,
                record.currency,
                record.channel,
                src_type,
                src_country,
                src_kyc,
                _age_days(src_created, day),
                dst_type,
                dst_country,
                dst_kyc,
                _age_days(dst_created, day),
                src_risk,
                dst_risk,
                record.merchant_category,
                ts_us // MICROS_PER_HOUR % 24,
                (day + EPOCH_WEEKDAY) % 7,
                None if src_country is None or dst_country is None else src_country != dst_country,
                *velocity_of(source, destination, ts_us, record.cents),
            )
        )
        if observe_one is not None:
            observe_one(record)
    names = (*_ROW_COLUMNS, *velocity.feature_names)
    values = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    by_name = dict(zip(names, values, strict=True))
    by_name["transaction_ts"] = tuple(map(micros_to_datetime, by_name["transaction_ts"]))
    return FeatureRows({column: by_name[column] for column in columns})


# feature_rows' columns before the velocity state's, in Gold's order
_ROW_COLUMNS = tuple(c for c in _columns(()) if c not in SUMMARY_FEATURES)


def frame_dtypes(windows: Mapping[str, int]) -> dict[str, str]:
    """The pandas dtypes of ``frame``: those a Delta or Spark reader gives Gold's columns.

    Decimals and nullable booleans are objects, nullable ints float64 (NaN for null), the
    time ``datetime64[us, UTC]``.
    """
    dtypes = dict.fromkeys(online_feature_columns(windows), "object")
    dtypes.update(
        transaction_ts="datetime64[us, UTC]",
        src_account_age_days="float64",
        dst_account_age_days="float64",
        src_risk_flag="int32",
        dst_risk_flag="int32",
        hour_of_day="int32",
        day_of_week="int32",
        src_prior_txn_count="int64",
        is_first_pair="bool",
        src_amount_mean_before="float64",
        src_amount_zscore="float64",
    )
    dtypes.update({f"src_txn_count_{name}": "int64" for name in windows})
    return dtypes


def frame(
    txns: Iterable[Mapping[str, Any] | PaymentTransaction],
    accounts: AccountHistory,
    velocity: VelocityState,
    windows: Mapping[str, int] | None = None,
    *,
    observe: bool = False,
) -> pd.DataFrame:
    """``transaction_features`` for a batch, as a DataFrame with ``frame_dtypes``.

    Every record is validated before any feature is computed, so an invalid one leaves the
    state untouched.

    Args:
        txns: Requests or parsed transactions, in arrival order.
        accounts: The account history.
        velocity: The recent-transactions state.
        windows: As in ``transaction_features``.
        observe: Observe each transaction right after computing its features, so later ones
            in the batch see earlier ones (as in Gold, where the batch is in the table); when
            False every row is computed against the state as it was.

    Raises:
        FeatureError: The first invalid record (the message names its position).
    """
    windows = _check_windows(windows, velocity)
    records = []
    for position, txn in enumerate(txns):
        try:
            records.append(as_transaction(txn))
        except FeatureError as error:
            raise FeatureError(error.field, error.reason, f"record {position}: {error}") from error
    rows = feature_rows(records, accounts, velocity, windows, observe=observe)
    return pd.DataFrame(rows.columns).astype(frame_dtypes(windows))
