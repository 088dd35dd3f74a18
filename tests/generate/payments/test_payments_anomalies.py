"""Every anomaly shows up with real values and keeps rows recognisable; rate 0 gives clean data."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections import defaultdict

from payments_reader import (
    FEED_COLUMNS,
    RISK_SCORE,
    has_bad_timestamp,
    has_line_break,
    luhn_valid,
    parse_date,
    parse_timestamp,
)

TRANSACTION_ID = re.compile(r"tx[0-9a-f]{12}")
ACCOUNT_ID = re.compile(r"AC\d{8}")
DEVICE_ID = re.compile(r"dev-[0-9a-f]{8}")
CARD_NUMBER = re.compile(r"4\d{15}")
EMAIL = re.compile(r"[a-z]+\.[a-z]+\d+@example\.(com|net|org)")
CLEAN_AMOUNT = re.compile(r"\d+\.\d{2}")
COMMA_AMOUNT = re.compile(r"-?\d+,\d{2}")
IMPOSSIBLE_DATE = re.compile(r"\d{4}-02-30T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})")
FILE_ANOMALIES = (
    "reordered_columns",
    "renamed_column",
    "missing_column",
    "bom",
    "header_only_file",
)
RATE = 0.12
KEYS = {
    "payment_transactions": ("transaction_id", TRANSACTION_ID),
    "account_details": ("account_id", ACCOUNT_ID),
    "external_risk_feed": ("account_id", ACCOUNT_ID),
    "historical_fraud_cases": ("transaction_id", TRANSACTION_ID),
}


def test_every_anomaly_appears_in_every_feed_it_can(anomalous_payments):
    feeds = anomalous_payments.manifest["feeds"]
    counts = anomalous_payments.manifest["anomalies"]
    assert all(count > 0 for count in counts.values()), counts
    for feed in ("payment_transactions", "account_details"):
        assert all(feeds[feed]["anomalies"][name] > 0 for name in FILE_ANOMALIES), feed
    for feed in ("account_details", "external_risk_feed"):
        for name in ("wrong_type", "bad_timestamp", "quoted_newline"):
            assert feeds[feed]["anomalies"][name] > 0, (feed, name)
    assert feeds["historical_fraud_cases"]["anomalies"]["bad_timestamp"] > 0


def test_row_anomalies_come_at_the_anomaly_rate(anomalous_payments):
    entry = anomalous_payments.manifest["feeds"]["payment_transactions"]
    rows = entry["totals"]["rows"]
    distinct = entry["totals"]["distinct_transaction_ids"]
    with_category = sum(
        f["rows"] for f in entry["files"] if "merchant_category" not in f["missing"]
    )
    shares = {
        "wrong_type": entry["anomalies"]["wrong_type"] / rows,
        "bad_timestamp": entry["anomalies"]["bad_timestamp"] / rows,
        "negative_amount": entry["anomalies"]["negative_amount"] / rows,
        "unknown_account": entry["anomalies"]["unknown_account"] / rows,
        "duplicate_transaction": entry["anomalies"]["duplicate_transaction"] / distinct,
        "quoted_newline": entry["anomalies"]["quoted_newline"] / with_category,
    }
    assert all(0.8 * RATE < share < 1.2 * RATE for share in shares.values()), shares


def test_every_row_stays_recognisable(anomalous_payments):
    for feed, (key, pattern) in KEYS.items():
        for file, row in anomalous_payments.rows(feed):
            assert pattern.fullmatch(row[key]), (file.path, row)
            assert len(row) == len(file.columns)
    for _, row in anomalous_payments.rows("payment_transactions"):
        assert ACCOUNT_ID.fullmatch(row["source_account_id"])
        assert ACCOUNT_ID.fullmatch(row["destination_account_id"])


def test_anomalous_values_are_the_documented_ones(anomalous_payments):
    seen = defaultdict(set)
    for feed in FEED_COLUMNS:
        for _, row in anomalous_payments.rows(feed):
            if has_bad_timestamp(feed, row):
                value = next(v for k, v in row.items() if k.endswith("_ts") or k == "updated_at")
                kind = "impossible" if IMPOSSIBLE_DATE.fullmatch(value) else value
                seen["bad_timestamp"].add(kind)
            if has_line_break(row):
                text = next(v for v in row.values() if "\n" in v)
                assert ", " in text and '"' in text, text
                seen["quoted_newline"].add(feed)
    for _, row in anomalous_payments.rows("payment_transactions"):
        if not re.fullmatch(r"-?\d+\.\d{2}", row["amount"]):
            kind = "comma" if COMMA_AMOUNT.fullmatch(row["amount"]) else row["amount"]
            seen["wrong_amount"].add(kind)
    for _, row in anomalous_payments.rows("external_risk_feed"):
        if "risk_score" in row and not RISK_SCORE.fullmatch(row["risk_score"]):
            seen["wrong_score"].add(
                "comma" if re.fullmatch(r"0,\d{3}", row["risk_score"]) else row["risk_score"]
            )
    assert seen["bad_timestamp"] == {"not-a-time", "", "impossible"}
    assert seen["wrong_amount"] == {"N/A", "abc", "comma"}
    assert seen["wrong_score"] <= {"N/A", "abc", "comma"} and seen["wrong_score"]
    assert seen["quoted_newline"] == {
        "payment_transactions",
        "account_details",
        "external_risk_feed",
    }


def test_duplicates_repeat_the_same_row_in_the_same_or_a_later_file(anomalous_payments):
    copies = defaultdict(list)
    for file, row in anomalous_payments.rows("payment_transactions"):
        copies[row["transaction_id"]].append((file, row))
    repeated = {tid: found for tid, found in copies.items() if len(found) > 1}
    assert len(repeated) > 100
    later_file = 0
    for found in repeated.values():
        (first_file, first), *rest = found
        for file, row in rest:
            shared = set(first) & set(row)
            assert {c: first[c] for c in shared} == {c: row[c] for c in shared}
            assert file.mtime_ns >= first_file.mtime_ns
            later_file += file.mtime_ns > first_file.mtime_ns
    assert 0 < later_file < sum(len(f) - 1 for f in repeated.values())


def test_clean_landing_has_canonical_files_and_parseable_values(clean_payments):
    assert set(clean_payments.manifest["anomalies"].values()) == {0}
    for feed, files in clean_payments.feeds.items():
        assert files, feed
        for file in files:
            assert file.header == list(FEED_COLUMNS[feed]) and not file.has_bom, file.path
            assert file.rows, file.path
    accounts = {}
    for _, row in clean_payments.rows("account_details"):
        assert ACCOUNT_ID.fullmatch(row["account_id"])
        assert row["account_type"] in {"personal", "business", "merchant"}
        assert row["kyc_status"] in {"verified", "pending", "failed"}
        assert re.fullmatch(r"[A-Z]{2}", row["country"])
        assert EMAIL.fullmatch(row["email"]), row["email"]
        assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", row["holder_name"]), row["holder_name"]
        assert parse_date(row["created_date"]) and parse_timestamp(row["updated_at"])
        accounts[row["account_id"]] = row
    ids = [row["transaction_id"] for _, row in clean_payments.rows("payment_transactions")]
    assert len(ids) == len(set(ids)) == clean_payments.manifest["parameters"]["transactions"]
    for _, row in clean_payments.rows("payment_transactions"):
        assert TRANSACTION_ID.fullmatch(row["transaction_id"])
        assert parse_timestamp(row["transaction_ts"]) is not None
        assert row["source_account_id"] in accounts and row["destination_account_id"] in accounts
        assert row["source_account_id"] != row["destination_account_id"]
        assert CLEAN_AMOUNT.fullmatch(row["amount"]) and float(row["amount"]) > 0
        assert row["currency"] in {"USD", "EUR", "GBP"}
        assert row["channel"] in {"web", "mobile", "pos", "api"}
        assert re.fullmatch(r"[a-z_]+", row["merchant_category"])
        assert CARD_NUMBER.fullmatch(row["card_number"]) and luhn_valid(row["card_number"])
        assert ipaddress.IPv4Address(row["ip_address"]).is_global
        assert DEVICE_ID.fullmatch(row["device_id"])
    for _, row in clean_payments.rows("external_risk_feed"):
        assert row["account_id"] in accounts
        assert row["risk_flag"] in {"0", "1"} and RISK_SCORE.fullmatch(row["risk_score"])
        assert re.fullmatch(r"[a-z_]+", row["reason"]) and parse_timestamp(row["effective_ts"])
    for _, row in clean_payments.rows("historical_fraud_cases"):
        assert row["transaction_id"] in set(ids)
        assert row["status"] in {"reported", "confirmed", "false_positive"}
        assert re.fullmatch(r"[a-z_]+", row["fraud_type"])
        assert parse_timestamp(row["reported_ts"]).tzinfo == dt.UTC
