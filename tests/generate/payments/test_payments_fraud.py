"""Fraud labels: reported 30-60 days late, settled later, about 2.5% and tied to the signals."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import numpy as np
import pytest
from payments_reader import parse_timestamp

from lakehouse.generate.payments.accounts import BookKey, build_account_book
from lakehouse.generate.payments.fraud import SIGNALS, draw_fraud
from lakehouse.generate.payments.landing import default_account_count
from lakehouse.generate.payments.risk import build_risk_events
from lakehouse.generate.payments.transactions import build_transactions

START_S = 1_704_067_200  # 2024-01-01
STRONG_SIGNALS = ("young_source", "source_flagged", "unusual_amount", "velocity_burst")
WEAK_SIGNALS = ("first_time_pair", "night_time", "cross_border", "unfamiliar_device")


@pytest.fixture(scope="module")
def transaction_times(clean_payments) -> dict[str, dt.datetime]:
    return {
        row["transaction_id"]: parse_timestamp(row["transaction_ts"])
        for _, row in clean_payments.rows("payment_transactions")
    }


@pytest.fixture(scope="module")
def case_rows(clean_payments) -> dict[str, list]:
    """Transaction id -> [(file, row)] in delivery order."""
    cases = defaultdict(list)
    for file, row in clean_payments.rows("historical_fraud_cases"):
        cases[row["transaction_id"]].append((file, row))
    return cases


def test_cases_are_reported_30_to_60_days_after_the_transaction(
    clean_payments, transaction_times, case_rows
):
    assert len(case_rows) > 50
    for tid, rows in case_rows.items():
        file, first = rows[0]
        assert first["status"] == "reported", tid
        delay = parse_timestamp(first["reported_ts"]) - transaction_times[tid]
        assert dt.timedelta(days=30) <= delay <= dt.timedelta(days=60), (tid, delay)
    for file, row in clean_payments.rows("historical_fraud_cases"):
        reported = parse_timestamp(row["reported_ts"])
        assert reported < clean_payments.labels_end
        assert reported.timestamp() * 1e9 < file.mtime_ns  # known before its delivery


def test_statuses_move_forward_in_later_files(case_rows):
    settled = Counter()
    for tid, rows in case_rows.items():
        assert len(rows) <= 2, tid
        if len(rows) == 2:
            (first_file, first), (file, later) = rows
            assert later["status"] in {"confirmed", "false_positive"}
            assert parse_timestamp(later["reported_ts"]) > parse_timestamp(first["reported_ts"])
            assert file.mtime_ns > first_file.mtime_ns
            assert later["fraud_type"] == first["fraud_type"]
            settled[later["status"]] += 1
    assert settled["confirmed"] > settled["false_positive"] > 0


def test_fraud_truth_in_the_manifest_matches_the_cases_written(clean_payments, case_rows):
    fraud = clean_payments.manifest["fraud"]
    latest = Counter(rows[-1][1]["status"] for rows in case_rows.values())
    rows = Counter(row["status"] for _, row in clean_payments.rows("historical_fraud_cases"))
    assert fraud["cases_written"] == len(case_rows)
    assert fraud["latest_status_written"] == {s: latest[s] for s in fraud["latest_status_written"]}
    assert fraud["status_rows_written"] == {s: rows[s] for s in fraud["status_rows_written"]}
    assert fraud["cases_not_yet_reported"] == fraud["cases"] - len(case_rows)
    assert fraud["transactions"] == clean_payments.manifest["parameters"]["transactions"]
    assert fraud["fraud_rate"] == fraud["fraudulent_transactions"] / fraud["transactions"]
    assert 0.02 < fraud["fraud_rate"] < 0.03
    assert fraud["cases"] == fraud["fraudulent_transactions"] + fraud["false_alarm_cases"]
    assert 0.1 < fraud["false_alarm_cases"] / fraud["cases"] < 0.4
    assert fraud["report_delay_days"] == [30, 60]


def test_the_case_feed_goes_on_until_every_case_is_settled(clean_payments, case_rows):
    """By default every fraud ends up confirmed in the files, so that a lake built from them
    has a true label for every transaction, the latest ones included."""
    fraud = clean_payments.manifest["fraud"]
    assert fraud["cases_not_yet_reported"] == 0 and fraud["cases_written"] == fraud["cases"]
    assert all(len(rows) == 2 for rows in case_rows.values())
    assert fraud["latest_status_written"]["confirmed"] == fraud["fraudulent_transactions"]
    assert fraud["latest_status_written"]["reported"] == 0
    deliveries = [f for f in clean_payments.feeds["historical_fraud_cases"] if f.rows]
    last = dt.datetime.fromtimestamp(deliveries[-1].mtime_ns / 1e9, dt.UTC)
    assert clean_payments.period_end + dt.timedelta(days=60) < last
    assert last < clean_payments.labels_end + dt.timedelta(hours=1)


def test_a_feed_stopped_with_the_payments_leaves_the_latest_cases_unreported(
    payments_seen_at_period_end, clean_payments
):
    """``label_days=0``: the lake as seen on the period's last day; the same cases, fewer known."""
    early, complete = payments_seen_at_period_end.manifest, clean_payments.manifest
    assert early["period"]["labels_end"] == early["period"]["end"]
    assert early["fraud"]["fraudulent_transactions"] == complete["fraud"]["fraudulent_transactions"]
    assert early["fraud"]["fraudulent_not_yet_reported"] > 0
    assert 0 < early["fraud"]["cases_written"] < complete["fraud"]["cases_written"]
    assert early["fraud"]["latest_status_written"]["reported"] > 0  # reported, not settled yet
    for file, row in payments_seen_at_period_end.rows("historical_fraud_cases"):
        assert parse_timestamp(row["reported_ts"]) < payments_seen_at_period_end.period_end
        assert file.mtime_ns < payments_seen_at_period_end.period_end.timestamp() * 1e9


