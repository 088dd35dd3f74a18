"""Small generated payment landing zones shared by the payment tests (pure Python, no Spark)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from payments_reader import FEED_COLUMNS, CsvFile, read_feed

from lakehouse.generate import generate_payments_landing

CLEAN = {
    "seed": 11,
    "start": dt.date(2024, 1, 1),
    "days": 100,
    "transactions": 15_000,
    "accounts": 400,
    "anomaly_rate": 0.0,
}


@dataclass
class PaymentsLanding:
    root: Path
    manifest: dict
    feeds: dict[str, list[CsvFile]]
    start: dt.date
    days: int
    label_days: int

    def rows(self, feed: str) -> list[tuple[CsvFile, dict[str, str]]]:
        """Every row of a feed with the file it came from, in delivery order."""
        return [(f, row) for f in self.feeds[feed] for row in f.rows]

    @property
    def period_end(self) -> dt.datetime:
        return dt.datetime.combine(self.start + dt.timedelta(days=self.days), dt.time(), dt.UTC)

    @property
    def labels_end(self) -> dt.datetime:
        """When the fraud-case feed stops delivering."""
        return self.period_end + dt.timedelta(days=self.label_days)


def _landing(root: Path, *, start: dt.date, days: int, **kwargs) -> PaymentsLanding:
    manifest = generate_payments_landing(root, start=start, days=days, workers=1, **kwargs)
    feeds = {feed: read_feed(root, feed) for feed in FEED_COLUMNS}
    label_days = manifest["parameters"]["label_days"]
    return PaymentsLanding(root, manifest, feeds, start, days, label_days)


@pytest.fixture(scope="session")
def anomalous_payments(tmp_path_factory) -> PaymentsLanding:
    """High anomaly rate, so that every anomaly shows up many times."""
    return _landing(
        tmp_path_factory.mktemp("payments_anomalous"),
        seed=7,
        start=dt.date(2024, 3, 1),
        days=75,
        transactions=8_000,
        accounts=800,
        anomaly_rate=0.12,
    )


@pytest.fixture(scope="session")
def clean_payments(tmp_path_factory) -> PaymentsLanding:
    """No anomalies at all; long enough for fraud cases to be reported and settled."""
    return _landing(tmp_path_factory.mktemp("payments_clean"), **CLEAN)


@pytest.fixture(scope="session")
def payments_seen_at_period_end(tmp_path_factory) -> PaymentsLanding:
    """The fraud-case feed stops with the payments: the latest cases are not reported yet."""
    return _landing(tmp_path_factory.mktemp("payments_at_period_end"), **CLEAN, label_days=0)
