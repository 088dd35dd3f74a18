"""The real steps on real Delta tables: generated landing zone, reruns, late files, time travel.

The generator's manifest is the independent truth the lake is checked against.
"""

from __future__ import annotations

import json
import math
import os
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse.config import load_settings
from lakehouse.generate import generate_sessions_landing, holiday_years, write_reference_data
from lakehouse.io.delta import latest_version, read_table, recorded_source_versions
from lakehouse.io.ledger import ledger_totals, read_ledger
from lakehouse.pipeline import run_all
from lakehouse.tables import (
    ALL_TABLES,
    BATCH_LEDGER,
    BRONZE_SESSIONS,
    GOLD_DELIVERY_FEATURES,
    QUARANTINE_SESSIONS,
    ROW_WARNINGS,
    SILVER_SESSIONS,
)
from tests.support.lake import raw_zone

pytestmark = pytest.mark.integration

DOCUMENTS = 2_500
QUARANTINING = {
    "missing_created_ts": ("created_null", "created_missing"),
    "invalid_created_ts": ("created_unparseable",),
}


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """A landing zone, and a lake after the first run."""
    root = tmp_path_factory.mktemp("sessions")
    landing = root / "landing"
    write_reference_data(landing, seed=5, years=holiday_years(date(2024, 1, 1), 365))
    generate_sessions_landing(
        landing, documents=DOCUMENTS, seed=5, anomaly_rate=0.03, docs_per_file=300, workers=1
    )
    manifest = json.loads((landing / "_manifest" / "sessions.json").read_text())
    settings = load_settings(
        "local",
        landing=str(landing),
        lake=str(root / "lake"),
        overrides=["privacy.hmac_key=integration-test-key"],
    )
    first = run_all(spark, settings)
    return {"settings": settings, "manifest": manifest, "landing": landing, "first": first}


def table(spark, settings, t):
    return read_table(spark, settings.table_path(*t))


def versions(spark, settings):
    return {t.key: latest_version(spark, settings.table_path(*t)) for t in ALL_TABLES}


def test_records_read_match_the_manifest_and_bronze(spark, lake):
    settings, manifest = lake["settings"], lake["manifest"]
    totals = manifest["totals"]
    ledger = ledger_totals(spark, settings.table_path(*BATCH_LEDGER), "bronze", "sessions")
    bronze_df = table(spark, settings, BRONZE_SESSIONS)
    assert ledger["records_read"] == totals["ingestible_records"] == bronze_df.count()
    assert ledger["files_read"] == totals["ingestible_files"]
    assert bronze_df.where("is_malformed").count() == totals["malformed_lines"]
    # in-flight uploads were never read
    names = [Path(r[0]).name for r in bronze_df.select("_source_file").distinct().collect()]
    assert names and not [n for n in names if n.startswith(("_", "."))]


def test_conservation_and_one_row_per_record(spark, lake):
    settings, manifest = lake["settings"], lake["manifest"]
    bronze_rows = table(spark, settings, BRONZE_SESSIONS).count()
    silver_df = table(spark, settings, SILVER_SESSIONS)
    quarantined = table(spark, settings, QUARANTINE_SESSIONS).count()
    silver = ledger_totals(spark, settings.table_path(*BATCH_LEDGER), "silver", "sessions")
    assert bronze_rows == silver_df.count() + quarantined + silver["duplicates_removed"]
    warned = read_table(spark, settings.table_path(*ROW_WARNINGS)).where("source = 'sessions'")
    assert warned.count() == silver["warned"]
    assert silver_df.count() == silver_df.select("record_id").distinct().count()
    # every record id that had at least one valid export is in Silver
    by_record = manifest["anomalies_by_record"]
    lost_records = sum(by_record[a] for codes in QUARANTINING.values() for a in codes)
    assert silver_df.count() == manifest["totals"]["distinct_record_ids"] - lost_records


def test_quarantine_reasons_match_the_injected_anomalies(spark, lake):
    settings, anomalies = lake["settings"], lake["manifest"]["anomalies"]
    counts = dict(table(spark, settings, QUARANTINE_SESSIONS).groupBy("reason").count().collect())
    expected = {reason: sum(anomalies[a] for a in codes) for reason, codes in QUARANTINING.items()}
    expected["malformed_json"] = anomalies["malformed_line"]
    assert counts == {k: v for k, v in expected.items() if v}
    sample = table(spark, settings, QUARANTINE_SESSIONS).first()
    assert sample["raw_record"] and sample["source_file"] and sample["record_index"] >= 1


