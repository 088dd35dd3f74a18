"""Vectorised value rendering equals what the standard library writes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import numpy as np
import pyarrow as pa
from payments_reader import luhn_valid

from lakehouse.generate.customers import FIRST_NAMES, LAST_NAMES
from lakehouse.generate.payments import accounts, contract, fraud, risk, transactions
from lakehouse.generate.payments.formats import (
    csv_quoted,
    decimal_fraction,
    ipv4,
    iso_dates,
    iso_timestamps,
    money,
    zone_designators,
)
from lakehouse.generate.payments.identifiers import (
    account_ids,
    draw_card_numbers,
    transaction_ids,
)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def test_dates_and_timestamps_match_datetime():
    rng = np.random.default_rng(0)
    seconds = rng.integers(-2_000_000_000, 4_000_000_000, 5_000)
    expected = [
        (EPOCH + dt.timedelta(seconds=int(s))).strftime("%Y-%m-%dT%H:%M:%S") for s in seconds
    ]
    assert iso_timestamps(seconds).to_pylist() == expected
    days = seconds // 86_400
    assert iso_dates(days).to_pylist() == [
        (EPOCH + dt.timedelta(days=int(d))).date().isoformat() for d in days
    ]
    assert iso_timestamps(np.array([951_868_799])).to_pylist() == ["2000-02-29T23:59:59"]


def test_zone_designators():
    offsets = np.array([0, 60, -300, 0])
    local = np.array([False, True, True, True])
    assert zone_designators(offsets, local).to_pylist() == ["Z", "+01:00", "-05:00", "+00:00"]


def test_money_scores_and_addresses():
    assert money(np.array([0, 7, 1250, -1250, 123_456_789])).to_pylist() == [
        "0.00", "0.07", "12.50", "-12.50", "1234567.89",
    ]  # fmt: skip
    assert decimal_fraction(np.array([5, 875]), ",").to_pylist() == ["0,005", "0,875"]
    assert ipv4(np.array([0x0A000001, 0xC0A80101])).to_pylist() == ["10.0.0.1", "192.168.1.1"]


def test_csv_quoting_round_trips_through_the_csv_module():
    values = ["plain", "a,b", 'say "hi"', "two\nlines", 'all, "of"\nthem']
    quoted = csv_quoted(pa.array(values)).to_pylist()
    assert quoted[0] == "plain" and quoted[2] == '"say ""hi"""'
    line = ",".join(quoted) + "\n"
    assert next(csv.reader(io.StringIO(line, newline=""))) == values


def test_identifiers_are_unique_and_cards_luhn_valid():
    assert len(set(account_ids(np.arange(200_000)).to_pylist())) == 200_000
    ids = transaction_ids(np.arange(200_000)).to_pylist()
    assert len(set(ids)) == 200_000 and all(re.fullmatch(r"tx[0-9a-f]{12}", i) for i in ids[:100])
    cards = draw_card_numbers(np.random.default_rng(1), 2_000)
    assert all(len(str(c)) == 16 and luhn_valid(str(c)) for c in cards.tolist())


def test_clean_vocabularies_never_need_csv_quotes():
    vocabularies = [
        FIRST_NAMES, LAST_NAMES, accounts.ACCOUNT_TYPES, accounts.COUNTRIES, accounts.CURRENCIES,
        accounts.BUSINESS_SUFFIXES, transactions.CATEGORIES, risk.REASONS, fraud.FRAUD_TYPES,
        contract.CHANNELS, contract.KYC_STATUSES, contract.CASE_STATUSES,
    ]  # fmt: skip
    for vocabulary in vocabularies:
        assert not any(re.search(r'[",\r\n]', word) for word in vocabulary), vocabulary
