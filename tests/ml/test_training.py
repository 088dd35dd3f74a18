"""Training on small Gold: registered versions with lineage, models beat their baselines."""

from __future__ import annotations

import json

import mlflow
import pytest

from lakehouse.ml.datasets import InsufficientDataError, time_split
from lakehouse.ml.registry import CHALLENGER, alias_version, load_model, table_versions_of
from lakehouse.ml.tracking import client_for
from lakehouse.ml.training import train_model
from lakehouse.tables import GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED
from tests.support.gold import delivery_rows, write_gold


def test_delivery_training_registers_a_challenger_with_lineage(spark, ml_settings, delivery_gold):
    result = train_model(spark, ml_settings, "delivery")
    client = client_for(ml_settings)

    version = alias_version(client, "delivery_date", CHALLENGER)
    assert str(version.version) == result.model_version
    assert table_versions_of(version) == {
        GOLD_DELIVERY_FEATURES.key: delivery_gold,
        "silver/synthetic": 3,
    }
    assert version.tags["lineage.row_count"] == "1500"
    assert version.tags["lineage.content_hash"] == result.lineage.content_hash

    run = client.get_run(result.run_id)
    assert run.data.params["table_version"] == str(delivery_gold)
    assert run.data.params["source.silver/synthetic"] == "3"
    assert run.data.params["git_commit"]
    assert run.data.params["config_hash"] == ml_settings.fingerprint()
    dataset = run.inputs.dataset_inputs[0].dataset
    source = json.loads(dataset.source)
    assert dataset.source_type == "delta_table"
    assert source["path"] == ml_settings.table_path(*GOLD_DELIVERY_FEATURES)
    # (MLflow leaves the version out of the source when it is 0, hence a fixture at v1)
    assert source["delta_table_version"] == delivery_gold == 1
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert artifacts == {"plots/residuals.png", "plots/feature_importance.png"}

    # the model beats the promised-service-level baseline on every metric
    metrics = run.data.metrics
    assert metrics["test_mae"] < metrics["baseline_test_mae"]
    assert metrics["test_rmse"] < metrics["baseline_test_rmse"]
    assert metrics["test_within_1d"] > metrics["baseline_test_within_1d"]
    # the primary metric's bootstrap interval, around it
    assert metrics["test_mae_ci_low"] < metrics["test_mae"] < metrics["test_mae_ci_high"]
    assert "test primary metric: " in result.summary() and "95% CI" in result.summary()

    # the registered model loads through skops and predicts like the trained one
    model = load_model("delivery_date", result.model_version)
    rows = result.evaluation.model
    assert type(model.named_steps["model"]) is type(rows.named_steps["model"])


def test_fraud_training_uses_mature_labels_and_beats_the_baseline(spark, ml_settings, fraud_gold):
    # immature rows carry no trustworthy label: add some, all "fraud", to prove they are ignored
    from tests.support.gold import fraud_rows

    young = fraud_rows(300, seed=9, windows=ml_settings.payments.velocity_windows_s)
    young["label_is_mature"] = False
    young["fraud_flag"] = True
    version = write_gold(spark, ml_settings, GOLD_PAYMENTS_UNIFIED, young, mode="append")

    result = train_model(spark, ml_settings, "fraud")

    assert result.lineage.version == version
    assert result.lineage.row_count == 6000
    metrics = mlflow.get_run(result.run_id).data.metrics
    assert metrics["test_pr_auc"] > metrics["baseline_test_pr_auc"]
    assert metrics["test_roc_auc"] > 0.8
    # resampled within each class: the interval of a ranking metric is defined
    assert 0 < metrics["test_pr_auc_ci_low"] < metrics["test_pr_auc"]
    assert metrics["test_pr_auc"] < metrics["test_pr_auc_ci_high"] <= 1
    for name in ("precision", "recall", "f1", "recall_at_fpr"):
        assert 0.0 <= metrics[f"test_{name}"] <= 1.0
    threshold = float(
        alias_version(client_for(ml_settings), "fraud", CHALLENGER).tags["decision_threshold"]
    )
    assert 0.0 < threshold < 1.0
    artifacts = {a.path for a in client_for(ml_settings).list_artifacts(result.run_id, "plots")}
    assert {"plots/pr_curve.png", "plots/confusion_matrix.png"} <= artifacts


def test_time_split_keeps_the_future_out_of_training():
    frame = delivery_rows(1000, seed=3).sort_values(["event_ts", "record_id"])
    split = time_split(frame.reset_index(drop=True), "event_ts", 0.15, 0.15)

    assert split.train["event_ts"].max() < split.validation["event_ts"].min()
    assert split.validation["event_ts"].max() < split.test["event_ts"].min()
    assert len(split.train) + len(split.validation) + len(split.test) == 1000
    assert 650 <= len(split.train) <= 750


def test_too_little_data_is_a_clear_error(spark, ml_settings):
    write_gold(spark, ml_settings, GOLD_DELIVERY_FEATURES, delivery_rows(60, seed=4))
    with pytest.raises(InsufficientDataError, match="min_training_rows"):
        train_model(spark, ml_settings, "delivery")
