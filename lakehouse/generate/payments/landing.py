"""Generate the payment CSV feeds of the landing zone, with their manifest."""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from itertools import repeat
from pathlib import Path

import numpy as np

from lakehouse.generate.payments.accounts import AccountBook, BookKey, build_account_book
from lakehouse.generate.payments.contract import (
    ACCOUNTS,
    FEEDS,
    FRAUD_CASES,
    RISK,
    TRANSACTIONS,
)
from lakehouse.generate.payments.formats import MS_PER_SECOND, SECONDS_PER_DAY
from lakehouse.generate.payments.fraud import (
    SETTLED_WITHIN_DAYS,
    build_fraud_cases,
    draw_fraud,
)
from lakehouse.generate.payments.identifiers import ACCOUNT_NUMBER_MODULUS
from lakehouse.generate.payments.manifest import (
    build_manifest,
    feed_entry,
    fraud_entry,
    write_manifest,
)
from lakehouse.generate.payments.plan import (
    PlannedFile,
    day_end_s,
    plan_feed_files,
    risk_delivery_days,
    weekly_days,
)
from lakehouse.generate.payments.risk import build_risk_events
from lakehouse.generate.payments.rows import (
    DailyRows,
    Deliveries,
    case_status_rows,
    daily_transaction_rows,
    fraud_case_deliveries,
    risk_deliveries,
)
from lakehouse.generate.payments.tasks import FileTask, TaskSettings, write_planned_file
from lakehouse.generate.payments.transactions import build_transactions
from lakehouse.generate.workers import task_runner

DEFAULT_MAX_WORKERS = 2
TRANSACTIONS_PER_ACCOUNT = 40
MIN_ACCOUNTS = 200
# Enough accounts that every payment finds a payee; unknown ids live above the known ones.
MIN_ACCOUNTS_ALLOWED = 20
MAX_ACCOUNTS = ACCOUNT_NUMBER_MODULUS // 2
# Wrong types and negative amounts share the unit interval of the amount column.
MAX_ANOMALY_RATE = 0.5


