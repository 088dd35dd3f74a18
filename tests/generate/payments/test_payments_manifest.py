"""The manifest must equal what an independent CSV reader finds in the files."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from payments_reader import (
    EXPECTED_ALIASES,
    FEED_COLUMNS,
    has_bad_timestamp,
    has_line_break,
    is_wrong_type,
)

LANDINGS = ["anomalous_payments", "clean_payments"]
TEXT_COLUMNS = {"merchant_category", "holder_name", "reason"}


def _known_accounts(landing) -> set[str]:
    return {row["account_id"] for _, row in landing.rows("account_details")}


def _found_anomalies(landing, feed: str, known_accounts: set[str]) -> Counter:
    """Anomalies judged from the files alone, counted like the manifest counts them."""
    canonical = FEED_COLUMNS[feed]
    found = Counter()
    for file in landing.feeds[feed]:
        present = [c for c in canonical if c in file.columns]
        found["reordered_columns"] += file.columns != present
        found["renamed_column"] += bool(file.renamed)
        found["missing_column"] += len(present) < len(canonical)
        found["bom"] += file.has_bom
        found["header_only_file"] += not file.rows
        for row in file.rows:
            found["wrong_type"] += is_wrong_type(feed, row)
            found["bad_timestamp"] += has_bad_timestamp(feed, row)
            found["quoted_newline"] += has_line_break(row)
            if feed == "payment_transactions":
                amount_is_negative = not is_wrong_type(feed, row) and float(row["amount"]) < 0
                found["negative_amount"] += amount_is_negative
                ids = {row["source_account_id"], row["destination_account_id"]}
                found["unknown_account"] += not ids <= known_accounts
    rows = [row for _, row in landing.rows(feed)]
    if feed == "payment_transactions":
        found["duplicate_transaction"] = len(rows) - len({r["transaction_id"] for r in rows})
    return found


@pytest.mark.parametrize("landing_name", LANDINGS)
def test_files_match_the_manifest(landing_name, request):
    landing = request.getfixturevalue(landing_name)
    for feed, entry in landing.manifest["feeds"].items():
        files = landing.feeds[feed]
        assert [f["path"] for f in entry["files"]] == [f.path for f in files]
        for listed, file in zip(entry["files"], files, strict=True):
            assert listed["rows"] == len(file.rows), file.path
            assert listed["columns"] == file.header
            assert listed["renamed"] == file.renamed
            assert listed["missing"] == [c for c in FEED_COLUMNS[feed] if c not in file.columns]
            assert listed["bom"] == file.has_bom
            assert listed["header_only"] == (not file.rows)
            assert listed["mtime_ms"] * 1_000_000 == file.mtime_ns
            assert listed["reordered"] == (
                file.columns != [c for c in FEED_COLUMNS[feed] if c in file.columns]
            )
        assert entry["columns"] == list(FEED_COLUMNS[feed])


@pytest.mark.parametrize("landing_name", LANDINGS)
def test_totals_and_anomalies_match_the_files(landing_name, request):
    landing = request.getfixturevalue(landing_name)
    known = _known_accounts(landing)
    totals = Counter()
    for feed, entry in landing.manifest["feeds"].items():
        rows = [row for _, row in landing.rows(feed)]
        accounts = {
            row[c]
            for row in rows
            for c in ("account_id", "source_account_id", "destination_account_id")
            if c in row
        }
        assert entry["totals"] == {
            "files": len(landing.feeds[feed]),
            "rows": len(rows),
            "distinct_transaction_ids": len(
                {r["transaction_id"] for r in rows if "transaction_id" in r}
            ),
            "distinct_account_ids": len(accounts),
            "header_only_files": sum(not f.rows for f in landing.feeds[feed]),
        }
        found = _found_anomalies(landing, feed, known)
        assert entry["anomalies"] == {name: found.get(name, 0) for name in entry["anomalies"]}
        totals.update(entry["anomalies"])
    assert landing.manifest["anomalies"] == dict(totals)


def test_quoted_line_breaks_make_physical_lines_differ_from_records(anomalous_payments):
    multiline = [
        f for files in anomalous_payments.feeds.values() for f in files
        if any(has_line_break(r) for r in f.rows)
    ]  # fmt: skip
    assert multiline
    for file in multiline:
        breaks = sum(v.count("\n") for r in file.rows for v in r.values())
        assert file.physical_lines == 1 + len(file.rows) + breaks
        assert file.physical_lines > 1 + len(file.rows)


def test_manifest_shape_and_aliases(anomalous_payments):
    manifest = anomalous_payments.manifest
    assert list(manifest) == [
        "manifest_version", "source", "parameters", "period", "column_aliases", "feeds",
        "anomalies", "fraud",
    ]  # fmt: skip
    assert manifest["source"] == "payments"
    assert manifest["column_aliases"] == EXPECTED_ALIASES
    assert manifest["parameters"] == {
        "transactions": 8_000,
        "accounts": 800,
        "seed": 7,
        "anomaly_rate": 0.12,
        "start": "2024-03-01",
        "days": 75,
        "label_days": 88,  # 60 days to report, 21 to settle, a week for the next delivery
    }
    assert manifest["period"] == {
        "start": "2024-03-01T00:00:00Z",
        "end": "2024-05-15T00:00:00Z",
        "start_ms": 1_709_251_200_000,
        "end_ms": 1_715_731_200_000,
        "labels_end": "2024-08-11T00:00:00Z",
        "labels_end_ms": 1_723_334_400_000,
    }
    renamed_to = {
        a for f in manifest["feeds"].values() for x in f["files"] for a in x["renamed"].values()
    }
    assert renamed_to <= {a for aliases in EXPECTED_ALIASES.values() for a in aliases}
    assert len(renamed_to) >= 3


def test_manifest_on_disk_equals_the_returned_one(anomalous_payments):
    path = anomalous_payments.root / "_manifest" / "payments.json"
    assert orjson.loads(path.read_bytes()) == anomalous_payments.manifest