@pytest.mark.parametrize("transactions", [40_000, 60_000])  # a fresh lake, and `make demo`
def test_the_latest_15_percent_hold_a_hundred_frauds_to_judge_a_model_on(transactions):
    """Training holds out the latest 15% of the labelled payments to test a model on: at these
    scales they must hold at least 100 frauds, or PR-AUC and recall swing on one case."""
    key = BookKey(seed=42, accounts=default_account_count(transactions), start_s=START_S, days=90)
    book = build_account_book(key)
    risk = build_risk_events(book)
    txns = build_transactions(book, risk, transactions)
    truth = draw_fraud(book, risk, txns)
    latest = np.argsort(txns.ts_s, kind="stable")[-int(0.15 * transactions) :]
    assert truth.is_fraud[latest].sum() >= 100


def test_confirmed_fraud_concentrates_on_young_source_accounts(
    clean_payments, transaction_times, case_rows
):
    created = {}
    for _, row in clean_payments.rows("account_details"):
        created.setdefault(row["account_id"], dt.date.fromisoformat(row["created_date"]))

    def is_young(row) -> bool:
        ts = parse_timestamp(row["transaction_ts"])
        return (ts.date() - created[row["source_account_id"]]).days < 30

    transactions = {r["transaction_id"]: r for _, r in clean_payments.rows("payment_transactions")}
    confirmed = [t for t, rows in case_rows.items() if rows[-1][1]["status"] == "confirmed"]
    young_overall = np.mean([is_young(r) for r in transactions.values()])
    young_confirmed = np.mean([is_young(transactions[t]) for t in confirmed])
    assert len(confirmed) > 20
    assert young_confirmed > 3 * young_overall, (young_confirmed, young_overall)


def test_manifest_signals_show_fraud_concentrating_on_them(clean_payments):
    fraud = clean_payments.manifest["fraud"]
    assert list(fraud["signals"]) == list(SIGNALS)
    for name in STRONG_SIGNALS:
        signal = fraud["signals"][name]
        assert signal["fraudulent"] / signal["transactions"] > 3 * fraud["fraud_rate"], name


@pytest.fixture(scope="module")
def simulated():
    """A bigger simulation in memory (no files): 60k transactions, 1.5k accounts."""
    key = BookKey(seed=3, accounts=1_500, start_s=START_S, days=60)
    book = build_account_book(key)
    risk = build_risk_events(book)
    txns = build_transactions(book, risk, 60_000)
    return draw_fraud(book, risk, txns)


def test_fraud_rate_is_about_2_5_percent_and_follows_the_signals(simulated):
    is_fraud = simulated.is_fraud
    assert 0.022 < is_fraud.mean() < 0.028
    for name in SIGNALS:
        has = simulated.signals[name]
        assert 0 < has.mean() < 0.6, name
        ratio = is_fraud[has].mean() / is_fraud[~has].mean()
        assert ratio > (5 if name in STRONG_SIGNALS else 1.5), (name, ratio)


def test_fraud_is_noisy_both_ways(simulated):
    any_signal = np.any([simulated.signals[n] for n in STRONG_SIGNALS], axis=0)
    no_signal = ~np.any([simulated.signals[n] for n in SIGNALS], axis=0)
    assert simulated.is_fraud[no_signal].sum() > 0  # fraud without any signal
    assert (~simulated.is_fraud & any_signal).sum() > simulated.is_fraud[any_signal].sum()