def default_account_count(transactions: int) -> int:
    """Accounts for a number of transactions when the caller does not say."""
    return max(MIN_ACCOUNTS, transactions // TRANSACTIONS_PER_ACCOUNT)


def _validate(
    transactions: int,
    accounts: int,
    anomaly_rate: float,
    days: int,
    label_days: int,
    workers: int,
    seed: int,
):
    if transactions < 1 or days < 1 or workers < 1:
        raise ValueError("transactions, days and workers must all be at least 1")
    if label_days < 0:
        raise ValueError(f"label_days must be a non-negative integer, got {label_days}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if not MIN_ACCOUNTS_ALLOWED <= accounts <= MAX_ACCOUNTS:
        raise ValueError(f"accounts must be in [{MIN_ACCOUNTS_ALLOWED}, {MAX_ACCOUNTS}]")
    if not 0.0 <= anomaly_rate <= MAX_ANOMALY_RATE:
        raise ValueError(f"anomaly_rate must be within [0, {MAX_ANOMALY_RATE}], got {anomaly_rate}")


def _file_tasks(
    key: BookKey,
    anomaly_rate: float,
    start: dt.date,
    daily: DailyRows,
    risk_rows: Deliveries,
    case_rows: Deliveries,
) -> list[FileTask]:
    """Every file to write, in feed and delivery order, with the rows it holds."""

    def plan(feed: str, delivery_days) -> list[PlannedFile]:
        days = list(delivery_days)
        return plan_feed_files(key.seed, anomaly_rate, feed, start, key.start_s, days)

    tasks = [
        FileTask(f)
        if f.is_header_only
        else FileTask(f, daily.rows[f.day], daily.value_anomalies[f.day])
        for f in plan(TRANSACTIONS, range(key.days))
    ]
    tasks += [FileTask(f) for f in plan(ACCOUNTS, range(key.days))]
    for feed, deliveries in ((RISK, risk_rows), (FRAUD_CASES, case_rows)):
        rows_by_day = dict(zip(deliveries.days, deliveries.rows, strict=True))
        tasks += [
            FileTask(f) if f.is_header_only else FileTask(f, rows_by_day[f.day])
            for f in plan(feed, deliveries.days)
        ]
    return tasks


def _distinct_counts(
    book: AccountBook, daily: DailyRows, risk_rows: Deliveries, case_rows: Deliveries
) -> dict[str, dict[str, int]]:
    """Distinct transaction ids and account ids each feed writes."""

    def distinct_values(deliveries: Deliveries, column: str) -> int:
        values = [rows[column] for rows in deliveries.rows]
        return len(np.unique(np.concatenate(values))) if values else 0

    last_snapshot_s = int(day_end_s(book.key.start_s, book.key.days - 1))
    return {
        TRANSACTIONS: {
            "transaction_ids": daily.distinct_transactions,
            "account_ids": daily.distinct_accounts,
        },
        ACCOUNTS: {"account_ids": int((book.opened_s < last_snapshot_s).sum())},
        RISK: {"account_ids": distinct_values(risk_rows, "account")},
        FRAUD_CASES: {"transaction_ids": distinct_values(case_rows, "transaction")},
    }


def _period(start: dt.date, key: BookKey, label_days: int) -> dict:
    """The period the feeds cover, and the end of the fraud-case feed's (``labels_end``)."""
    end = start + dt.timedelta(days=key.days)
    labels_end = end + dt.timedelta(days=label_days)
    return {
        "start": f"{start.isoformat()}T00:00:00Z",
        "end": f"{end.isoformat()}T00:00:00Z",
        "start_ms": key.start_s * MS_PER_SECOND,
        "end_ms": key.end_s * MS_PER_SECOND,
        "labels_end": f"{labels_end.isoformat()}T00:00:00Z",
        "labels_end_ms": (key.end_s + label_days * SECONDS_PER_DAY) * MS_PER_SECOND,
    }


def generate_payments_landing(
    out: Path,
    *,
    transactions: int = 20_000,
    accounts: int | None = None,
    seed: int = 42,
    anomaly_rate: float = 0.02,
    start: dt.date = dt.date(2024, 1, 1),
    days: int = 90,
    label_days: int = SETTLED_WITHIN_DAYS,
    workers: int | None = None,
) -> dict:
    """Write synthetic payment CSV feeds under ``out/payments``.

    Writes ``payment_transactions`` (a file per day), ``account_details`` (a full snapshot per
    day), ``external_risk_feed`` (on random days) and ``historical_fraud_cases`` (weekly, through
    the period and ``label_days`` after it), and ``out/_manifest/payments.json`` describing
    every file exactly, plus the fraud truth. Existing
    files with the same names are overwritten; other files are left alone. With more than one
    worker, processes are spawned: call this from a console script or under
    ``if __name__ == "__main__":``.

    Args:
        out: landing root.
        transactions: distinct transactions to generate (duplicated rows come on top).
        accounts: accounts in the book; defaults to ``default_account_count(transactions)``.
        seed: makes the output reproducible, byte for byte and modification time included.
        anomaly_rate: probability of each kind of anomaly, per file or per row
            (see ``lakehouse.generate.payments.anomalies``); at most 0.5.
        start: first day of the simulated period (UTC).
        days: length of the simulated period.
        label_days: how long the fraud-case feed goes on delivering after the period (cases
            are reported 30-60 days after the payment). The default, ``SETTLED_WITHIN_DAYS``,
            delivers every case with its final status, so that a lake built from the files has
            complete labels for every transaction; 0 stops the feed with the period, as a lake
            looked at on its last day would see it. The manifest's ``period.labels_end`` is
            when the feed stops.
        workers: processes to use; defaults to min(2, CPU count). Does not change the output.

    Returns:
        The manifest (JSON-serialisable).
    """
    if workers is None:
        workers = min(DEFAULT_MAX_WORKERS, os.cpu_count() or 1)
    if accounts is None:
        accounts = default_account_count(transactions)
    _validate(transactions, accounts, anomaly_rate, days, label_days, workers, seed)
    out = Path(out)
    start_s = (start - dt.date(1970, 1, 1)).days * SECONDS_PER_DAY
    key = BookKey(seed, accounts, start_s, days)
    book = build_account_book(key)
    risk = build_risk_events(book)
    txns = build_transactions(book, risk, transactions)
    truth = draw_fraud(book, risk, txns)
    cases = build_fraud_cases(book, txns, truth)

    daily = daily_transaction_rows(txns, key, anomaly_rate)
    risk_rows = risk_deliveries(risk, key, risk_delivery_days(seed, days))
    case_days = weekly_days(days + label_days)
    status_rows = case_status_rows(cases, key, case_days)
    case_rows = fraud_case_deliveries(cases, status_rows, case_days)
    tasks = _file_tasks(key, anomaly_rate, start, daily, risk_rows, case_rows)
    settings = TaskSettings(str(out), seed, anomaly_rate, key)
    with task_runner(workers) as run:
        outcomes = list(run(write_planned_file, repeat(settings), tasks))

    by_feed = defaultdict(list)
    for outcome in outcomes:
        by_feed[outcome.file.feed].append(outcome)
    distinct = _distinct_counts(book, daily, risk_rows, case_rows)
    feeds = {f: feed_entry(f, by_feed[f], start, distinct[f]) for f in FEEDS}
    parameters = {
        "transactions": transactions,
        "accounts": accounts,
        "seed": seed,
        "anomaly_rate": anomaly_rate,
        "start": start.isoformat(),
        "days": days,
        "label_days": label_days,
    }
    fraud = fraud_entry(truth, cases, status_rows, len(case_days))
    manifest = build_manifest(parameters, _period(start, key, label_days), feeds, fraud)
    write_manifest(out, manifest)
    return manifest
