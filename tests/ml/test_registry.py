"""The promotion gate, forced promotion, rollback, reproduction and maintenance."""

from __future__ import annotations

import json

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from lakehouse.maintenance import maintain
from lakehouse.ml.promotion import PromotionError, PromotionRefusedError, promote, rollback
from lakehouse.ml.registry import CHALLENGER, CHAMPION, EVENTS_TAG, alias_version
from lakehouse.ml.reproduce import ReproductionError, reproduce
from lakehouse.ml.tracking import client_for
from lakehouse.ml.training import train_model
from lakehouse.tables import GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED
from tests.support.gold import delivery_rows, fraud_rows, write_gold

WINDOWS = {"1h": 3600}


def _weak(settings):
    """The same settings with only a heavily regularised linear model: a worse challenger."""
    weak = settings.model_copy(deep=True)
    weak.ml.delivery.candidates = {"linear": {"alpha": 1e5}}
    return weak


def _champion(settings) -> str:
    return str(alias_version(client_for(settings), "delivery_date", CHAMPION).version)


def test_gate_accepts_better_refuses_worse_force_is_recorded_and_rollback(
    spark, ml_settings, delivery_gold
):
    weak = train_model(spark, _weak(ml_settings), "delivery")
    gate, event = promote(spark, ml_settings, "delivery_date")
    assert event["event"] == "promotion" and gate.champion_version is None
    assert _champion(ml_settings) == weak.model_version
    assert alias_version(client_for(ml_settings), "delivery_date", CHALLENGER) is None

    strong = train_model(spark, ml_settings, "delivery")
    gate, event = promote(spark, ml_settings, "delivery")
    assert gate.challenger_score < gate.champion_score - ml_settings.ml.delivery.promotion_margin
    assert _champion(ml_settings) == strong.model_version

    worse = train_model(spark, _weak(ml_settings), "delivery")
    with pytest.raises(PromotionRefusedError) as refused:
        promote(spark, ml_settings, "delivery_date")
    message = str(refused.value)
    assert f"challenger v{worse.model_version}" in message
    assert f"champion v{strong.model_version}" in message
    assert _champion(ml_settings) == strong.model_version

    gate, event = promote(spark, ml_settings, "delivery_date", force=True)
    assert event["event"] == "forced_promotion" and not event["passed_gate"]
    assert _champion(ml_settings) == worse.model_version
    events = json.loads(
        client_for(ml_settings).get_registered_model("delivery_date").tags[EVENTS_TAG]
    )
    assert [e["event"] for e in events] == ["promotion", "promotion", "forced_promotion"]

    assert rollback(ml_settings, "delivery_date") == (worse.model_version, strong.model_version)
    assert _champion(ml_settings) == strong.model_version
    assert rollback(ml_settings, "delivery_date") == (strong.model_version, weak.model_version)
    with pytest.raises(PromotionError, match="no previous champion"):
        rollback(ml_settings, "delivery_date")


def test_promote_without_challenger_is_a_clear_error(spark, ml_settings, delivery_gold):
    with pytest.raises(PromotionError, match="has no challenger"):
        promote(spark, ml_settings, "delivery_date")
    with pytest.raises(PromotionError, match="unknown model"):
        promote(spark, ml_settings, "no_such_model")


def test_a_promotion_interrupted_after_the_alias_moved_is_finished_by_the_retry(
    spark, ml_settings, delivery_gold
):
    """The champion alias moved and the run stopped (killed, the tracking server gone) before
    the challenger alias was removed and the event logged: the retry finishes it rather than
    failing on every try, and rollback still finds the previous champion."""
    client = client_for(ml_settings)
    first = train_model(spark, _weak(ml_settings), "delivery")
    promote(spark, ml_settings, "delivery_date")

    second = train_model(spark, ml_settings, "delivery")
    client.set_registered_model_alias("delivery_date", CHAMPION, second.model_version)
    gate, event = promote(spark, ml_settings, "delivery_date")
    assert (event["event"], event["version"]) == ("promotion_completed", second.model_version)
    assert event["previous"] == first.model_version and event["passed_gate"] is None
    assert gate.challenger_version == second.model_version and gate.rows > 0
    assert alias_version(client, "delivery_date", CHALLENGER) is None

    # nothing left to finish: a retry now is the usual clear error, and so is a champion set
    # by hand outside the gate (no challenger to promote)
    with pytest.raises(PromotionError, match="has no challenger"):
        promote(spark, ml_settings, "delivery_date")
    client.set_registered_model_alias("delivery_date", CHAMPION, first.model_version)
    with pytest.raises(PromotionError, match="has no challenger"):
        promote(spark, ml_settings, "delivery_date")
    client.set_registered_model_alias("delivery_date", CHAMPION, second.model_version)
    assert rollback(ml_settings, "delivery_date") == (second.model_version, first.model_version)


