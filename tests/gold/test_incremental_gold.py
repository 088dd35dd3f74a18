"""Incremental Gold: after each kind of change an increment rebuilds only the rows the change
can reach, and the table equals a full rebuild on the same data.

One lake is built from generated feeds; each test changes a copy of it the way Silver does
(late rows, re-exports, type-2 account versions, risk intervals, late labels, erasures, a
label cutoff that moves), runs the Gold step, and compares the table with the full build of
the same inputs (``to_payments_unified`` / ``to_delivery_features``, which a full build
MERGEs), column for column.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import CHECKOUT
from lakehouse.gold.delivery import to_delivery_features
from lakehouse.gold.payments import to_payments_unified
from lakehouse.io.delta import SOURCE_VERSIONS_KEY, read_table
from lakehouse.pipeline import run_all
from lakehouse.pipeline.payments import _DERIVED, GOLD_SOURCES, LABEL_CUTOFF_KEY, _derived_spec
from lakehouse.pipeline.payments import build_payments_unified as build_payments
from lakehouse.pipeline.sessions import build_delivery_features as build_delivery
from lakehouse.pipeline.steps import BUILD_KEY, FULL, INCREMENTAL, run_gold
from lakehouse.tables import (
    GOLD_DELIVERY_FEATURES,
    GOLD_PAYMENTS_UNIFIED,
    SILVER_ACCOUNT_CHANGES,
    SILVER_FRAUD_CASE_HISTORY,
    SILVER_HOLIDAYS,
    SILVER_RISK_EVENTS,
    SILVER_SESSIONS,
    SILVER_TRANSACTIONS,
    SILVER_WAREHOUSES,
    SILVER_ZIP_CODES,
)
from tests.support.lake import generate_through_cli, lake_settings

KEY = "incremental-gold-test-key"
MATURITY = "payments.label_maturity_days=10"
INCREMENTAL_ON = "gold.incremental=true"


@pytest.fixture(scope="module")
def base(spark, tmp_path_factory):
    """A lake built (fully) from a generated landing zone."""
    root = tmp_path_factory.mktemp("incremental_base")
    generate_through_cli(root / "landing", sessions=400, transactions=1_500, seed=41)
    run_all(spark, lake_settings(root, KEY, MATURITY, INCREMENTAL_ON))
    return root


@pytest.fixture
def lake(base, tmp_path):
    """A copy of the base lake, for one test to change."""
    shutil.copytree(base / "lake", tmp_path / "lake")
    (tmp_path / "landing").mkdir()
    return lake_settings(tmp_path, KEY, MATURITY, INCREMENTAL_ON)


def silver(spark, settings, table) -> DataFrame:
    return read_table(spark, settings.table_path(*table))


def append(spark, settings, table, df: DataFrame) -> None:
    df.write.format("delta").mode("append").save(settings.table_path(*table))


def last_commit(spark, settings, table) -> dict:
    row = DeltaTable.forPath(spark, settings.table_path(*table)).history(1).first()
    return json.loads(row["userMetadata"])


def rows_of(df: DataFrame, key: str) -> dict:
    return {r[key]: r.asDict() for r in df.collect()}


def assert_equal_tables(actual: DataFrame, expected: DataFrame, key: str) -> None:
    got, want = rows_of(actual, key), rows_of(expected.select(*actual.columns), key)
    assert got.keys() == want.keys(), (
        f"keys only in the table: {sorted(got.keys() - want.keys())[:5]}, "
        f"only in the full build: {sorted(want.keys() - got.keys())[:5]}"
    )
    differ = [k for k in got if got[k] != want[k]]
    assert not differ, [
        {c: (got[k][c], want[k][c]) for c in got[k] if got[k][c] != want[k][c]} for k in differ[:3]
    ]


def full_payments(spark, settings) -> DataFrame:
    """The full build of ``gold/payments_unified`` from Silver now, at its recorded cutoff."""
    recorded = last_commit(spark, settings, GOLD_PAYMENTS_UNIFIED)
    cutoff = datetime.fromisoformat(recorded[LABEL_CUTOFF_KEY]).astimezone(UTC)
    payments = settings.payments
    return to_payments_unified(
        *(silver(spark, settings, table) for table in GOLD_SOURCES),
        cutoff=cutoff.replace(tzinfo=None),
        maturity_days=payments.label_maturity_days,
        velocity_windows=payments.velocity_windows_s,
    )


def full_delivery(spark, settings) -> DataFrame:
    inputs = (SILVER_SESSIONS, SILVER_ZIP_CODES, SILVER_WAREHOUSES, SILVER_HOLIDAYS)
    return to_delivery_features(
        *(silver(spark, settings, table) for table in inputs),
        holiday_window_days=settings.sessions.holiday_window_days,
    )


def assert_incremental(report, spark, settings, table, total: int) -> int:
    """The step published an incremental build that rebuilt a small part of the table; how
    many rows it rebuilt."""
    assert last_commit(spark, settings, table)[BUILD_KEY] == INCREMENTAL
    rebuilt = report.metrics["rebuilt_rows"]
    assert 0 < rebuilt < total / 4, (rebuilt, total)
    return rebuilt


def busy_accounts(spark, settings, n: int) -> list:
    """Source accounts with the most transactions, and one of each one's middle rows."""
    tx = silver(spark, settings, SILVER_TRANSACTIONS)
    counts = tx.groupBy("source_account_id").count().orderBy(F.desc("count"), "source_account_id")
    accounts = [r["source_account_id"] for r in counts.limit(n).collect()]
    middles = []
    for account in accounts:
        rows = tx.where(F.col("source_account_id") == account).orderBy("transaction_ts").collect()
        middles.append(rows[len(rows) // 2])
    return middles


def test_late_transactions_inside_existing_windows(spark, lake):
    total = silver(spark, lake, GOLD_PAYMENTS_UNIFIED).count()
    first, second = busy_accounts(spark, lake, 2)
    late = [
        # half an hour before a transaction of the same account: in its 1h window
        first.asDict() | {"transaction_id": "late-1", "amount": first["amount"] + 7},
        # at the very instant of another one (neither counts the other)
        second.asDict() | {"transaction_id": "late-2"},
    ]
    late[0]["transaction_ts"] = first["transaction_ts"] - timedelta(minutes=30)
    tx_schema = silver(spark, lake, SILVER_TRANSACTIONS).schema
    append(spark, lake, SILVER_TRANSACTIONS, spark.createDataFrame(late, tx_schema))

    report = build_payments(spark, lake)

    assert_incremental(report, spark, lake, GOLD_PAYMENTS_UNIFIED, total)
    gold = silver(spark, lake, GOLD_PAYMENTS_UNIFIED)
    assert_equal_tables(gold, full_payments(spark, lake), "transaction_id")
    moved = gold.where(
        (F.col("source_account_id") == first["source_account_id"])
        & (F.col("transaction_ts") > late[0]["transaction_ts"])
        & (F.col("transaction_ts") <= late[0]["transaction_ts"] + timedelta(hours=1))
    )
    assert moved.count() >= 1  # the late row landed in a window that already existed


def test_an_erased_transaction_leaves_and_its_account_is_recounted(spark, lake):
    total = silver(spark, lake, GOLD_PAYMENTS_UNIFIED).count()
    (victim,) = busy_accounts(spark, lake, 1)
    path = lake.table_path(*SILVER_TRANSACTIONS)
    DeltaTable.forPath(spark, path).delete(F.col("transaction_id") == victim["transaction_id"])

    report = build_payments(spark, lake)

    assert_incremental(report, spark, lake, GOLD_PAYMENTS_UNIFIED, total)
    gold = silver(spark, lake, GOLD_PAYMENTS_UNIFIED)
    assert gold.where(F.col("transaction_id") == victim["transaction_id"]).count() == 0
    assert_equal_tables(gold, full_payments(spark, lake), "transaction_id")


def rebuild_derived(spark, settings, source) -> None:
    """Silver's derived history table of ``source`` (type-2 accounts, risk intervals)."""
    (derived,) = [d for d in _DERIVED if d[0] == source]
    run_gold(spark, settings, _derived_spec(*derived))


def test_account_and_risk_changes_reach_the_transactions_after_them(spark, lake):
    total = silver(spark, lake, GOLD_PAYMENTS_UNIFIED).count()
    first, second = busy_accounts(spark, lake, 2)
    changes = silver(spark, lake, SILVER_ACCOUNT_CHANGES)
    latest = changes.where(F.col("account_id") == first["source_account_id"]).first()
    assert latest is not None, "the generator gave the busiest account no snapshot"
    new_version = latest.asDict() | {
        "updated_at": first["transaction_ts"] - timedelta(minutes=1),
        "kyc_status": "failed" if latest["kyc_status"] != "failed" else "verified",
        "attributes_hash": "changed-by-test",
    }
    append(
        spark, lake, SILVER_ACCOUNT_CHANGES, spark.createDataFrame([new_version], changes.schema)
    )
    rebuild_derived(spark, lake, SILVER_ACCOUNT_CHANGES)
    events = silver(spark, lake, SILVER_RISK_EVENTS)
    flag = events.first().asDict() | {
        "account_id": second["destination_account_id"],
        "effective_ts": second["transaction_ts"] - timedelta(hours=2),
        "risk_flag": 1,
        "event_hash": "risk-by-test",
    }
    append(spark, lake, SILVER_RISK_EVENTS, spark.createDataFrame([flag], events.schema))
    rebuild_derived(spark, lake, SILVER_RISK_EVENTS)

    report = build_payments(spark, lake)

    assert_incremental(report, spark, lake, GOLD_PAYMENTS_UNIFIED, total)
    gold = silver(spark, lake, GOLD_PAYMENTS_UNIFIED)
    assert_equal_tables(gold, full_payments(spark, lake), "transaction_id")
    now = gold.where(F.col("transaction_id") == first["transaction_id"]).first()
    assert now["src_kyc_status"] == new_version["kyc_status"]
    flagged = gold.where(F.col("transaction_id") == second["transaction_id"]).first()
    assert flagged["dst_risk_flag"] == 1


def test_late_labels_and_a_moving_cutoff(spark, lake):
    total = silver(spark, lake, GOLD_PAYMENTS_UNIFIED).count()
    tx = silver(spark, lake, SILVER_TRANSACTIONS)
    span = tx.agg(F.min("transaction_ts").alias("lo"), F.max("transaction_ts").alias("hi")).first()
    middle = span["lo"] + (span["hi"] - span["lo"]) / 2
    # a first build at a cutoff inside the data: everything moves once (a full band)
    cases = silver(spark, lake, SILVER_FRAUD_CASE_HISTORY)
    first_cutoff = (middle + timedelta(days=12)).replace(tzinfo=UTC)
    victims = (
        tx.where(F.col("transaction_ts") < middle)
        .join(cases, "transaction_id", "left_anti")  # no case of their own yet
        .orderBy("transaction_id")
        .limit(2)
        .collect()
    )
    template = cases.first().asDict()
    case = [
        # reported before the first cutoff
        template
        | {
            "transaction_id": victims[0]["transaction_id"],
            "status": "confirmed",
            "reported_ts": middle,
        },
        # reported between the two cutoffs: only the second build sees it
        template
        | {
            "transaction_id": victims[1]["transaction_id"],
            "status": "confirmed",
            "reported_ts": middle + timedelta(days=13),
        },
    ]
    append(spark, lake, SILVER_FRAUD_CASE_HISTORY, spark.createDataFrame(case, cases.schema))
    build_payments(spark, lake, now=first_cutoff)
    assert_equal_tables(
        silver(spark, lake, GOLD_PAYMENTS_UNIFIED), full_payments(spark, lake), "transaction_id"
    )

    # a false positive for the first victim, and two days later
    cleared = case[0] | {"status": "false_positive", "reported_ts": middle + timedelta(hours=5)}
    append(spark, lake, SILVER_FRAUD_CASE_HISTORY, spark.createDataFrame([cleared], cases.schema))
    report = build_payments(spark, lake, now=first_cutoff + timedelta(days=2))

    assert_incremental(report, spark, lake, GOLD_PAYMENTS_UNIFIED, total)
    gold = silver(spark, lake, GOLD_PAYMENTS_UNIFIED)
    assert_equal_tables(gold, full_payments(spark, lake), "transaction_id")
    flags = {
        r["transaction_id"]: r["fraud_flag"]
        for r in gold.where(
            F.col("transaction_id").isin([v["transaction_id"] for v in victims])
        ).collect()
    }
    assert flags == {victims[0]["transaction_id"]: False, victims[1]["transaction_id"]: True}
    matured = gold.where(
        (F.col("transaction_ts") >= middle + timedelta(days=2))
        & (F.col("transaction_ts") < middle + timedelta(days=4))
    )
    assert matured.where("label_is_mature").count() == matured.count() > 0


def test_a_target_changed_outside_a_build_gets_a_full_one(spark, lake):
    (row,) = busy_accounts(spark, lake, 1)
    gold_path = lake.table_path(*GOLD_PAYMENTS_UNIFIED)
    # a hand-made delete: the table no longer is what its last build recorded
    DeltaTable.forPath(spark, gold_path).delete(F.col("transaction_id") == row["transaction_id"])
    tx_schema = silver(spark, lake, SILVER_TRANSACTIONS).schema
    late = row.asDict() | {"transaction_id": "late-3"}
    append(spark, lake, SILVER_TRANSACTIONS, spark.createDataFrame([late], tx_schema))

    build_payments(spark, lake)

    assert last_commit(spark, lake, GOLD_PAYMENTS_UNIFIED)[BUILD_KEY] == FULL
    assert_equal_tables(
        silver(spark, lake, GOLD_PAYMENTS_UNIFIED), full_payments(spark, lake), "transaction_id"
    )


def is_checkout():
    return F.col("event_type") == CHECKOUT


def checkouts(spark, settings, n: int) -> list:
    sessions = silver(spark, settings, SILVER_SESSIONS)
    return sessions.where(is_checkout()).orderBy("record_id").limit(n).collect()


def test_reexports_and_late_events_rebuild_their_sessions(spark, lake):
    total = silver(spark, lake, GOLD_DELIVERY_FEATURES).count()
    sessions = silver(spark, lake, SILVER_SESSIONS)
    reexported, extended, moved = checkouts(spark, lake, 3)
    path = lake.table_path(*SILVER_SESSIONS)
    # a re-export: the checkout delivered
    DeltaTable.forPath(spark, path).update(
        F.col("record_id") == reexported["record_id"],
        {"delivered_ts": F.col("event_ts") + F.expr("INTERVAL 3 DAYS")},
    )
    # a late product view earlier in another checkout's session
    view = extended.asDict() | {
        "record_id": "late-view",
        "event_type": "PRODUCT_VIEW",
        "event_ts": extended["event_ts"] - timedelta(minutes=5),
    }
    # a checkout moved to another session by its re-export
    DeltaTable.forPath(spark, path).update(
        F.col("record_id") == moved["record_id"], {"session_id": F.lit("session-by-test")}
    )
    append(spark, lake, SILVER_SESSIONS, spark.createDataFrame([view], sessions.schema))

    report = build_delivery(spark, lake)

    rebuilt = assert_incremental(report, spark, lake, GOLD_DELIVERY_FEATURES, total)
    touched = [c["session_id"] for c in (reexported, extended, moved)] + ["session-by-test"]
    now = silver(spark, lake, SILVER_SESSIONS)
    assert rebuilt == now.where(F.col("session_id").isin(touched)).where(is_checkout()).count()
    gold = silver(spark, lake, GOLD_DELIVERY_FEATURES)
    assert_equal_tables(gold, full_delivery(spark, lake), "record_id")
    got = rows_of(
        gold.where(F.col("record_id").isin(reexported["record_id"], moved["record_id"])),
        "record_id",
    )
    assert got[reexported["record_id"]]["delivery_days"] == 3
    assert got[moved["record_id"]]["session_id"] == "session-by-test"


def test_a_reference_change_rebuilds_every_row(spark, lake):
    warehouses = silver(spark, lake, SILVER_WAREHOUSES)
    path = lake.table_path(*SILVER_WAREHOUSES)
    first = warehouses.orderBy("warehouse_id").first()
    DeltaTable.forPath(spark, path).update(
        F.col("warehouse_id") == first["warehouse_id"], {"latitude": F.col("latitude") + 1}
    )

    build_delivery(spark, lake)

    assert last_commit(spark, lake, GOLD_DELIVERY_FEATURES)[BUILD_KEY] == FULL
    assert_equal_tables(
        silver(spark, lake, GOLD_DELIVERY_FEATURES), full_delivery(spark, lake), "record_id"
    )


def test_without_change_data_for_the_range_the_build_is_full(spark, lake):
    path = lake.table_path(*SILVER_TRANSACTIONS)
    spark.sql(
        f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'false')"
    )
    (row,) = busy_accounts(spark, lake, 1)
    tx_schema = silver(spark, lake, SILVER_TRANSACTIONS).schema
    append(
        spark,
        lake,
        SILVER_TRANSACTIONS,
        spark.createDataFrame([row.asDict() | {"transaction_id": "late-4"}], tx_schema),
    )

    build_payments(spark, lake)

    commit = last_commit(spark, lake, GOLD_PAYMENTS_UNIFIED)
    assert commit[BUILD_KEY] == FULL
    assert_equal_tables(
        silver(spark, lake, GOLD_PAYMENTS_UNIFIED), full_payments(spark, lake), "transaction_id"
    )
    # the build turned the feed back on: the next change is incremental again
    assert commit[SOURCE_VERSIONS_KEY]
    append(
        spark,
        lake,
        SILVER_TRANSACTIONS,
        spark.createDataFrame([row.asDict() | {"transaction_id": "late-5"}], tx_schema),
    )
    build_payments(spark, lake)
    assert last_commit(spark, lake, GOLD_PAYMENTS_UNIFIED)[BUILD_KEY] == INCREMENTAL
    assert_equal_tables(
        silver(spark, lake, GOLD_PAYMENTS_UNIFIED), full_payments(spark, lake), "transaction_id"
    )


def test_the_gate_checks_the_table_an_increment_would_publish(spark, lake):
    """With the Gold suites on, an increment is audited as the whole table it would make: an
    erasure of half the transactions rebuilds few rows but drops half the table, and is held."""
    gated = lake.model_copy(update={"quality": lake.quality.model_copy(update={"suites": True})})
    gold_path = lake.table_path(*GOLD_PAYMENTS_UNIFIED)
    before = DeltaTable.forPath(spark, gold_path).history(1).first()["version"]
    tx = silver(spark, lake, SILVER_TRANSACTIONS)
    (late,) = busy_accounts(spark, lake, 1)
    append(
        spark,
        lake,
        SILVER_TRANSACTIONS,
        spark.createDataFrame([late.asDict() | {"transaction_id": "late-6"}], tx.schema),
    )

    harmless = build_payments(spark, gated)

    assert harmless.quality_failures == []
    assert last_commit(spark, lake, GOLD_PAYMENTS_UNIFIED)[BUILD_KEY] == INCREMENTAL
    published = DeltaTable.forPath(spark, gold_path).history(1).first()["version"]
    assert published > before
    accounts = [r[0] for r in tx.select("source_account_id").distinct().orderBy(1).collect()]
    half = accounts[: len(accounts) // 2]
    path = lake.table_path(*SILVER_TRANSACTIONS)
    DeltaTable.forPath(spark, path).delete(F.col("source_account_id").isin(half))

    held = build_payments(spark, gated)

    assert [f.split(" ")[0] for f in held.quality_failures] == ["row_count_vs_published"]
    assert DeltaTable.forPath(spark, gold_path).history(1).first()["version"] == published
