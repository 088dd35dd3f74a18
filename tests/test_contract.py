"""The generator and the pipeline agree on the data contract (``lakehouse.contract``).

The generator writes the landing zone from the contract's names. These tests read what it
wrote with the tests' own readers (written independently of the generator) and run every
record through the pipeline's rules, as the pure-Python twins of Bronze and Silver apply them:
clean data passes, anomalies fail only with the contract's reason codes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from lakehouse import contract
from lakehouse.bronze.sessions_online import parse_document
from lakehouse.config import load_settings
from lakehouse.features import FeatureError
from lakehouse.generate import generate_payments_landing, generate_sessions_landing
from lakehouse.gold.delivery_online import DeliveryRules
from lakehouse.silver.payments_online import parse_transaction
from lakehouse.silver.sessions_online import silver_session
from tests.generate.landing_reader import read_sessions
from tests.generate.payments.payments_reader import read_feed

START = dt.date(2024, 3, 1)
RULES = DeliveryRules.from_settings(load_settings("local"))


def _payments(root, anomaly_rate: float) -> dict:
    generate_payments_landing(
        root,
        seed=5,
        start=START,
        days=75,
        transactions=3_000,
        accounts=300,
        anomaly_rate=anomaly_rate,
        workers=1,
    )
    return {feed: read_feed(root, feed) for feed in contract.PAYMENT_FEEDS}


@pytest.fixture(scope="module")
def clean_payments(tmp_path_factory) -> dict:
    return _payments(tmp_path_factory.mktemp("contract_payments_clean"), 0.0)


@pytest.fixture(scope="module")
def anomalous_payments(tmp_path_factory) -> dict:
    return _payments(tmp_path_factory.mktemp("contract_payments_anomalous"), 0.2)


def _sessions(root, anomaly_rate: float) -> list:
    generate_sessions_landing(
        root, seed=5, start=START, days=30, documents=3_000, anomaly_rate=anomaly_rate, workers=1
    )
    return [r for f in read_sessions(root) for r in f.records if r.source is not None]


@pytest.fixture(scope="module")
def clean_sessions(tmp_path_factory) -> list:
    return _sessions(tmp_path_factory.mktemp("contract_sessions_clean"), 0.0)


@pytest.fixture(scope="module")
def anomalous_sessions(tmp_path_factory) -> list:
    return _sessions(tmp_path_factory.mktemp("contract_sessions_anomalous"), 0.2)


def rows(feeds: dict, feed: str) -> list[dict[str, str]]:
    return [row for f in feeds[feed] for row in f.rows]


# --- payments (CONTRACT 1.2) ----------------------------------------------------------------


def test_every_feed_carries_the_contract_columns(clean_payments):
    for feed in contract.PAYMENT_FEEDS:
        files = clean_payments[feed]
        assert files, feed
        seen = {c for f in files for c in f.columns}
        assert seen == set(contract.FEED_COLUMNS[feed]), feed


def test_codes_in_the_feeds_are_the_contracts(clean_payments):
    def values(feed, column):
        return {row[column] for row in rows(clean_payments, feed) if row.get(column)}

    assert values(contract.TRANSACTIONS, "channel") == set(contract.CHANNELS)
    assert values(contract.ACCOUNTS, "kyc_status") <= set(contract.KYC_STATUSES)
    assert values(contract.RISK, "risk_flag") == set(contract.RISK_FLAGS)
    assert values(contract.FRAUD_CASES, "status") <= set(contract.FRAUD_STATUSES)
    assert contract.CONFIRMED in values(contract.FRAUD_CASES, "status")


def _reason(row: Mapping[str, Any]) -> str | None:
    try:
        parse_transaction(row)
    except FeatureError as error:
        return error.reason
    return None


def test_clean_transactions_pass_silver(clean_payments):
    transactions = rows(clean_payments, contract.TRANSACTIONS)
    assert len(transactions) >= 1_000
    assert Counter(_reason(row) for row in transactions) == {None: len(transactions)}


def test_anomalous_transactions_fail_with_the_contracts_reasons(anomalous_payments):
    reasons = Counter(_reason(row) for row in rows(anomalous_payments, contract.TRANSACTIONS))
    failed = {reason for reason in reasons if reason is not None}
    assert failed, "an anomaly rate of 20% quarantines some transactions"
    assert failed <= set(contract.PAYMENT_REASONS[contract.TRANSACTIONS])


# --- sessions (CONTRACT 1.1) ----------------------------------------------------------------


def _unknown_fields(document: Mapping, shape: Mapping, path: str = "") -> list[str]:
    """Paths of fields the contract's document shape does not name."""
    unknown = []
    for name, value in document.items():
        if name not in shape:
            unknown.append(path + name)
            continue
        spec = shape[name]
        if isinstance(spec, Mapping) and isinstance(value, Mapping):
            unknown += _unknown_fields(value, spec, f"{path}{name}.")
        elif isinstance(spec, list) and isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    unknown += _unknown_fields(item, spec[0], f"{path}{name}[].")
    return unknown


def _session_outcome(record) -> str | None:
    try:
        source, record_id, prefix = parse_document(record.hit or record.source)
        silver_session(source, record_id, prefix, RULES)
    except FeatureError as error:
        return error.reason
    return None


def test_documents_hold_only_contract_fields_and_event_types(clean_sessions):
    assert len(clean_sessions) >= 2_000
    unknown = Counter(
        path
        for record in clean_sessions
        for path in _unknown_fields(record.source, contract.SESSION_DOCUMENT)
    )
    assert unknown == {}
    event_types = {record.source.get("eventType") for record in clean_sessions}
    assert event_types == set(contract.EVENT_TYPES)


def test_documents_carry_the_contracts_pii_fields(clean_sessions):
    def value(document, path):
        for part in path.split("."):
            document = document.get(part) if isinstance(document, Mapping) else None
        return document

    for path in contract.SESSION_PII_FIELDS:
        assert any(value(r.source, path) for r in clean_sessions), path


def test_clean_documents_pass_silver(clean_sessions):
    outcomes = Counter(_session_outcome(record) for record in clean_sessions)
    assert outcomes == {None: len(clean_sessions)}


def test_anomalous_documents_fail_with_the_contracts_reasons(anomalous_sessions):
    outcomes = Counter(_session_outcome(record) for record in anomalous_sessions)
    failed = {reason for reason in outcomes if reason is not None}
    assert failed, "an anomaly rate of 20% quarantines some documents"
    allowed = {
        *contract.SESSION_REASONS,
        contract.ERROR_MALFORMED_JSON,
        contract.ERROR_NOT_A_DOCUMENT,
    }
    assert failed <= allowed


def test_the_service_takes_the_contracts_transaction_columns():
    """The fraud request schema names exactly the columns of a transactions feed."""
    from serving.schemas.fraud import Transaction

    assert tuple(Transaction.model_fields) == contract.TRANSACTION_COLUMNS