def test_reproduce_after_appends_merges_and_an_overwrite_and_maintain_keeps_it(
    spark, ml_settings, delivery_gold
):
    path = ml_settings.table_path(*GOLD_DELIVERY_FEATURES)
    run = train_model(spark, ml_settings, "delivery")
    promote(spark, ml_settings, "delivery_date")

    # the table moves on: an append, a merge that changes labels, a whole overwrite
    write_gold(
        spark, ml_settings, GOLD_DELIVERY_FEATURES, delivery_rows(200, seed=5), mode="append"
    )
    updates = spark.read.format("delta").load(path).limit(50)
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(updates.alias("s"), "t.record_id = s.record_id")
        .whenMatchedUpdate(set={"delivery_days": F.col("s.delivery_days") + 3})
        .execute()
    )
    write_gold(spark, ml_settings, GOLD_DELIVERY_FEATURES, delivery_rows(800, seed=6))
    # a challenger trained on the overwritten table
    challenger = train_model(spark, ml_settings, "delivery")

    # an unprotected table with an outdated version, to prove VACUUM really deletes
    payments_path = ml_settings.table_path(*GOLD_PAYMENTS_UNIFIED)
    write_gold(spark, ml_settings, GOLD_PAYMENTS_UNIFIED, fraud_rows(50, 1, WINDOWS))
    write_gold(spark, ml_settings, GOLD_PAYMENTS_UNIFIED, fraud_rows(50, 2, WINDOWS))

    results = {r.table: r for r in maintain(spark, ml_settings)}
    gold = results[GOLD_DELIVERY_FEATURES.key]
    assert delivery_gold in gold.protected
    assert any("@champion" in reason for reason in gold.protected[delivery_gold])
    assert challenger.lineage.version in gold.protected  # the challenger's data is kept too
    assert gold.retention_hours >= 1
    assert gold.compacted_files > 0
    unprotected = results[GOLD_PAYMENTS_UNIFIED.key]
    assert unprotected.protected == {} and unprotected.deleted_files > 0
    with pytest.raises(Exception):  # noqa: B017 - Spark raises a Py4J error for lost files
        spark.read.format("delta").option("versionAsOf", 0).load(payments_path).collect()

    report = reproduce(spark, ml_settings, run.run_id)
    assert report.ok, report.render()
    checked = {c.name for c in report.checks}
    assert {"row count", "content hash", "test_mae", "validation_rmse"} <= checked


def test_reproduce_reports_a_changed_table_version(spark, ml_settings, delivery_gold):
    run = train_model(spark, ml_settings, "delivery")
    # rewrite history: replace the table's folder with different rows at the same versions
    import shutil

    path = ml_settings.table_path(*GOLD_DELIVERY_FEATURES)
    shutil.rmtree(path)
    write_gold(spark, ml_settings, GOLD_DELIVERY_FEATURES, delivery_rows(100, seed=0))
    write_gold(spark, ml_settings, GOLD_DELIVERY_FEATURES, delivery_rows(1500, seed=11))

    report = reproduce(spark, ml_settings, run.run_id)
    assert not report.ok
    failed = {c.name for c in report.checks if not c.ok}
    assert "content hash" in failed


def test_reproduce_unknown_run(spark, ml_settings):
    with pytest.raises(ReproductionError, match="no run"):
        reproduce(spark, ml_settings, "0" * 32)


def test_maintain_keeps_the_data_of_a_rollback_target(spark, ml_settings, delivery_gold):
    path = ml_settings.table_path(*GOLD_DELIVERY_FEATURES)
    first = train_model(spark, ml_settings, "delivery")
    promote(spark, ml_settings, "delivery_date")
    write_gold(spark, ml_settings, GOLD_DELIVERY_FEATURES, delivery_rows(900, seed=8))
    second = train_model(spark, _weak(ml_settings), "delivery")
    promote(spark, ml_settings, "delivery_date", force=True)
    # the first champion holds no alias now, but `rollback` can bring it back
    assert _champion(ml_settings) == second.model_version

    results = {r.table: r for r in maintain(spark, ml_settings)}
    kept = results[GOLD_DELIVERY_FEATURES.key].protected
    assert kept[first.lineage.version] == [f"delivery_date v{first.model_version} rollback target"]
    assert kept[second.lineage.version] == [f"delivery_date v{second.model_version} @champion"]

    assert rollback(ml_settings, "delivery_date") == (second.model_version, first.model_version)
    rows = spark.read.format("delta").option("versionAsOf", first.lineage.version).load(path)
    assert rows.count() == first.lineage.row_count
    report = reproduce(spark, ml_settings, first.run_id)
    assert report.ok, report.render()
