"""Small generated landing zones shared by the generator tests (pure Python, no Spark)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from landing_reader import ExportFile, read_csv, read_sessions

from lakehouse.generate import generate_sessions_landing, holiday_years, write_reference_data


@dataclass
class Landing:
    root: Path
    manifest: dict
    files: list[ExportFile]
    zip_codes: set[str]
    holidays: set[str]
    start: dt.date
    days: int

    @property
    def ingestible(self):
        return [r for f in self.files if not f.in_flight for r in f.records]


def _landing(root: Path, *, seed: int, start: dt.date, days: int, **kwargs) -> Landing:
    manifest = generate_sessions_landing(root, seed=seed, start=start, days=days, **kwargs)
    write_reference_data(root, seed=seed, years=holiday_years(start, days))
    zips = {row["zip_code"] for row in read_csv(root / "reference" / "zip_codes.csv")}
    holidays = {row["date"] for row in read_csv(root / "reference" / "holidays.csv")}
    return Landing(root, manifest, read_sessions(root), zips, holidays, start, days)


@pytest.fixture(scope="session")
def anomalous_landing(tmp_path_factory) -> Landing:
    """High anomaly rate, so that every anomaly shows up many times."""
    return _landing(
        tmp_path_factory.mktemp("anomalous"),
        seed=7,
        start=dt.date(2024, 11, 1),
        days=90,
        documents=6_000,
        docs_per_file=400,
        anomaly_rate=0.06,
        workers=1,
    )


@pytest.fixture(scope="session")
def clean_landing(tmp_path_factory) -> Landing:
    """No anomalies at all."""
    return _landing(
        tmp_path_factory.mktemp("clean"),
        seed=11,
        start=dt.date(2024, 1, 1),
        days=120,
        documents=8_000,
        docs_per_file=1_000,
        anomaly_rate=0.0,
        workers=1,
    )
