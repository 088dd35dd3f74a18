"""Bootstrap intervals of test metrics and of the gate's improvement (no Spark, no registry)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, mean_absolute_error

from lakehouse.ml.evaluation import Interval, bootstrap_interval
from lakehouse.ml.promotion import GateResult

BOOT = {"resamples": 400, "confidence": 0.95, "seed": 7}


def mae(y, predicted) -> float:
    return float(mean_absolute_error(y, predicted))


def test_an_interval_holds_its_estimate_and_narrows_with_more_rows():
    rng = np.random.default_rng(1)
    widths = []
    for rows in (200, 5000):
        y = rng.normal(5, 2, rows)
        predicted = y + rng.normal(0, 1, rows)
        interval = bootstrap_interval(mae, y, predicted, **BOOT)
        assert interval.point == pytest.approx(mae(y, predicted))
        assert interval.low < interval.point < interval.high
        widths.append(interval.high - interval.low)
    # the spread of a mean shrinks as 1/sqrt(rows): 5 times narrower for 25 times the rows
    assert widths[1] < widths[0] / 3
    # the same seed, the same interval
    y = rng.normal(5, 2, 300)
    predicted = y + rng.normal(0, 1, 300)
    assert bootstrap_interval(mae, y, predicted, **BOOT) == bootstrap_interval(
        mae, y, predicted, **BOOT
    )
    other_seed = bootstrap_interval(mae, y, predicted, **{**BOOT, "seed": 8})
    assert other_seed != bootstrap_interval(mae, y, predicted, **BOOT)


def test_stratified_resamples_keep_every_class_of_rare_positives():
    """Five positives in 2,000 rows: a plain resample can draw none (PR-AUC undefined); a
    stratified one keeps both classes' counts."""
    rng = np.random.default_rng(2)
    y = np.zeros(2000, dtype=int)
    y[rng.choice(2000, 5, replace=False)] = 1
    scores = np.where(y == 1, rng.uniform(0.3, 1, 2000), rng.uniform(0, 0.6, 2000))
    seen: list[int] = []

    def positives(y_true, predicted) -> float:
        seen.append(int(y_true.sum()))
        return float(average_precision_score(y_true, predicted))

    interval = bootstrap_interval(positives, y, scores, stratified=True, **BOOT)
    assert set(seen) == {5}
    assert 0 < interval.low <= interval.point <= interval.high <= 1


def test_a_paired_difference_is_the_difference_on_the_same_resamples():
    rng = np.random.default_rng(3)
    y = rng.normal(5, 2, 1000)
    better, worse = y + rng.normal(0, 0.5, 1000), y + rng.normal(0, 1.5, 1000)
    # lower MAE is better: the improvement of `better` is mae(worse) - mae(better)
    improvement = bootstrap_interval(lambda t, p: -mae(t, p), y, better, baseline=worse, **BOOT)
    assert improvement.point == pytest.approx(mae(y, worse) - mae(y, better))
    assert improvement.low > 0
    # a model against itself: no spread at all
    same = bootstrap_interval(mae, y, better, baseline=better, **BOOT)
    assert (same.point, same.low, same.high) == (0, 0, 0)


def gate(point: float, low: float, high: float, champion: str | None = "1") -> GateResult:
    improvement = None if champion is None else Interval(point, low, high, 0.95)
    return GateResult(
        metric="mae",
        rows=100,
        data="gold.delivery_features@v3",
        challenger_version="2",
        challenger_score=1.0,
        champion_version=champion,
        champion_score=None if champion is None else 1.0 + point,
        improvement=improvement,
    )


@pytest.mark.parametrize(
    "point, low, high, margin, passes",
    [
        (0.30, 0.10, 0.50, 0.01, True),  # better, beyond chance
        (0.30, -0.05, 0.60, 0.01, False),  # better on these rows, but the interval holds zero
        (0.005, 0.001, 0.009, 0.01, False),  # surely better, by less than the margin
        (-0.20, -0.40, -0.05, 0.0, False),  # worse
    ],
)
def test_the_gate_wants_the_margin_and_an_interval_above_zero(point, low, high, margin, passes):
    result = gate(point, low, high)
    assert result.passes(margin) is passes
    assert "95% CI" in result.describe()


def test_the_first_challenger_passes_with_no_champion_to_beat():
    assert gate(0, 0, 0, champion=None).passes(0.01)
