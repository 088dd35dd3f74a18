"""Batch scoring (``lakehouse score``) uses the served model version and agrees with the
service's fast path on the same Gold rows."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable

from lakehouse.cli import cli
from lakehouse.ml import scoring
from lakehouse.ml.catalog import TASKS
from lakehouse.ml.registry import CHAMPION, alias_version
from lakehouse.ml.scoring import score_table
from lakehouse.ml.tracking import client_for
from lakehouse.tables import GOLD_DELIVERY_PREDICTIONS, GOLD_FRAUD_SCORES, INFERENCE_LOG
from serving.holder import load_version
from serving.predict import round_half_up_days


def _read(settings, table) -> pd.DataFrame:
    return DeltaTable(settings.table_path(*table)).to_pandas()


def _served(settings, task_name: str, gold: pd.DataFrame) -> np.ndarray:
    """The service's output (its fast path) for Gold rows, as the online twins would give."""
    task = TASKS[task_name]
    name = task.task_settings(settings).registered_name
    model = load_version(task, settings, alias_version(client_for(settings), name, CHAMPION))
    assert model.fast is not None
    columns = task.feature_spec(settings).columns
    rows = gold[columns].astype(object).where(gold[columns].notna(), None).to_dict("records")
    values, _ = model.predict(rows)
    return values


def test_delivery_batch_predictions_equal_the_service(spark, serving_lake):
    settings = serving_lake.settings
    result = score_table(spark, settings, "delivery")
    assert not result.skipped and result.rows == 1500
    assert (result.model_version, result.source, result.source_version) == (
        serving_lake.delivery_champion,
        "gold/delivery_features",
        0,
    )
    scored = _read(settings, GOLD_DELIVERY_PREDICTIONS)
    assert set(scored["model_name"]) == {"delivery_date"}
    assert set(scored["model_version"]) == {serving_lake.delivery_champion}
    assert set(scored["source_table_version"]) == {0}
    gold = DeltaTable(settings.table_path("gold", "delivery_features")).to_pandas()
    expected = pd.Series(_served(settings, "delivery", gold), index=gold["record_id"])
    got = scored.set_index("record_id")["predicted_delivery_days"].reindex(expected.index)
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())
    days = scored["predicted_delivery_days"].map(lambda d: timedelta(days=round_half_up_days(d)))
    order_dates = pd.to_datetime(scored["event_ts"], utc=True).dt.date
    assert (scored["predicted_delivery_date"] == order_dates + days).all()

    again = score_table(spark, settings, "delivery")
    assert again.skipped and again.output_version == result.output_version


def test_fraud_scoring_through_the_cli(spark, serving_lake):
    settings = serving_lake.settings
    args = ["score", "fraud", "--lake", settings.lake_root]
    first = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    version = serving_lake.fraud_champion
    expected_line = f"gold/payments_unified@v0 by fraud v{version} -> gold/fraud_scores@v0"
    assert f"{expected_line} (6000 rows)" in first.output
    scored = _read(settings, GOLD_FRAUD_SCORES)
    threshold = float(scored["decision_threshold"].iloc[0])
    assert (scored["is_fraud"] == (scored["fraud_probability"] >= threshold)).all()
    gold = DeltaTable(settings.table_path("gold", "payments_unified")).to_pandas()
    expected = pd.Series(_served(settings, "fraud", gold), index=gold["transaction_id"])
    got = scored.set_index("transaction_id")["fraud_probability"].reindex(expected.index)
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())
    second = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert second.exit_code == 0 and "unchanged" in second.output

    unknown = CliRunner().invoke(cli, [*args, "--model-version", "99"])
    assert unknown.exit_code != 0 and "no version 99" in unknown.output


def test_batch_predictions_are_logged_once_per_model_and_gold_version(
    spark, serving_lake, monkeypatch
):
    settings = serving_lake.settings
    score_table(spark, settings, "delivery")  # a no-op when the test above ran first
    champion = serving_lake.delivery_champion
    logged = _read(settings, INFERENCE_LOG)
    logged = logged[logged["model_name"] == "delivery_date"]
    delivery = logged[(logged["source"] == "batch") & (logged["model_version"] == int(champion))]
    assert len(delivery) == 1500 and delivery["record_id"].is_unique
    assert set(delivery["request_id"]) == {
        f"score:delivery_date:v{champion}:gold/delivery_features@v0"
    }
    assert set(delivery["model_alias"]) == {CHAMPION} and delivery["decision"].isna().all()
    assert delivery["features_hash"].nunique() > 1400  # one per distinct feature row
    predictions = _read(settings, GOLD_DELIVERY_PREDICTIONS).set_index("record_id")
    got = delivery.set_index("record_id")["prediction"].reindex(predictions.index)
    np.testing.assert_array_equal(got.to_numpy(), predictions["predicted_delivery_days"])

    # killed after the log's append, before the predictions' overwrite: run again, and the
    # rows are not logged twice
    challenger = serving_lake.delivery_challenger

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(scoring, "overwrite_with_sources", killed)
    with pytest.raises(KeyboardInterrupt):
        score_table(spark, settings, "delivery", model_version=challenger)
    monkeypatch.undo()
    rerun = score_table(spark, settings, "delivery", model_version=challenger)
    assert not rerun.skipped
    logged = _read(settings, INFERENCE_LOG)
    logged = logged[logged["model_name"] == "delivery_date"]
    by_challenger = logged[logged["model_version"] == int(challenger)]
    assert len(by_challenger) == 1500 and by_challenger["model_alias"].isna().all()
    # the champion's predictions back for the other tests; its rows are already logged
    score_table(spark, settings, "delivery")
    after = _read(settings, INFERENCE_LOG)
    assert (after["model_name"] == "delivery_date").sum() == len(logged) == 3000
