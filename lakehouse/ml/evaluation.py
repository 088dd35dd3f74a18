"""Metrics and diagnostic plots, the same functions for training, the gate and reproduction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Figures are built without pyplot: no GUI backend, no global figure registry, and a
# notebook that imports this module keeps its own inline backend.
from matplotlib.figure import Figure
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    average_precision_score,
    f1_score,
    mean_absolute_error,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
    root_mean_squared_error,
)

WITHIN_DAYS = 1.0

# (y_true, predictions) -> a metric's value
Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval around a point estimate."""

    point: float
    low: float
    high: float
    confidence: float

    def describe(self, digits: int = 4) -> str:
        return (
            f"{self.point:.{digits}f} ({self.confidence:.0%} CI "
            f"{self.low:.{digits}f} to {self.high:.{digits}f})"
        )


def _resampled_rows(
    y_true: np.ndarray, resamples: int, seed: int, stratified: bool
) -> Iterator[np.ndarray]:
    """Row indices drawn with replacement, ``resamples`` times. Stratified: within each class,
    so every resample keeps the test rows' class counts (a ranking metric stays defined when
    positives are rare)."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y_true == c) for c in np.unique(y_true)] if stratified else None
    for _ in range(resamples):
        if groups is None:
            yield rng.integers(0, len(y_true), len(y_true))
        else:
            yield np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])


def bootstrap_interval(
    metric: Metric,
    y_true: np.ndarray,
    predictions: np.ndarray,
    *,
    baseline: np.ndarray | None = None,
    resamples: int,
    confidence: float,
    seed: int,
    stratified: bool = False,
) -> Interval:
    """Percentile bootstrap interval of ``metric`` on the rows, or, with ``baseline`` (another
    model's predictions for the same rows), of ``metric(predictions) - metric(baseline)``, both
    computed on each resample (paired: the difference's spread, not the sum of two spreads).
    """
    y_true, predictions = np.asarray(y_true), np.asarray(predictions)
    if len(y_true) == 0:
        raise ValueError("no rows to bootstrap")

    def statistic(rows: np.ndarray | slice) -> float:
        value = metric(y_true[rows], predictions[rows])
        if baseline is not None:
            value -= metric(y_true[rows], np.asarray(baseline)[rows])
        return value

    values = np.array(
        [statistic(rows) for rows in _resampled_rows(y_true, resamples, seed, stratified)]
    )
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return Interval(statistic(slice(None)), float(low), float(high), confidence)


def regression_metric(name: str) -> Metric:
    """One quality of delivery-day predictions: ``mae``, ``rmse`` (days) or ``within_1d`` (the
    share of predictions within one day of the truth)."""
    metrics: dict[str, Metric] = {
        "mae": lambda y_true, y_pred: float(mean_absolute_error(y_true, y_pred)),
        "rmse": lambda y_true, y_pred: float(root_mean_squared_error(y_true, y_pred)),
        "within_1d": lambda y_true, y_pred: float(
            np.mean(np.abs(np.asarray(y_true) - y_pred) <= WITHIN_DAYS)
        ),
    }
    return metrics[name]


REGRESSION_METRICS = ("mae", "rmse", "within_1d")


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE (days) and the share of predictions within one day of the truth."""
    return {name: regression_metric(name)(y_true, y_pred) for name in REGRESSION_METRICS}


def ranking_metric(name: str, fpr_target: float) -> Metric:
    """One threshold-free quality of fraud scores: ``pr_auc``, ``roc_auc`` or ``recall_at_fpr``
    (the recall at a false-positive rate of ``fpr_target``)."""

    def recall_at_fpr(y_true: np.ndarray, scores: np.ndarray) -> float:
        fpr, tpr, _ = roc_curve(y_true, scores)
        return float(tpr[fpr <= fpr_target].max(initial=0.0))

    metrics: dict[str, Metric] = {
        "pr_auc": lambda y_true, scores: float(average_precision_score(y_true, scores)),
        "roc_auc": lambda y_true, scores: float(roc_auc_score(y_true, scores)),
        "recall_at_fpr": recall_at_fpr,
    }
    return metrics[name]


RANKING_METRICS = ("pr_auc", "roc_auc", "recall_at_fpr")


def ranking_metrics(y_true: np.ndarray, scores: np.ndarray, fpr_target: float) -> dict[str, float]:
    """Threshold-free quality of fraud scores: PR-AUC, ROC-AUC, recall at a fixed FPR."""
    return {name: ranking_metric(name, fpr_target)(y_true, scores) for name in RANKING_METRICS}


def threshold_metrics(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall and F1 of the decisions ``score >= threshold``."""
    decisions = scores >= threshold
    return {
        "precision": float(precision_score(y_true, decisions, zero_division=0)),
        "recall": float(recall_score(y_true, decisions, zero_division=0)),
        "f1": float(f1_score(y_true, decisions, zero_division=0)),
    }


def best_f1_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold with the best F1 (chosen on validation data, used on test data)."""
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(precision),
        where=(precision + recall) > 0,
    )
    # the last precision/recall pair has no threshold
    return float(thresholds[int(np.argmax(f1[:-1]))])


def residuals_figure(y_true: np.ndarray, y_pred: np.ndarray) -> Figure:
    """Residuals against predictions, and their distribution."""
    residuals = np.asarray(y_true) - y_pred
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    left.scatter(y_pred, residuals, s=4, alpha=0.3)
    left.axhline(0, color="black", linewidth=0.8)
    left.set(xlabel="predicted delivery days", ylabel="actual - predicted", title="Residuals")
    right.hist(residuals, bins=50)
    right.set(xlabel="actual - predicted (days)", ylabel="rows", title="Residual distribution")
    fig.tight_layout()
    return fig


def pr_curve_figure(y_true: np.ndarray, scores_by_model: dict[str, np.ndarray]) -> Figure:
    """Precision-recall curves of several models on the same rows."""
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    for name, scores in scores_by_model.items():
        precision, recall, _ = precision_recall_curve(y_true, scores)
        ap = average_precision_score(y_true, scores)
        ax.step(recall, precision, where="post", label=f"{name} (PR-AUC {ap:.3f})")
    ax.axhline(np.mean(y_true), color="grey", linestyle="--", label="fraud rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def confusion_figure(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> Figure:
    """Confusion matrix of the decisions at ``threshold``."""
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    ConfusionMatrixDisplay.from_predictions(
        y_true, scores >= threshold, display_labels=["legit", "fraud"], ax=ax, colorbar=False
    )
    ax.set_title(f"Confusion matrix at threshold {threshold:.3f} (test)")
    fig.tight_layout()
    return fig


def feature_importance(
    model, X: pd.DataFrame, y: pd.Series, *, scoring: str, seed: int, rows: int
) -> pd.Series:
    """Permutation importance of each raw input column (model-agnostic, on held-out rows).

    ``y`` shares ``X``'s index; at most ``rows`` rows are sampled, reproducibly.
    """
    if len(X) > rows:
        X = X.sample(rows, random_state=seed)
    result = permutation_importance(
        model, X, y.loc[X.index].to_numpy(), scoring=scoring, n_repeats=3, random_state=seed
    )
    return pd.Series(result.importances_mean, index=X.columns).sort_values(ascending=False)


def importance_figure(importance: pd.Series, top: int = 20) -> Figure:
    """Horizontal bars of the most important features."""
    shown = importance.head(top)[::-1]
    fig = Figure(figsize=(7, max(3, 0.3 * len(shown) + 1)))
    ax = fig.subplots()
    ax.barh(shown.index, shown.values)
    ax.set(xlabel="score drop when shuffled", title="Permutation importance (validation)")
    fig.tight_layout()
    return fig
