"""The payments steps on real Delta tables, checked against the generator's manifest."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import timedelta

import pytest
from pyspark.sql import functions as F

from lakehouse.config import load_settings
from lakehouse.generate import generate_payments_landing
from lakehouse.io.delta import latest_version, read_table
from lakehouse.io.ledger import ledger_totals
from lakehouse.pipeline import run_all
from lakehouse.silver import payments as sp
from lakehouse.tables import (
    ALL_TABLES,
    BATCH_LEDGER,
    GOLD_PAYMENTS_UNIFIED,
    PAYMENT_FEEDS,
    ROW_WARNINGS,
    SILVER_ACCOUNTS,
    SILVER_FRAUD_CASES,
    SILVER_TRANSACTIONS,
    Table,
)
from tests.support.lake import NO_SUITES, raw_zone

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("payments")
    landing = root / "landing"
    manifest = generate_payments_landing(
        landing, transactions=3_000, seed=9, anomaly_rate=0.03, days=75, workers=1
    )
    settings = load_settings(
        "local",
        landing=str(landing),
        lake=str(root / "lake"),
        overrides=["privacy.hmac_key=payments-test-key", NO_SUITES],
    )
    run_all(spark, settings, source="payments")
    return {"settings": settings, "manifest": manifest, "landing": landing}


def count(spark, settings, table):
    return read_table(spark, settings.table_path(*table)).count()


def test_generator_aliases_are_configured(lake):
    configured = lake["settings"].payments.aliases
    for canonical, names in lake["manifest"]["column_aliases"].items():
        assert set(names) <= set(configured[canonical]), canonical


@pytest.mark.parametrize("feed", PAYMENT_FEEDS)
def test_every_row_read_and_conserved(spark, lake, feed):
    settings, manifest = lake["settings"], lake["manifest"]
    ledger = settings.table_path(*BATCH_LEDGER)
    bronze = ledger_totals(spark, ledger, "bronze", feed)
    silver = ledger_totals(spark, ledger, "silver", feed)
    bronze_rows = count(spark, settings, Table("bronze", feed))
    assert bronze["records_read"] == manifest["feeds"][feed]["totals"]["rows"] == bronze_rows
    assert bronze["files_read"] == manifest["feeds"][feed]["totals"]["files"]
    quarantined = count(spark, settings, Table("quarantine", feed))
    assert bronze_rows == silver["silver_inserted"] + quarantined + silver["duplicates_removed"]
    assert quarantined == silver["quarantined"]
    warnings = read_table(spark, settings.table_path(*ROW_WARNINGS)).where(F.col("source") == feed)
    assert warnings.count() == silver.get("warned", 0)
    if feed in ("account_details", "external_risk_feed"):
        # every wrong-typed created_date or risk_score warns (the generator's count); the rows
        # kept for it (no other reason) are the ones in audit/row_warnings
        check = {"account_details": sp.with_account_reasons}.get(feed, sp.with_risk_reasons)
        bronze_df = read_table(spark, settings.table_path("bronze", feed))
        checked = check(sp.without_control_chars(bronze_df, feed))
        warned_rows = checked.where(F.size("warnings") > 0).count()
        assert warned_rows == manifest["feeds"][feed]["anomalies"]["wrong_type"]
        assert warned_rows > 0 or feed == "external_risk_feed"  # a small feed: may have none
        kept = checked.where((F.size("warnings") > 0) & (F.size("reasons") == 0))
        assert kept.count() == warnings.count()


def test_transactions_quarantine_matches_injected_anomalies(spark, lake):
    settings, anomalies = (
        lake["settings"],
        lake["manifest"]["feeds"]["payment_transactions"]["anomalies"],
    )
    quarantine = read_table(spark, settings.table_path("quarantine", "payment_transactions"))
    with_reason = {
        code: quarantine.where(F.array_contains("reasons", code)).count()
        for code in ("invalid_transaction_ts", "negative_amount")
    }
    assert with_reason["invalid_transaction_ts"] == anomalies["bad_timestamp"]
    assert with_reason["negative_amount"] == anomalies["negative_amount"]
    silver = read_table(spark, settings.table_path(*SILVER_TRANSACTIONS))
    assert silver.count() == silver.select("transaction_id").distinct().count()
    assert (
        silver.where(F.col("card_last4").rlike("^[0-9]{4}$")).count()
        == silver.where("card_last4 IS NOT NULL").count()
    )


def test_gold_is_point_in_time_correct(spark, lake):
    """Recompute every row's account attributes from the type-2 table in plain Python."""
    settings = lake["settings"]
    versions = defaultdict(list)
    for v in read_table(spark, settings.table_path(*SILVER_ACCOUNTS)).collect():
        versions[v["account_id"]].append(v)
    gold = read_table(spark, settings.table_path(*GOLD_PAYMENTS_UNIFIED)).collect()
    assert len(gold) == count(spark, settings, SILVER_TRANSACTIONS)

    def as_of(account, ts):
        for v in versions.get(account, []):
            if v["valid_from"] <= ts and (v["valid_to"] is None or ts < v["valid_to"]):
                return v
        return None

    checked_unknown = checked_known = 0
    for row in gold:
        version = as_of(row["source_account_id"], row["transaction_ts"])
        if version is None:
            checked_unknown += 1
            assert row["src_kyc_status"] is None and row["src_account_age_days"] is None
        else:
            checked_known += 1
            assert row["src_kyc_status"] == version["kyc_status"]
            assert row["src_country"] == version["country"]
        dst = as_of(row["destination_account_id"], row["transaction_ts"])
        assert row["dst_account_type"] == (dst["account_type"] if dst else None)
    assert checked_known > 1_000 and checked_unknown > 0