def test_no_table_holds_raw_pii_and_bronze_keeps_it_encrypted(spark, lake):
    settings = lake["settings"]
    bronze_df = raw_zone(spark, settings, BRONZE_SESSIONS)  # as Silver reads it: decrypted
    pii = {
        r[0]
        for col in (
            "source.customer.email",
            "source.customer.phone",
            "source.device.ipAddress",
            "source.shipping.address.line1",
        )
        for r in bronze_df.select(col).where(F.col(col).isNotNull()).distinct().collect()
    }
    assert len(pii) > 100
    # the raw zones too: what a reader of Bronze or quarantine sees without the key
    for t in (BRONZE_SESSIONS, QUARANTINE_SESSIONS, SILVER_SESSIONS, GOLD_DELIVERY_FEATURES):
        rows = table(spark, settings, t).select(F.to_json(F.struct("*"))).collect()
        text = "\n".join(r[0] for r in rows)
        leaked = [v for v in pii if len(v) > 4 and v in text]
        assert leaked == [], f"{t.key} holds raw PII"
    silver_df = table(spark, settings, SILVER_SESSIONS)
    assert silver_df.where(F.length("zip_code") != 5).count() == 0
    assert silver_df.where(F.col("event_ts").isNull()).count() == 0


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def test_gold_rows_are_right(spark, lake):
    """Recompute every Gold row's features in plain Python from Silver and the reference CSVs."""
    settings, landing = lake["settings"], lake["landing"]
    gold = {r["record_id"]: r for r in table(spark, settings, GOLD_DELIVERY_FEATURES).collect()}
    checkouts = table(spark, settings, SILVER_SESSIONS).where("event_type = 'CHECKOUT_COMPLETED'")
    assert len(gold) == checkouts.count() > 100
    zips = {z["zip_code"]: z for z in _csv(landing / "reference" / "zip_codes.csv")}
    warehouses = {w["warehouse_id"]: w for w in _csv(landing / "reference" / "warehouses.csv")}
    delivered = 0
    for silver in checkouts.collect():
        row = gold[silver["record_id"]]
        ts = silver["event_ts"]
        assert row["day_of_year"] == ts.timetuple().tm_yday
        assert row["day_of_week"] == ts.weekday()
        assert row["hour_of_day"] == ts.hour
        assert row["zip_code"] == silver["zip_code"]
        if silver["delivered_ts"] is not None:
            delivered += 1
            assert row["delivery_days"] == (silver["delivered_ts"].date() - ts.date()).days
        else:
            assert row["delivery_days"] is None
        z, w = zips.get(silver["zip_code"]), warehouses.get(silver["warehouse_id"])
        if z and w:
            expected = haversine_km(
                float(w["latitude"]),
                float(w["longitude"]),
                float(z["latitude"]),
                float(z["longitude"]),
            )
            assert row["distance_km"] == pytest.approx(expected, abs=0.01)
        else:
            assert row["distance_km"] is None
        items = silver["cart_items"] or []
        if silver["cart_items"] is not None:
            assert row["item_count"] == sum(i["quantity"] or 0 for i in items)
            value = sum((i["quantity"] or 0) * float(i["unit_price"] or 0) for i in items)
            assert row["order_value"] == pytest.approx(value, abs=0.011)
    assert delivered > 50


def _csv(path: Path) -> list[dict]:
    import csv

    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_rerun_on_unchanged_input_changes_no_table(spark, lake):
    settings = lake["settings"]
    before = versions(spark, settings)
    reports = run_all(spark, settings)
    assert versions(spark, settings) == before
    assert all(not r.batches for r in reports)


def _write_late(landing: Path, name: str, lines: list[str], after_ms: int) -> None:
    path = landing / "sessions" / "late" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, ns=(after_ms * 1_000_000,) * 2)


def _last_silver_batch(spark, settings) -> dict:
    ledger = read_ledger(spark, settings.table_path(*BATCH_LEDGER))
    return ledger.where("step = 'silver'").orderBy(F.desc("batch_id")).first()["metrics"]


