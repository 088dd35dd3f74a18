"""Tasks that write one payment file each; they run in worker processes.

A task receives the rows of its file (transactions, risk rows, case rows) or rebuilds the
account book from its key (snapshots), and draws from the random stream of its own file, so the
bytes it writes do not depend on the process or on the order in which tasks run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from lakehouse.generate.payments.accounts import BookKey, build_account_book
from lakehouse.generate.payments.anomalies import (
    DUPLICATE_TRANSACTION,
    HEADER_ONLY_FILE,
    NEGATIVE_AMOUNT,
    UNKNOWN_ACCOUNT,
    ValueAnomalies,
    apply_value_anomalies,
    draw_value_anomalies,
)
from lakehouse.generate.payments.columns import (
    account_version_columns,
    fraud_case_columns,
    risk_columns,
    transaction_columns,
)
from lakehouse.generate.payments.contract import (
    ACCOUNTS,
    FEED_SPECS,
    FRAUD_CASES,
    RISK,
    TRANSACTIONS,
)
from lakehouse.generate.payments.plan import PlannedFile, day_end_s
from lakehouse.generate.payments.render import render_csv, write_file
from lakehouse.generate.payments.seeding import PaymentStream, payment_rng

FILE_STREAMS = {
    ACCOUNTS: PaymentStream.SNAPSHOT_FILE,
    RISK: PaymentStream.RISK_FILE,
    FRAUD_CASES: PaymentStream.FRAUD_FILE,
}
ROW_RENDERERS = {
    TRANSACTIONS: transaction_columns,
    RISK: risk_columns,
    FRAUD_CASES: fraud_case_columns,
}


@dataclass(frozen=True)
class TaskSettings:
    """What every task needs besides its own file (small and picklable)."""

    out: str
    seed: int
    anomaly_rate: float
    book: BookKey


@dataclass(frozen=True)
class FileTask:
    """One file to write, with its rows unless it is an account snapshot."""

    file: PlannedFile
    rows: dict[str, np.ndarray] | None = None
    # Value anomalies decided beforehand (transactions, whose duplicates must carry them).
    value_anomalies: ValueAnomalies | None = None


@dataclass
class FileOutcome:
    """What one task wrote, with exact counts for the manifest."""

    file: PlannedFile
    rows: int
    anomalies: dict[str, int] = field(default_factory=dict)


def _snapshot_columns(settings: TaskSettings, file: PlannedFile) -> tuple[dict, int]:
    book = build_account_book(settings.book)
    versions = pa.array(book.snapshot_versions(int(day_end_s(book.key.start_s, file.day))))
    every_version = account_version_columns(settings.book)
    return {c: every_version[c].take(versions) for c in file.layout.columns}, len(versions)


def _row_columns(task: FileTask) -> tuple[dict, int]:
    renderers = ROW_RENDERERS[task.file.feed](task.rows)
    rows = len(next(iter(task.rows.values())))
    return {c: renderers[c]() for c in task.file.layout.columns}, rows


def _transaction_counts(task: FileTask, known_accounts: int) -> dict[str, int]:
    rows = task.rows
    unknown = (rows["source"] >= known_accounts) | (rows["destination"] >= known_accounts)
    return {
        NEGATIVE_AMOUNT: int((rows["cents"] < 0).sum()),
        UNKNOWN_ACCOUNT: int(unknown.sum()),
        DUPLICATE_TRANSACTION: int(rows["is_copy"].sum()),
    }


def write_planned_file(settings: TaskSettings, task: FileTask) -> FileOutcome:
    """Render one file with its anomalies, write it, and count what it holds."""
    file = task.file
    spec = FEED_SPECS[file.feed]
    anomalies = dict(file.layout.anomalies)
    if file.is_header_only:
        columns, rows = {}, 0
    elif file.feed == ACCOUNTS:
        columns, rows = _snapshot_columns(settings, file)
    else:
        columns, rows = _row_columns(task)
    # A day without transactions also leaves a file with just the header.
    anomalies[HEADER_ONLY_FILE] = int(rows == 0)
    if rows:
        values = task.value_anomalies
        if values is None:
            rng = payment_rng(settings.seed, FILE_STREAMS[file.feed], file.index)
            values = draw_value_anomalies(rng, rows, settings.anomaly_rate, spec)
        anomalies |= apply_value_anomalies(columns, spec, file.layout, values)
        if file.feed == TRANSACTIONS:
            anomalies |= _transaction_counts(task, settings.book.accounts)
    write_file(Path(settings.out), file.path, render_csv(columns, file.layout, rows), file.mtime_ms)
    return FileOutcome(file, rows, anomalies)
