"""Write, audit, publish: a Gold build that is wrong as a whole is not published.

Each anomaly the suites exist for arrives as a batch whose rows are each valid: amounts sent in
cents, a warehouse gone, half the zip codes unknown. The build is checked against the
published version before it becomes one: it stays unpublished, the report and
``audit/expectations`` name the failed check, and a harmless batch still goes through.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from lakehouse.cli import main
from lakehouse.config import load_settings
from lakehouse.contract import DELIVERY_FEATURES_COLUMNS
from lakehouse.errors import EXIT_DATA_QUALITY, DataQualityError
from lakehouse.io.delta import latest_version, read_table
from lakehouse.ml.training import train_model
from lakehouse.pipeline.gates import gate_failures
from lakehouse.pipeline.payments import build_payments_unified
from lakehouse.pipeline.steps import GoldSpec, run_gold
from lakehouse.quality.audit import failed_checks, read_expectations, require_passed
from lakehouse.quality.gold import PAYMENTS_SUITE, Baseline, build_checks
from lakehouse.reporting import print_expectations
from lakehouse.tables import (
    GOLD_DELIVERY_FEATURES,
    GOLD_PAYMENTS_UNIFIED,
    SILVER_TRANSACTIONS,
    Table,
)
from tests.support.gold import FAST_OVERRIDES
from tests.support.payments_twins import TX_SCHEMA

OVERRIDES = ["privacy.hmac_key=gate-key", "payments.label_cutoff=2024-06-01T00:00:00Z"]
T0 = datetime(2024, 1, 1)


def make_settings(tmp_path, *more: str):
    return load_settings(
        "local", lake=str(tmp_path / "lake"), overrides=[*OVERRIDES, *FAST_OVERRIDES, *more]
    )


# --- payments: the real Gold step on a Silver table written here -------------------------


def transactions(spark, first: int, n: int, *, cents: bool = False):
    rows = []
    for i in range(first, first + n):
        amount = Decimal(10 + (i * 37) % 490) + Decimal("0.25")
        rows.append(
            (
                f"t{i:05d}",
                T0 + timedelta(hours=i),
                f"a{i % 40}",
                f"a{(i * 7 + 1) % 40}",
                amount * 100 if cents else amount,
                "USD",
                "web",
                "grocery",
            )
        )
    return spark.createDataFrame(rows, TX_SCHEMA)


def land_silver(spark, settings, df) -> None:
    df.write.format("delta").mode("append").save(settings.table_path(*SILVER_TRANSACTIONS))


@pytest.fixture(scope="module")
def payments(spark, tmp_path_factory):
    """One lake, batch after batch: 400 ordinary rows published, 200 more (harmless), then 200
    in cents, built twice: as configured, then with ``quality.fail_on_error`` false."""
    settings = make_settings(tmp_path_factory.mktemp("payments"))
    versions, reports = [], {}
    for name, batch in (
        ("first", transactions(spark, 0, 400)),
        ("harmless", transactions(spark, 400, 200)),
        ("cents", transactions(spark, 600, 200, cents=True)),
    ):
        land_silver(spark, settings, batch)
        reports[name] = build_payments_unified(spark, settings)
        versions.append(gold_version(spark, settings))
    lenient = settings.model_copy(
        update={"quality": settings.quality.model_copy(update={"fail_on_error": False})}
    )
    reports["lenient"] = build_payments_unified(spark, lenient)
    versions.append(gold_version(spark, settings))
    return {"settings": settings, "lenient": lenient, "versions": versions, "reports": reports}


def gold_version(spark, settings, table: Table = GOLD_PAYMENTS_UNIFIED):
    return latest_version(spark, settings.table_path(*table))


def test_a_harmless_batch_is_checked_and_published(spark, payments):
    settings, (first, harmless, *_) = payments["settings"], payments["versions"]
    report = payments["reports"]["harmless"]
    assert payments["reports"]["first"].quality_failures == []
    assert report.quality_failures == [] and gate_failures([report], settings.quality) == []
    assert harmless > first
    assert (
        read_table(spark, settings.table_path(*GOLD_PAYMENTS_UNIFIED), version=harmless).count()
        == 600
    )
    audit = read_expectations(spark, settings).where(F.col("table_version") == harmless)
    checks = {r["check"]: r for r in audit.collect()}
    # the whole build and the new rows against the published version were both checked
    assert {"transaction_id_unique", "columns", "row_count_vs_published"} <= set(checks)
    assert checks["amount_median_vs_published"]["rows"] == "new"
    assert all(r["success"] and r["published"] for r in checks.values())


def test_the_report_shows_the_last_validation_of_each_table(spark, payments, capsys):
    print_expectations(spark, payments["settings"])
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if x.strip().startswith("gold/payments_unified")]
    # the lenient build was the last one: published, its failed check listed under it
    assert f"published as version {payments['versions'][-1]}" in line
    assert "fail  amount_median_vs_published" in out


def test_amounts_in_cents_are_not_published(spark, payments):
    settings, (_, harmless, cents, _) = payments["settings"], payments["versions"]
    report = payments["reports"]["cents"]
    assert cents == harmless  # readers still saw the last good version
    assert [f.split(" ")[0] for f in report.quality_failures] == ["amount_median_vs_published"]
    assert "amount_median_vs_published" in report.summary()
    (gate,) = gate_failures([report], settings.quality)
    assert "amount_median_vs_published" in gate
    unpublished = read_expectations(spark, settings).where(~F.col("published"))
    failed = unpublished.where(~F.col("success")).select("check", "table_version")
    assert [tuple(r) for r in failed.collect()] == [("amount_median_vs_published", None)]
    assert unpublished.select("compared_with_version").distinct().collect()[0][0] == harmless


def test_a_version_published_despite_a_failure_cannot_be_trained_on(spark, payments):
    settings, (_, harmless, _, lenient) = payments["settings"], payments["versions"]
    assert lenient > harmless  # fail_on_error false: published, and still reported
    assert payments["reports"]["lenient"].quality_failures
    path = settings.table_path(*GOLD_PAYMENTS_UNIFIED)
    assert read_table(spark, path, version=lenient).count() == 800
    assert failed_checks(spark, settings, GOLD_PAYMENTS_UNIFIED, lenient) == [
        "amount_median_vs_published"
    ]
    require_passed(spark, settings, GOLD_PAYMENTS_UNIFIED, harmless)  # the earlier one is fine
    with pytest.raises(DataQualityError, match="amount_median_vs_published"):
        train_model(spark, settings, "fraud")


def test_the_lake_check_fails_on_a_gold_version_published_despite_a_failure(payments, capsys):
    """`lakehouse check` (the hourly schedule's last task) exits 65 and names the check."""
    settings, lenient = payments["settings"], payments["versions"][-1]
    with pytest.raises(SystemExit) as exited:
        main(["check", "--lake", settings.lake_root, "--set", OVERRIDES[0]])
    failed = ["amount_median_vs_published"]
    out, err = capsys.readouterr()
    assert exited.value.code == EXIT_DATA_QUALITY, out + err
    (line,) = [x.split() for x in out.splitlines() if "gold/payments_unified" in x]
    assert line == ["FAIL", "gold/payments_unified", f"v{lenient}:", "failed", *failed], out
    assert "lake check failed: gold/payments_unified" in err
    assert "conservation" not in err  # no Bronze here: nothing to add up


def test_severity_settings_change_or_drop_a_check_and_must_name_a_real_one(tmp_path):
    def checks(severity):
        settings = make_settings(tmp_path, f"quality.severity={severity}")
        base = Baseline(
            3, 500, T0, {"src_account_type": 1.0, "merchant_category": 1.0}, {"amount": 42.0}
        )
        whole, new = build_checks(PAYMENTS_SUITE, settings, base, new_rows=500)
        return {c.name: c.severity for c in whole + new}

    default = checks("{}")
    assert default["amount_median_vs_published"] == "fail"
    assert default["src_account_type_nulls_vs_published"] == "warn"
    changed = checks(
        "{gold/payments_unified:amount_median_vs_published: warn, "
        "gold/payments_unified:hour_of_day_range: ignore}"
    )
    assert changed["amount_median_vs_published"] == "warn" and "hour_of_day_range" not in changed
    assert set(default) - set(changed) == {"hour_of_day_range"}
    with pytest.raises(ValueError, match="amount_mean"):
        checks("{gold/payments_unified:amount_mean: warn}")


# --- delivery: the real suite on Gold rows made here -------------------------------------

STAGED = Table("staging", "delivery_rows")


def delivery_rows(spark, first: int, n: int, *, unknown_zip_share=0.0, lost_warehouse=None):
    """Gold-shaped checkouts: four warehouses, zip codes known unless drawn unknown."""
    zip_known = f"rand({first}) >= {unknown_zip_share}"
    warehouse = "concat('W', id % 4)"
    if lost_warehouse is not None:
        warehouse = f"nullif({warehouse}, '{lost_warehouse}')"
    df = spark.range(first, first + n).selectExpr(
        "concat('r', id) AS record_id",
        "concat('s', id) AS session_id",
        "concat('c', id % 50) AS customer_id",
        "timestamp_millis(1704067200000 + id * 3600000) AS event_ts",
        f"CASE WHEN {zip_known} THEN cast(10000 + id % 900 AS string) END AS zip_code",
        f"{warehouse} AS warehouse_id",
        "id",
    )
    df = df.selectExpr(
        "record_id",
        "session_id",
        "customer_id",
        "event_ts",
        "to_date(event_ts) AS order_date",
        "dayofyear(event_ts) AS day_of_year",
        "weekday(event_ts) AS day_of_week",
        "hour(event_ts) AS hour_of_day",
        "weekday(event_ts) >= 5 AS is_weekend",
        "zip_code",
        "CASE WHEN zip_code IS NOT NULL THEN 'CA' END AS ship_state",
        "'STANDARD' AS shipping_method",
        "'UPS' AS carrier",
        "warehouse_id",
        "CASE WHEN zip_code IS NOT NULL AND warehouse_id IS NOT NULL "
        "THEN 50.0 + id % 700 END AS distance_km",
        "false AS is_remote_area",
        "zip_code IS NOT NULL AS is_known_zip",
        "cast(1 + id % 5 AS int) AS item_count",
        "cast(1 + id % 3 AS int) AS line_count",
        "0.5 + (id % 40) / 4.0 AS total_weight_kg",
        "cast(20 + id % 300 AS decimal(18,2)) AS order_value",
        "cast(2 + id % 4 AS int) AS promised_days",
        "false AS is_holiday",
        "cast(id % 30 AS int) AS days_to_next_holiday",
        "0 AS holidays_in_window",
        "3L AS session_event_count",
        "1L AS session_product_views",
        "1L AS session_add_to_carts",
        "60.0 AS session_duration_s",
        "'DELIVERED' AS delivery_status",
        "date_add(to_date(event_ts), 3) AS delivered_date",
        "3 AS delivery_days",
    )
    return df.withColumn("row_hash", F.sha2(F.to_json(F.struct(*df.columns)), 256)).select(
        *DELIVERY_FEATURES_COLUMNS
    )


def build_delivery(spark, settings, rows_df):
    """Stage ``rows_df`` as the build's input, then run the Gold step on it."""
    staged = settings.table_path(*STAGED)
    rows_df.write.format("delta").mode("overwrite").save(staged)
    spec = GoldSpec(
        step="gold",
        source="sessions",
        target=GOLD_DELIVERY_FEATURES,
        inputs=(STAGED,),
        build=lambda frames: frames[STAGED.key],
        keys=("record_id",),
    )
    return run_gold(spark, settings, spec)


@pytest.fixture(scope="module")
def delivery(spark, tmp_path_factory):
    """A lake whose gold/delivery_features was published from 400 ordinary rows."""
    settings = make_settings(tmp_path_factory.mktemp("delivery"))
    first = delivery_rows(spark, 0, 400)
    assert build_delivery(spark, settings, first).quality_failures == []
    return settings, first, gold_version(spark, settings, GOLD_DELIVERY_FEATURES)


def published_rows(spark, settings) -> int:
    return read_table(spark, settings.table_path(*GOLD_DELIVERY_FEATURES)).count()


@pytest.mark.parametrize(
    ("anomaly", "failed"),
    [
        (
            {"unknown_zip_share": 0.5},
            {"zip_code_nulls_vs_published", "distance_km_nulls_vs_published"},
        ),
        (
            {"lost_warehouse": "W2"},
            {"warehouse_id_nulls_vs_published", "distance_km_nulls_vs_published"},
        ),
    ],
    ids=["half_the_zip_codes_unknown", "a_warehouse_disappears"],
)
def test_delivery_batches_wrong_as_a_whole_are_not_published(spark, delivery, anomaly, failed):
    settings, first, published = delivery
    new = delivery_rows(spark, 400, 200, **anomaly)
    report = build_delivery(spark, settings, first.unionByName(new))
    assert {f.split(" ")[0] for f in report.quality_failures} == failed
    assert gold_version(spark, settings, GOLD_DELIVERY_FEATURES) == published
    assert published_rows(spark, settings) == 400


def test_a_shrinking_or_duplicated_build_is_not_published(spark, delivery):
    settings, first, published = delivery
    oldest_gone = first.where(F.col("event_ts") >= T0 + timedelta(hours=100))  # 300 rows left
    report = build_delivery(spark, settings, oldest_gone)
    assert [f.split(" ")[0] for f in report.quality_failures] == ["row_count_vs_published"]
    newest_gone = first.where(F.col("event_ts") < T0 + timedelta(hours=390))
    report = build_delivery(spark, settings, newest_gone)
    assert [f.split(" ")[0] for f in report.quality_failures] == ["freshness_vs_published"]
    report = build_delivery(spark, settings, first.unionByName(first.limit(5)))
    assert [f.split(" ")[0] for f in report.quality_failures] == ["record_id_unique"]
    assert gold_version(spark, settings, GOLD_DELIVERY_FEATURES) == published


def test_a_harmless_delivery_batch_is_published(spark, delivery):
    settings, first, published = delivery
    report = build_delivery(spark, settings, first.unionByName(delivery_rows(spark, 400, 200)))
    assert report.quality_failures == [] and report.quality_warnings == []
    assert gold_version(spark, settings, GOLD_DELIVERY_FEATURES) > published
    assert published_rows(spark, settings) == 600
