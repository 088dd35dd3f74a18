"""The payments manifest: an exact account of every file written, used by tests as truth.

Counting rules:
  * ``rows`` are CSV records after the header (a quoted line break does not start a record);
  * file anomalies count files (``header_only_file``: every file without rows, planned or a
    day that happened to have none); row anomalies count written rows where the anomaly is visible
    (every copy of a duplicated row counts, a value in a column the file lacks does not);
  * ``duplicate_transaction`` counts the extra copies: rows minus distinct transaction ids;
  * ``fraud`` is the truth behind the labels, including what the landing zone does not show yet.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import orjson

from lakehouse.generate.payments.anomalies import ALL_ANOMALIES, HEADER_ONLY_FILE
from lakehouse.generate.payments.contract import (
    CASE_STATUSES,
    COLUMN_ALIASES,
    FEED_SPECS,
    FEEDS,
    REPORTED,
)
from lakehouse.generate.payments.formats import SECONDS_PER_DAY
from lakehouse.generate.payments.fraud import (
    REPORT_DELAY_S,
    SIGNALS,
    FraudCases,
    FraudTruth,
)
from lakehouse.generate.payments.render import NS_PER_MS
from lakehouse.generate.payments.rows import CaseRows
from lakehouse.generate.payments.tasks import FileOutcome

MANIFEST_DIR = "_manifest"
PAYMENTS_MANIFEST = "payments.json"
MANIFEST_VERSION = 1


def _file_entry(outcome: FileOutcome, start: dt.date) -> dict:
    file, layout = outcome.file, outcome.file.layout
    return {
        "path": file.path,
        "day": (start + dt.timedelta(days=file.day)).isoformat(),
        "rows": outcome.rows,
        "columns": list(layout.header),
        "renamed": dict(layout.renamed),
        "missing": list(layout.missing),
        "reordered": layout.is_reordered,
        "bom": layout.has_bom,
        "header_only": outcome.rows == 0,
        "mtime_ms": file.mtime_ms,
    }


def feed_entry(
    feed: str, outcomes: list[FileOutcome], start: dt.date, distinct: dict[str, int]
) -> dict:
    """Files, totals and anomaly counts of one feed (``distinct``: ids and accounts written)."""
    outcomes = sorted(outcomes, key=lambda o: o.file.mtime_ms)
    return {
        "columns": list(FEED_SPECS[feed].columns),
        "files": [_file_entry(o, start) for o in outcomes],
        "totals": {
            "files": len(outcomes),
            "rows": sum(o.rows for o in outcomes),
            "distinct_transaction_ids": distinct.get("transaction_ids", 0),
            "distinct_account_ids": distinct.get("account_ids", 0),
            "header_only_files": sum(o.anomalies[HEADER_ONLY_FILE] for o in outcomes),
        },
        "anomalies": {a: sum(o.anomalies.get(a, 0) for o in outcomes) for a in ALL_ANOMALIES},
    }


def fraud_entry(truth: FraudTruth, cases: FraudCases, status_rows: CaseRows, deliveries: int):
    """The truth behind the fraud labels: what happened, what was written, what is still due."""
    written = status_rows.slot < deliveries
    is_report_row = status_rows.status == REPORTED
    is_reported = np.zeros(len(cases), bool)
    is_reported[status_rows.case[written & is_report_row]] = True
    is_settled = np.zeros(len(cases), bool)
    is_settled[status_rows.case[written & ~is_report_row]] = True
    latest = np.where(is_settled, cases.final_status, np.where(is_reported, REPORTED, -1))
    is_fraud_case = truth.is_fraud[cases.transaction]
    n = len(truth.is_fraud)
    return {
        "transactions": n,
        "fraudulent_transactions": int(truth.is_fraud.sum()),
        "fraud_rate": float(truth.is_fraud.mean()) if n else 0.0,
        "cases": len(cases),
        "false_alarm_cases": int((~is_fraud_case).sum()),
        "report_delay_days": [d // SECONDS_PER_DAY for d in REPORT_DELAY_S],
        "cases_written": int(is_reported.sum()),
        "status_rows_written": {
            s: int((status_rows.status[written] == i).sum()) for i, s in enumerate(CASE_STATUSES)
        },
        "latest_status_written": {s: int((latest == i).sum()) for i, s in enumerate(CASE_STATUSES)},
        "cases_not_yet_reported": int((~is_reported).sum()),
        "fraudulent_not_yet_reported": int((~is_reported & is_fraud_case).sum()),
        "signals": {
            name: {
                "transactions": int(truth.signals[name].sum()),
                "fraudulent": int((truth.signals[name] & truth.is_fraud).sum()),
            }
            for name in SIGNALS
        },
    }


def build_manifest(parameters: dict, period: dict, feeds: dict[str, dict], fraud: dict) -> dict:
    """Assemble the manifest from the feed entries and the fraud truth."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "source": "payments",
        "parameters": parameters,
        "period": period,
        "column_aliases": {c: list(a) for c, a in COLUMN_ALIASES.items()},
        "feeds": {feed: feeds[feed] for feed in FEEDS},
        "anomalies": {a: sum(feeds[f]["anomalies"][a] for f in FEEDS) for a in ALL_ANOMALIES},
        "fraud": fraud,
    }


def write_manifest(out: Path, manifest: dict) -> Path:
    """Write the manifest as pretty JSON; its modification time is that of the last delivery."""
    path = out / MANIFEST_DIR / PAYMENTS_MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    mtimes = [f["mtime_ms"] for feed in manifest["feeds"].values() for f in feed["files"]]
    if mtimes:
        last_ns = max(mtimes) * NS_PER_MS
        os.utime(path, ns=(last_ns, last_ns))
    return path
