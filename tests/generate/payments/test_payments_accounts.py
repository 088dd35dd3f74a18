"""Account snapshots: complete every day, attributes change over time, updated_at follows them."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from itertools import pairwise

import pytest
from payments_reader import parse_timestamp

ATTRIBUTES = ("account_type", "holder_name", "email", "country", "kyc_status", "created_date")


@pytest.fixture(scope="module")
def snapshots(clean_payments) -> list[tuple[dt.date, dict[str, dict[str, str]]]]:
    """(day, account id -> row) of every daily snapshot, in day order."""
    days = []
    for listed, file in zip(
        clean_payments.manifest["feeds"]["account_details"]["files"],
        clean_payments.feeds["account_details"],
        strict=True,
    ):
        by_id = {row["account_id"]: row for row in file.rows}
        assert len(by_id) == len(file.rows), "an account is listed twice in one snapshot"
        days.append((dt.date.fromisoformat(listed["day"]), by_id))
    return days


def _day_end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)


def test_one_complete_snapshot_per_day(clean_payments, snapshots):
    start = clean_payments.start
    assert [d for d, _ in snapshots] == [
        start + dt.timedelta(days=i) for i in range(clean_payments.days)
    ]
    for (_, before), (day, after) in pairwise(snapshots):
        assert set(before) <= set(after), day  # accounts never vanish
        opened = set(after) - set(before)
        assert all(after[a]["created_date"] == day.isoformat() for a in opened), day
    first_day, first = snapshots[0]
    created_before = [a for a, row in first.items() if row["created_date"] < start.isoformat()]
    assert len(created_before) > 0.7 * len(snapshots[-1][1])
    assert all(r["created_date"] <= first_day.isoformat() for r in first.values())
    assert len(snapshots[-1][1]) == clean_payments.manifest["parameters"]["accounts"]


def test_updated_at_changes_exactly_when_attributes_change(snapshots):
    changes = Counter()
    for (_, before), (day, after) in pairwise(snapshots):
        for account, old in before.items():
            new = after[account]
            changed = [a for a in ATTRIBUTES if old[a] != new[a]]
            if changed:
                updated = parse_timestamp(new["updated_at"])
                assert new["updated_at"] != old["updated_at"], (account, changed)
                assert _day_end(day) - dt.timedelta(days=1) <= updated < _day_end(day)
                changes.update(changed)
                if "kyc_status" in changed:
                    assert (old["kyc_status"], new["kyc_status"]) in {
                        ("pending", "verified"),
                        ("pending", "failed"),
                    }
            else:
                assert new == old, account
    assert changes["kyc_status"] >= 5 and changes["country"] >= 3 and changes["account_type"] >= 1
    assert changes["created_date"] == changes["holder_name"] == 0


def test_updated_at_is_never_in_the_future_of_its_snapshot(snapshots):
    for day, rows in snapshots:
        for row in rows.values():
            updated = parse_timestamp(row["updated_at"])
            assert updated < _day_end(day)
            assert updated.date() >= dt.date.fromisoformat(row["created_date"])


def test_new_accounts_open_during_the_period_with_kyc_pending(clean_payments, snapshots):
    start = clean_payments.start.isoformat()
    first_seen = {}
    for day, rows in snapshots:
        for account, row in rows.items():
            first_seen.setdefault(account, (day.isoformat(), row))
    new = [(day, row) for day, row in first_seen.values() if row["created_date"] >= start]
    assert 0.05 * len(first_seen) < len(new) < 0.3 * len(first_seen)
    assert all(day == row["created_date"] for day, row in new)
    # A KYC review can finish on the opening day already; most take longer.
    kyc = Counter(row["kyc_status"] for _, row in new)
    assert kyc["pending"] > 0.7 * len(new)