def test_late_files_rename_and_reexport_then_time_travel(spark, lake):
    """Later arrivals: a new checkout, an exact duplicate, a broken line and an in-flight upload
    renamed into place; then the new checkout's re-export once it was delivered."""
    settings, landing, manifest = lake["settings"], lake["landing"], lake["manifest"]
    silver_path = settings.table_path(*SILVER_SESSIONS)
    gold_path = settings.table_path(*GOLD_DELIVERY_FEATURES)
    newest_ms = max(f["mtime_ms"] for f in manifest["files"])
    bronze_df = raw_zone(spark, settings, BRONZE_SESSIONS)
    template = next(
        json.loads(r["raw_record"])
        for r in bronze_df.where("NOT is_malformed AND source.shipping IS NOT NULL")
        .orderBy("record_id")
        .limit(20)
        .collect()
    )
    doc = dict(
        template.get("_source", template), id="late-checkout", delivery={"status": "IN_TRANSIT"}
    )
    created_ms = 1_731_880_381_293
    doc["createdDateTime"] = created_ms
    duplicate = (
        bronze_df.where("NOT is_malformed AND record_id IS NOT NULL").orderBy("record_id").first()
    )
    in_flight = next(f for f in manifest["files"] if f["in_flight"])
    staged = landing / in_flight["path"]
    staged.rename(staged.with_name(staged.name.lstrip("_.")))
    _write_late(
        landing,
        "export-late-1.ndjson",
        [json.dumps(doc), duplicate["raw_record"], '{"id": "broken"'],
        newest_ms + 60_000,
    )
    silver_before = latest_version(spark, silver_path)

    run_all(spark, settings)

    batch = _last_silver_batch(spark, settings)
    assert batch["bronze_rows"] == 3 + in_flight["records"]
    assert batch["quarantined"] >= 1
    assert batch["silver_inserted"] >= 2  # the late checkout and the renamed upload's records
    assert (
        batch["bronze_rows"]
        == batch["silver_inserted"] + batch["quarantined"] + batch["duplicates_removed"]
    )
    gold_undelivered = latest_version(spark, gold_path)

    doc["delivery"] = {"status": "DELIVERED", "deliveredDateTime": created_ms + 3 * 86_400_000}
    _write_late(landing, "export-late-2.ndjson", [json.dumps(doc)], newest_ms + 120_000)
    run_all(spark, settings)

    batch = _last_silver_batch(spark, settings)
    assert (batch["bronze_rows"], batch["silver_updated"], batch["silver_inserted"]) == (1, 1, 0)
    assert batch["duplicates_removed"] == 1  # the superseded export
    # Gold moved by one version and says which Silver version it was built from
    assert latest_version(spark, gold_path) == gold_undelivered + 1
    assert recorded_source_versions(spark, gold_path)["silver/sessions"] == latest_version(
        spark, silver_path
    )
    late = F.col("record_id") == "late-checkout"
    now = read_table(spark, gold_path).where(late).first()
    then = read_table(spark, gold_path, version=gold_undelivered).where(late).first()
    assert (then["delivery_days"], now["delivery_days"]) == (None, 3)
    assert read_table(spark, silver_path, version=silver_before).where(late).count() == 0
    sql = spark.sql(
        f"SELECT count(*) FROM delta.`{gold_path}` VERSION AS OF {gold_undelivered}"
    ).first()[0]
    assert sql == read_table(spark, gold_path, version=gold_undelivered).count()
    history = (
        spark.sql(f"DESCRIBE HISTORY delta.`{gold_path}`").where("operation = 'MERGE'").first()
    )
    assert history["operationMetrics"]["numTargetRowsUpdated"] == "1"


def test_generated_delivery_signal_reaches_gold(spark, lake):
    """Sanity of the whole chain: faster methods deliver sooner on average."""
    settings = lake["settings"]
    means = dict(
        table(spark, settings, GOLD_DELIVERY_FEATURES)
        .where("delivery_days IS NOT NULL")
        .groupBy("shipping_method")
        .agg(F.avg("delivery_days"))
        .collect()
    )
    assert means["OVERNIGHT"] < means["STANDARD"]
