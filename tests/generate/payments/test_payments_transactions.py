"""Transactions look like payments: channels, amounts, currencies, time zones, bursts, accounts."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from itertools import pairwise

import pytest
from payments_reader import parse_timestamp


@pytest.fixture(scope="module")
def transactions(clean_payments) -> list[tuple[str, dict[str, str]]]:
    """(file day, row) of every transaction."""
    days = [f["day"] for f in clean_payments.manifest["feeds"]["payment_transactions"]["files"]]
    files = clean_payments.feeds["payment_transactions"]
    return [(day, row) for day, file in zip(days, files, strict=True) for row in file.rows]


@pytest.fixture(scope="module")
def snapshot_by_day(clean_payments) -> dict[str, dict[str, dict[str, str]]]:
    days = [f["day"] for f in clean_payments.manifest["feeds"]["account_details"]["files"]]
    files = clean_payments.feeds["account_details"]
    return {
        day: {row["account_id"]: row for row in file.rows}
        for day, file in zip(days, files, strict=True)
    }


def test_files_hold_their_utc_day_in_time_order(transactions):
    by_day = defaultdict(list)
    for day, row in transactions:
        ts = parse_timestamp(row["transaction_ts"])
        assert ts.astimezone(dt.UTC).date().isoformat() == day
        by_day[day].append(ts)
    assert all(times == sorted(times) for times in by_day.values())


def test_points_of_sale_write_local_time_others_utc(transactions):
    offsets = Counter()
    for _, row in transactions:
        text = row["transaction_ts"]
        if row["channel"] == "pos":
            assert not text.endswith("Z")
            offsets[text[-6:]] += 1
        else:
            assert text.endswith("Z")
    assert {"-05:00", "+01:00", "+00:00"} <= set(offsets)


def test_amounts_follow_the_channel(transactions):
    amounts = defaultdict(list)
    for _, row in transactions:
        amounts[row["channel"]].append(float(row["amount"]))
    median = {channel: statistics.median(values) for channel, values in amounts.items()}
    assert median["pos"] < median["mobile"] < median["web"] < median["api"], median
    shares = {c: len(v) / len(transactions) for c, v in amounts.items()}
    assert all(0.05 < s < 0.5 for s in shares.values()), shares


def test_currencies_are_mostly_usd(transactions):
    currencies = Counter(row["currency"] for _, row in transactions)
    total = sum(currencies.values())
    assert currencies["USD"] / total > 0.5
    assert currencies["EUR"] / total > 0.1 and currencies["GBP"] / total > 0.03


def test_accounts_exist_when_they_transact_and_some_pay_abroad(transactions, snapshot_by_day):
    cross_border = 0
    for day, row in transactions:
        snapshot = snapshot_by_day[day]
        source = snapshot[row["source_account_id"]]
        destination = snapshot[row["destination_account_id"]]
        assert source["created_date"] <= day and destination["created_date"] <= day
        cross_border += source["country"] != destination["country"]
    assert 0.03 < cross_border / len(transactions) < 0.3


def test_night_time_activity_and_bursts(transactions):
    local_hours = Counter(
        parse_timestamp(row["transaction_ts"]).hour
        for _, row in transactions
        if row["channel"] == "pos"
    )
    night = sum(local_hours[h] for h in range(6)) / sum(local_hours.values())
    assert 0.02 < night < 0.2, night
    times = defaultdict(list)
    for _, row in transactions:
        times[row["source_account_id"]].append(parse_timestamp(row["transaction_ts"]))
    bursting = 0
    for stamps in times.values():
        stamps.sort()
        bursting += any(
            b - a < dt.timedelta(hours=1) for a, b in zip(stamps, stamps[2:], strict=False)
        )
    assert bursting > 20


def test_regular_payees_recur_and_new_ones_appear(transactions):
    pairs = Counter((r["source_account_id"], r["destination_account_id"]) for _, r in transactions)
    repeated = sum(count for count in pairs.values() if count > 1)
    assert 0.3 < repeated / len(transactions) < 0.9


def test_risk_feed_raises_and_clears_flags_on_irregular_days(clean_payments):
    entry = clean_payments.manifest["feeds"]["external_risk_feed"]
    days = [dt.date.fromisoformat(f["day"]) for f in entry["files"]]
    gaps = {(b - a).days for a, b in pairwise(days)}
    assert len(gaps) > 2
    history = defaultdict(list)
    for file, row in clean_payments.rows("external_risk_feed"):
        effective = parse_timestamp(row["effective_ts"])
        assert effective.timestamp() * 1e9 < file.mtime_ns
        history[row["account_id"]].append((effective, row["risk_flag"]))
    raised_then_cleared = sum(
        [flag for _, flag in sorted(rows)][:2] == ["1", "0"] for rows in history.values()
    )
    assert raised_then_cleared >= 3
    first_file = clean_payments.feeds["external_risk_feed"][0]
    start = dt.datetime.combine(clean_payments.start, dt.time(), dt.UTC)
    assert any(parse_timestamp(r["effective_ts"]) < start for r in first_file.rows)