def test_labels_and_rerun(spark, lake):
    settings, manifest, landing = lake["settings"], lake["manifest"], lake["landing"]
    gold_path = settings.table_path(*GOLD_PAYMENTS_UNIFIED)
    cases = read_table(spark, settings.table_path(*SILVER_FRAUD_CASES))
    confirmed = {r["transaction_id"] for r in cases.where("status = 'confirmed'").collect()}
    gold = read_table(spark, gold_path)
    flagged = {r["transaction_id"] for r in gold.where("fraud_flag").collect()}
    assert flagged and flagged <= confirmed
    # a confirming row held in quarantine (a broken reported_ts) leaves its case reported
    quarantined = raw_zone(spark, settings, Table("quarantine", "historical_fraud_cases"))
    held = [json.loads(r["raw_record"]) for r in quarantined.collect()]
    lost = sum(str(row.get("status", "")).strip().lower() == "confirmed" for row in held)
    assert len(confirmed) == manifest["fraud"]["latest_status_written"]["confirmed"] - lost

    before = {t.key: latest_version(spark, settings.table_path(*t)) for t in ALL_TABLES}
    run_all(spark, settings, source="payments")
    after = {t.key: latest_version(spark, settings.table_path(*t)) for t in ALL_TABLES}
    assert after == before

    # a late case file confirms fraud on a transaction nobody had reported
    gold_version = latest_version(spark, gold_path)
    victim = gold.where("NOT fraud_flag AND label_status IS NULL").orderBy("transaction_id").first()
    late = landing / "payments" / "historical_fraud_cases" / "fraud-cases-late.csv"
    late.write_text(
        "transaction_id,fraud_type,status,reported_ts\n"
        f"{victim['transaction_id']},account_takeover,confirmed,2024-03-30T10:00:00Z\n"
    )
    newest = max(f["mtime_ms"] for feed in manifest["feeds"].values() for f in feed["files"])
    os.utime(late, ns=((newest + 60_000) * 1_000_000,) * 2)
    run_all(spark, settings, source="payments")
    assert latest_version(spark, gold_path) == gold_version + 1
    is_victim = F.col("transaction_id") == victim["transaction_id"]
    assert read_table(spark, gold_path).where(is_victim).first()["fraud_flag"] is True
    then = read_table(spark, gold_path, version=gold_version).where(is_victim).first()
    assert then["fraud_flag"] is False
    history = spark.sql(f"DESCRIBE HISTORY delta.`{gold_path}`").first()
    assert history["operationMetrics"]["numTargetRowsUpdated"] == "1"
    assert json.loads(history["userMetadata"])["source_versions"]


def test_risk_rows_with_any_score_keep_their_flag_in_gold(spark, lake):
    """A risk row scored on another scale (87 of 100) or with an unreadable score is kept:
    its flag reaches Gold, and only the unreadable score is recorded as a row warning."""
    settings, manifest, landing = lake["settings"], lake["manifest"], lake["landing"]
    gold_path = settings.table_path(*GOLD_PAYMENTS_UNIFIED)
    unflagged = (
        read_table(spark, gold_path)
        .where("src_risk_flag = 0 AND source_account_id <> coalesce(destination_account_id, '')")
        .orderBy("transaction_id")
        .limit(2)
        .collect()
    )
    rows = [
        (txn, score, (txn["transaction_ts"] - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for txn, score in zip(unflagged, ("87", "N/A"), strict=True)
    ]
    late = landing / "payments" / "external_risk_feed" / "risk-other-scale.csv"
    late.write_text(
        "account_id,risk_flag,risk_score,reason,effective_ts\n"
        + "".join(f"{t['source_account_id']},1,{score},watchlist,{ts}\n" for t, score, ts in rows)
    )
    newest = max(f["mtime_ms"] for feed in manifest["feeds"].values() for f in feed["files"])
    os.utime(late, ns=((newest + 120_000) * 1_000_000,) * 2)
    run_all(spark, settings, source="payments")

    gold = read_table(spark, gold_path)
    for txn, _, _ in rows:
        now = gold.where(F.col("transaction_id") == txn["transaction_id"]).first()
        assert now["src_risk_flag"] == 1, txn["transaction_id"]
    events = read_table(spark, settings.table_path("silver", "risk_events"))
    scores = {
        r["account_id"]: r["risk_score"]
        for r in events.where(F.col("_source_file").endswith("risk-other-scale.csv")).collect()
    }
    assert scores == {rows[0][0]["source_account_id"]: 87.0, rows[1][0]["source_account_id"]: None}
    warnings = read_table(spark, settings.table_path(*ROW_WARNINGS)).where(
        F.col("source_file").endswith("risk-other-scale.csv")
    )
    assert [(r["record_id"], r["warnings"]) for r in warnings.collect()] == [
        (rows[1][0]["source_account_id"], ["invalid_risk_score"])
    ]
    quarantine = read_table(spark, settings.table_path("quarantine", "external_risk_feed"))
    assert quarantine.where(F.col("source_file").endswith("risk-other-scale.csv")).count() == 0
