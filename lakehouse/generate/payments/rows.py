"""Which rows each delivery holds: transactions per day (with their row anomalies and
duplicates), risk rows per delivery day, and fraud-case status rows per weekly delivery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lakehouse.generate.payments.accounts import BookKey
from lakehouse.generate.payments.anomalies import ValueAnomalies, draw_value_anomalies
from lakehouse.generate.payments.contract import FEED_SPECS, REPORTED, TRANSACTIONS
from lakehouse.generate.payments.formats import SECONDS_PER_DAY
from lakehouse.generate.payments.fraud import FraudCases
from lakehouse.generate.payments.plan import delivery_slot
from lakehouse.generate.payments.risk import RiskEvents
from lakehouse.generate.payments.seeding import PaymentStream, payment_rng
from lakehouse.generate.payments.transactions import Transactions

TRANSACTION_FIELDS = (
    "ts_s", "offset_minutes", "is_local_time", "source", "destination", "cents", "currency",
    "channel", "category", "card", "ip", "device",
)  # fmt: skip
DUPLICATE_SAME_FILE_SHARE = 0.5
DUPLICATE_MAX_DAYS_LATER = 3
# Unknown account ids come from a pool of ids this large relative to the known accounts.
UNKNOWN_ACCOUNT_POOL_SHARE = 0.1
UNKNOWN_SOURCE_SHARE = 0.5


@dataclass(frozen=True, eq=False)
class DailyRows:
    """Rows of each daily transaction file, with the value anomalies they carry."""

    rows: list[dict[str, np.ndarray]]
    value_anomalies: list[ValueAnomalies]
    distinct_transactions: int
    distinct_accounts: int


def _row_anomalies_of_day(key: BookKey, day: int, n: int, rate: float) -> dict:
    rng = payment_rng(key.seed, PaymentStream.TRANSACTION_ANOMALIES, day)
    amount_u = rng.random(n)  # below rate: wrong type; then as much again: negative
    values = draw_value_anomalies(rng, n, rate, FEED_SPECS[TRANSACTIONS], typed_u=amount_u)
    unknown_pool = max(1, round(key.accounts * UNKNOWN_ACCOUNT_POOL_SHARE))
    later = rng.integers(1, DUPLICATE_MAX_DAYS_LATER + 1, n)
    return {
        "values": values,
        "is_negative": (rate <= amount_u) & (amount_u < 2 * rate),
        "is_unknown": rng.random(n) < rate,
        "unknown_is_source": rng.random(n) < UNKNOWN_SOURCE_SHARE,
        "unknown": key.accounts + rng.integers(0, unknown_pool, n),
        "is_duplicate": rng.random(n) < rate,
        "days_later": np.where(rng.random(n) < DUPLICATE_SAME_FILE_SHARE, 0, later),
        "position_u": rng.random(n),
    }


def _concat_days(parts: list[dict]) -> dict:
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "values"}
    merged["values"] = ValueAnomalies(
        *(
            np.concatenate([getattr(p["values"], f) for p in parts])
            for f in ValueAnomalies.__dataclass_fields__
        )
    )
    return merged


def daily_transaction_rows(txns: Transactions, key: BookKey, rate: float) -> DailyRows:
    """Split transactions into daily files, applying per-transaction anomalies (one stream per day).

    Duplicates repeat the same row, anomalies included, later in the same file or in one of
    the next files.
    """
    day = (txns.ts_s - key.start_s) // SECONDS_PER_DAY
    bounds = np.searchsorted(day, np.arange(key.days + 1))
    sizes = np.diff(bounds)
    a = _concat_days([_row_anomalies_of_day(key, d, int(sizes[d]), rate) for d in range(key.days)])
    columns = {name: getattr(txns, name).copy() for name in TRANSACTION_FIELDS}
    unknown_src = a["is_unknown"] & a["unknown_is_source"]
    unknown_dst = a["is_unknown"] & ~a["unknown_is_source"]
    columns["source"][unknown_src] = a["unknown"][unknown_src]
    columns["destination"][unknown_dst] = a["unknown"][unknown_dst]
    columns["cents"][a["is_negative"]] *= -1

    position = np.arange(len(txns)) - bounds[day]
    copies = np.flatnonzero(a["is_duplicate"])
    copy_day = np.minimum(day[copies] + a["days_later"][copies], key.days - 1)
    same = copy_day == day[copies]
    room = sizes[copy_day] - np.where(same, position[copies], 0)
    copy_position = np.where(same, position[copies], 0) + a["position_u"][copies] * room
    index = np.concatenate([np.arange(len(txns)), copies])
    file_day = np.concatenate([day, copy_day])
    sort_key = np.concatenate([position.astype(np.float64), copy_position])
    is_copy = np.concatenate([np.zeros(len(txns), bool), np.ones(len(copies), bool)])
    order = np.lexsort((is_copy, sort_key, file_day))
    index, file_day, is_copy = index[order], file_day[order], is_copy[order]

    file_bounds = np.searchsorted(file_day, np.arange(key.days + 1))
    rows, anomalies = [], []
    for d in range(key.days):
        part = slice(file_bounds[d], file_bounds[d + 1])
        taken = index[part]
        rows.append(
            {"transaction": taken, "is_copy": is_copy[part]}
            | {name: values[taken] for name, values in columns.items()}
        )
        anomalies.append(a["values"].take(taken))
    accounts = np.unique(np.concatenate([columns["source"], columns["destination"]]))
    return DailyRows(rows, anomalies, len(txns), len(accounts))


@dataclass(frozen=True, eq=False)
class Deliveries:
    """Rows of each delivery of a feed, and the day of each delivery."""

    days: list[int]
    rows: list[dict[str, np.ndarray]]


def _split(slot: np.ndarray, columns: dict[str, np.ndarray], delivery_days: np.ndarray):
    """Group rows (sorted by slot) by delivery; deliveries without rows are dropped."""
    bounds = np.searchsorted(slot, np.arange(len(delivery_days) + 1))
    days, rows = [], []
    for k, day in enumerate(delivery_days.tolist()):
        if bounds[k + 1] > bounds[k]:
            days.append(day)
            rows.append({n: v[bounds[k] : bounds[k + 1]] for n, v in columns.items()})
    return Deliveries(days, rows)


def risk_deliveries(risk: RiskEvents, key: BookKey, delivery_days: np.ndarray) -> Deliveries:
    """Each risk row goes to the first delivery after it took effect (rows are time-sorted)."""
    slot = delivery_slot(risk.effective_s, key.start_s, delivery_days)
    columns = {
        "account": risk.account,
        "flag": risk.flag,
        "score_milli": risk.score_milli,
        "reason": risk.reason,
        "effective_s": risk.effective_s,
    }
    return _split(slot, columns, delivery_days)


@dataclass(frozen=True, eq=False)
class CaseRows:
    """Status rows of the fraud cases and the delivery each would go to."""

    case: np.ndarray
    status: np.ndarray
    status_s: np.ndarray
    slot: np.ndarray


def case_status_rows(cases: FraudCases, key: BookKey, delivery_days: np.ndarray) -> CaseRows:
    """A ``reported`` row and a settling row per case; the settling row always comes later."""
    report_slot = delivery_slot(cases.reported_s, key.start_s, delivery_days)
    settle_slot = np.maximum(
        delivery_slot(cases.resolved_s, key.start_s, delivery_days), report_slot + 1
    )
    n = len(cases)
    case = np.concatenate([np.arange(n), np.arange(n)])
    status = np.concatenate([np.full(n, REPORTED), cases.final_status])
    status_s = np.concatenate([cases.reported_s, cases.resolved_s])
    slot = np.concatenate([report_slot, settle_slot])
    order = np.lexsort((case, status_s, slot))
    return CaseRows(case[order], status[order], status_s[order], slot[order])


def fraud_case_deliveries(
    cases: FraudCases, status_rows: CaseRows, delivery_days: np.ndarray
) -> Deliveries:
    """Status rows delivered weekly; rows due after the last delivery are not written."""
    columns = {
        "transaction": cases.transaction[status_rows.case],
        "fraud_type": cases.fraud_type[status_rows.case],
        "status": status_rows.status,
        "status_s": status_rows.status_s,
    }
    return _split(status_rows.slot, columns, delivery_days)
