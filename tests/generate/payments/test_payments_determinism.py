"""Same arguments, same bytes and modification times, whatever the workers; sane deliveries."""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest

from lakehouse.generate import generate_payments_landing

SMALL = {
    "transactions": 3_000,
    "days": 45,
    "start": dt.date(2024, 6, 1),
    "anomaly_rate": 0.08,
}
FILE_NAMES = {
    "payment_transactions": r"transactions-(\d{4}-\d{2}-\d{2})(-supplement)?\.csv",
    "account_details": r"accounts-(\d{4}-\d{2}-\d{2})(-supplement)?\.csv",
    "external_risk_feed": r"risk-(\d{4}-\d{2}-\d{2})(-supplement)?\.csv",
    "historical_fraud_cases": r"fraud-cases-(\d{4}-\d{2}-\d{2})(-supplement)?\.csv",
}


def _snapshot(root) -> dict[str, tuple[bytes, int]]:
    return {
        path.relative_to(root).as_posix(): (path.read_bytes(), os.stat(path).st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_seed_same_bytes_and_mtimes_with_any_workers(tmp_path):
    one = generate_payments_landing(tmp_path / "one", seed=5, workers=1, **SMALL)
    two = generate_payments_landing(tmp_path / "two", seed=5, workers=2, **SMALL)
    assert one == two
    first, second = _snapshot(tmp_path / "one"), _snapshot(tmp_path / "two")
    files = sum(len(feed["files"]) for feed in one["feeds"].values())
    assert len(first) == files + 1  # the manifest
    assert first == second


def test_another_seed_gives_other_data(tmp_path):
    generate_payments_landing(tmp_path / "a", seed=5, workers=1, **SMALL)
    generate_payments_landing(tmp_path / "b", seed=6, workers=1, **SMALL)
    a, b = _snapshot(tmp_path / "a"), _snapshot(tmp_path / "b")
    # Header-only files hold nothing that a seed could change.
    shared = [
        p for p in set(a) & set(b) if p.startswith("payments/") and not p.endswith("supplement.csv")
    ]  # fmt: skip
    assert len(shared) > 50
    assert all(a[p][0] != b[p][0] for p in shared)


def test_files_are_delivered_after_their_day_in_increasing_order(anomalous_payments):
    landing = anomalous_payments
    for feed, entry in landing.manifest["feeds"].items():
        mtimes = [f["mtime_ms"] for f in entry["files"]]
        assert mtimes == sorted(mtimes) and len(set(mtimes)) == len(mtimes), feed
        for listed in entry["files"]:
            name = listed["path"].removeprefix(f"payments/{feed}/")
            match = re.fullmatch(FILE_NAMES[feed], name)
            assert match, name
            assert match.group(1) == listed["day"]
            if match.group(2):  # a supplement delivery holds no rows
                assert listed["header_only"]
            day_end = dt.datetime.combine(
                dt.date.fromisoformat(listed["day"]) + dt.timedelta(days=1), dt.time(), dt.UTC
            )
            delivered = dt.datetime.fromtimestamp(listed["mtime_ms"] / 1000, dt.UTC)
            assert day_end <= delivered < day_end + dt.timedelta(hours=1)
    manifest_path = landing.root / "_manifest" / "payments.json"
    last = max(f["mtime_ms"] for e in landing.manifest["feeds"].values() for f in e["files"])
    assert os.stat(manifest_path).st_mtime_ns == last * 1_000_000


def test_daily_feeds_have_a_file_for_every_day(anomalous_payments):
    landing = anomalous_payments
    every_day = [(landing.start + dt.timedelta(days=d)).isoformat() for d in range(landing.days)]
    for feed in ("payment_transactions", "account_details"):
        files = landing.manifest["feeds"][feed]["files"]
        assert [f["day"] for f in files if not f["header_only"]] == every_day


@pytest.mark.parametrize(
    "bad",
    [
        {"transactions": 0},
        {"days": 0},
        {"accounts": 5},
        {"anomaly_rate": -0.1},
        {"anomaly_rate": 0.75},
        {"seed": -1},
        {"workers": 0},
        {"label_days": -1},
    ],
)
def test_invalid_arguments_are_rejected(tmp_path, bad):
    with pytest.raises(ValueError):
        generate_payments_landing(tmp_path, **{**SMALL, "workers": 1, **bad})
