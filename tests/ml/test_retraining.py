"""The retraining policy: the drift step against the champion's training profile (PSI, KS),
recorded in audit/feature_drift, and live performance against the baseline."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from scipy.stats import ks_2samp

from lakehouse.gold.model_performance import SCHEMA as PERFORMANCE_SCHEMA
from lakehouse.io.delta import read_table
from lakehouse.ml.catalog import task_named
from lakehouse.ml.feature_drift import compare
from lakehouse.ml.lifecycle import live_check, retrain_by_policy
from lakehouse.ml.profile import build_profile, categorical_profile, ks_distance, numeric_profile
from lakehouse.ml.registry import alias_version
from lakehouse.ml.tracking import client_for
from lakehouse.tables import FEATURE_DRIFT, GOLD_DELIVERY_FEATURES, GOLD_MODEL_PERFORMANCE
from tests.ml.test_cli_models import invoke
from tests.support.gold import START, delivery_rows, write_gold

RNG = np.random.default_rng(7)


@pytest.mark.parametrize(
    "new",
    [
        RNG.normal(0, 1, 4000),
        RNG.normal(0.3, 1, 4000),
        RNG.normal(0, 2, 4000),
        RNG.exponential(1, 4000),
        RNG.poisson(3, 4000),  # ties everywhere
    ],
)
def test_ks_distance_is_the_exact_statistic_to_within_a_percentile(new):
    for train in (RNG.normal(0, 1, 20_000), RNG.poisson(3, 20_000)):
        profile = numeric_profile(pd.Series(train))
        assert abs(ks_distance(profile, new) - ks_2samp(train, new).statistic) <= 0.0101


def test_ks_distance_needs_numbers_and_the_training_percentiles():
    numbers = numeric_profile(pd.Series([1.0, 2.0, 3.0]))
    assert ks_distance(numbers, [1.0, 2.0, 3.0]) == pytest.approx(0.0, abs=0.01)
    assert ks_distance(numbers, [10.0, 20.0]) == 1.0
    assert ks_distance(numbers, [None, "x"]) is None  # nothing present to compare
    older = {k: v for k, v in numbers.items() if k != "quantiles"}  # a model trained before
    assert ks_distance(older, [1.0]) is None
    assert ks_distance(categorical_profile(pd.Series(["a", "b"])), ["a"]) is None


def test_compare_flags_what_moved_and_never_an_ignored_feature():
    n = 5000
    train = pd.DataFrame(
        {"km": RNG.uniform(5, 3000, n), "day": RNG.integers(1, 120, n), "method": "STANDARD"}
    )
    profile = build_profile(train, ["method"], np.zeros(n))
    same = pd.DataFrame(
        {"km": RNG.uniform(5, 3000, n), "day": RNG.integers(1, 120, n), "method": "STANDARD"}
    )
    assert not any(f.drifted for f in compare(profile, same, 0.25, 0.2))
    moved = same.assign(km=same["km"] * 3, day=same["day"] + 120, method="EXPRESS")
    found = {f.feature: f for f in compare(profile, moved, 0.25, 0.2, ignore=["day"])}
    assert found["km"].drifted and found["km"].psi > 0.25 and found["km"].ks > 0.5
    assert found["method"].drifted and found["method"].ks is None  # a category: PSI only
    assert found["day"].ks == 1.0 and found["day"].ignored and not found["day"].drifted


def drift_rows(spark, settings, table_version: int) -> pd.DataFrame:
    rows = read_table(spark, settings.table_path(*FEATURE_DRIFT)).toPandas()
    return rows[rows["table_version"] == table_version]


def performance(spark, settings, champion, mae: float, outcomes: int) -> None:
    """gold/model_performance holding one day of the champion's answers at ``mae``."""
    row = ("delivery", champion.name, int(champion.version), "online", dt.date(2024, 6, 1))
    figures = (outcomes, mae * outcomes, outcomes // 2, None, None, None, None)
    frame = spark.createDataFrame([(*row, *figures)], PERFORMANCE_SCHEMA)
    path = settings.table_path(*GOLD_MODEL_PERFORMANCE)
    frame.write.format("delta").mode("overwrite").save(path)


def test_the_policy_retrains_on_drift_or_poor_live_performance_only(
    spark, ml_settings, delivery_gold, tmp_path
):
    settings = ml_settings
    first = invoke(settings, "retrain", "delivery")
    assert first.exit_code == 0, first.output
    assert "retrain delivery  no champion yet" in first.output
    assert "promote delivery  v1 is champion" in first.output

    # new checkouts after the training data, alike: measured, recorded, no retraining
    later = START + dt.timedelta(days=125)
    alike = write_gold(
        spark, settings, GOLD_DELIVERY_FEATURES, delivery_rows(400, 5, later), mode="append"
    )
    lines = "\n".join(retrain_by_policy(spark, settings).lines)
    assert (
        f"drift   delivery  gold/delivery_features@v{alike}: 400 rows newer than delivery_date "
        f"v1's training data (gold/delivery_features@v{delivery_gold}): no feature drifted"
    ) in lines
    assert (
        "train   delivery  skipped: the champion holds (no feature drifted, no live outcomes yet)"
    ) in lines
    recorded = drift_rows(spark, settings, alike)
    assert len(recorded) == len(task_named("delivery").feature_spec(settings).columns)
    assert set(recorded["model_version"]) == {1} and set(recorded["rows"]) == {400}
    assert not recorded["drifted"].any()
    (calendar,) = recorded[recorded["feature"] == "day_of_year"].itertuples()
    assert calendar.ignored and calendar.ks > 0.9  # the calendar moved on: never drift
    # the same version again: measured again, recorded once
    retrain_by_policy(spark, settings)
    assert len(drift_rows(spark, settings, alike)) == len(recorded)

    # parcels sent three times as far: distance drifted, a challenger meets the gate
    farther = delivery_rows(400, 6, later + dt.timedelta(days=10))
    farther["distance_km"] *= 3
    moved = write_gold(spark, settings, GOLD_DELIVERY_FEATURES, farther, mode="append")
    metrics = tmp_path / "metrics"
    ran = invoke(settings, "retrain", last=("--set", f"monitoring.textfile_dir={metrics}"))
    assert ran.exit_code == 0, ran.output
    lines = ran.output
    assert "800 rows newer than delivery_date v1's training data" in lines
    assert "distance_km (PSI " in lines
    assert "retrain delivery  1 feature drifted" in lines
    assert "train   delivery_date v2" in lines and "promote delivery" in lines
    (drifted,) = drift_rows(spark, settings, moved).query("drifted").itertuples()
    assert drifted.feature == "distance_km" and drifted.psi >= 0.25
    # the job's metrics carry the check
    exported = {
        (s.name, s.labels.get("feature"), s.labels.get("statistic")): (s.labels, s.value)
        for family in text_string_to_metric_families(
            (metrics / "lakehouse_retrain_local_all.prom").read_text()
        )
        for s in family.samples
    }
    labels, value = exported[("lakehouse_gold_drifted_features", None, None)]
    assert value == 1 and (labels["model"], labels["version"]) == ("delivery_date", "1")
    _, value = exported[("lakehouse_gold_feature_distance", "distance_km", "psi")]
    assert value == pytest.approx(drifted.psi)

    # the champion's live answers: too few outcomes to judge, then worse than the baseline
    client = client_for(settings)
    champion = alias_version(client, "delivery_date", "champion")
    baseline = client.get_run(champion.run_id).data.metrics["baseline_test_mae"]
    task = task_named("delivery")
    performance(spark, settings, champion, baseline + 1.0, outcomes=150)
    few = live_check(settings, task, champion, client)
    assert (few.outcomes, few.judged, few.below_baseline) == (150, False, False)
    performance(spark, settings, champion, baseline - 0.1, outcomes=500)
    good = live_check(settings, task, champion, client)
    assert good.judged and not good.below_baseline and good.live == pytest.approx(baseline - 0.1)
    performance(spark, settings, champion, baseline + 1.0, outcomes=500)
    write_gold(
        spark,
        settings,
        GOLD_DELIVERY_FEATURES,
        delivery_rows(50, 7, later + dt.timedelta(days=20)),
        mode="append",
    )
    lines = "\n".join(retrain_by_policy(spark, settings).lines)
    assert f"live    delivery  delivery_date v{champion.version}: 500 outcomes: live mae" in lines
    assert "retrain delivery  live mae below the baseline's" in lines
    assert "promote delivery" in lines
