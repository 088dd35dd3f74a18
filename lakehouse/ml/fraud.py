"""Fraud model on ``gold/payments_unified``: the probability that a transaction is fraud.

Only transactions whose label is mature (older than the maturity window at the label cutoff)
train or evaluate it: a young transaction's fraud may simply not be reported yet. Candidates:
a class-balanced logistic regression (also the baseline) and class-balanced gradient
boosting. The decision threshold is the best-F1 point on validation rows, reported on test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from lakehouse.config import Settings
from lakehouse.gold.payments_rules import (
    FRAUD_BOOLEAN_FEATURES,
    FRAUD_CATEGORICAL_FEATURES,
    FRAUD_LABEL,
    fraud_numeric_features,
)
from lakehouse.ml import evaluation as ev
from lakehouse.ml.datasets import InsufficientDataError, TimeSplit
from lakehouse.ml.preprocessing import FeatureSpec
from lakehouse.ml.tasks import Evaluation, ModelTask
from lakehouse.tables import GOLD_PAYMENTS_UNIFIED

BASELINE = "logistic_regression"
THRESHOLD = "decision_threshold"


class FraudTask(ModelTask):
    """Score a payment transaction for fraud."""

    name = "fraud"
    table = GOLD_PAYMENTS_UNIFIED
    key = "transaction_id"
    ts = "transaction_ts"
    label = FRAUD_LABEL
    kind = "classification"

    def task_settings(self, settings: Settings):
        return settings.ml.fraud

    def feature_spec(self, settings: Settings) -> FeatureSpec:
        return FeatureSpec(
            numeric=tuple(fraud_numeric_features(settings.payments.velocity_windows_s)),
            boolean=tuple(FRAUD_BOOLEAN_FEATURES),
            categorical=tuple(FRAUD_CATEGORICAL_FEATURES),
        )

    def row_filter(self):
        from pyspark.sql import functions as F

        return F.col("label_is_mature")

    def estimators(self, settings: Settings) -> dict[str, Any]:
        params = settings.ml.fraud.candidates
        seed = settings.ml.seed
        builders = {
            BASELINE: lambda p: LogisticRegression(class_weight="balanced", random_state=seed, **p),
            "gradient_boosting": lambda p: HistGradientBoostingClassifier(
                class_weight="balanced", random_state=seed, early_stopping=False, **p
            ),
        }
        unknown = sorted(set(params) - set(builders))
        if unknown:
            raise ValueError(f"unknown fraud candidates {unknown}: expected {list(builders)}")
        if BASELINE not in params:
            raise ValueError(f"ml.fraud.candidates must keep {BASELINE!r}: it is the baseline")
        return {name: builders[name](dict(p)) for name, p in params.items()}

    def check_data(self, split: TimeSplit, settings: Settings) -> None:
        task = settings.ml.fraud
        train_positives = int(split.train[FRAUD_LABEL].sum())
        if len(split.train) < task.min_training_rows or train_positives < task.min_positive_labels:
            raise InsufficientDataError(
                f"{len(split.train)} mature transactions with {train_positives} confirmed frauds "
                f"to train on; need ml.fraud.min_training_rows={task.min_training_rows} and "
                f"ml.fraud.min_positive_labels={task.min_positive_labels}"
            )
        for name, part in (("validation", split.validation), ("test", split.test)):
            if part[FRAUD_LABEL].nunique() < 2:
                raise InsufficientDataError(f"the {name} split holds only one class")

    def tune(self, model, validation: pd.DataFrame, settings: Settings) -> dict:
        scores = self.predictions(model, validation, settings)
        return {THRESHOLD: ev.best_f1_threshold(self.target(validation), scores)}

    def evaluate(self, model, rows: pd.DataFrame, extras, settings) -> dict[str, float]:
        y = self.target(rows).to_numpy()
        scores = self.predictions(model, rows, settings)
        metrics = ev.ranking_metrics(y, scores, settings.ml.fraud.fpr_target)
        if THRESHOLD in extras:
            metrics.update(ev.threshold_metrics(y, scores, extras[THRESHOLD]))
        return metrics

    def metric(self, name: str, settings: Settings):
        return ev.ranking_metric(name, settings.ml.fraud.fpr_target)

    def baseline_test(self, split: TimeSplit, models, settings: Settings) -> dict[str, float]:
        baseline = models[BASELINE]
        extras = self.tune(baseline, split.validation, settings)
        return self.evaluate(baseline, split.test, extras, settings)

    def figures(self, evaluation: Evaluation, split: TimeSplit, settings: Settings):
        y = self.target(split.test).to_numpy()
        scores = {
            name: self.predictions(model, split.test, settings)
            for name, model in evaluation.models.items()
        }
        importance = ev.feature_importance(
            evaluation.model,
            self.inputs(split.validation, settings),
            self.target(split.validation),
            scoring="average_precision",
            seed=settings.ml.seed,
            rows=settings.ml.importance_rows,
        )
        threshold = evaluation.extras[THRESHOLD]
        return {
            "pr_curve.png": ev.pr_curve_figure(y, scores),
            "confusion_matrix.png": ev.confusion_figure(
                y, np.asarray(scores[evaluation.best]), threshold
            ),
            "feature_importance.png": ev.importance_figure(importance),
        }


TASK = FraudTask()
