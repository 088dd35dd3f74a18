"""Delivery-date model on ``gold/delivery_features``: how many days until the parcel arrives.

Baseline: the promised service level of the shipping method (the promised date the shop
showed at checkout; the method's median in training when there is none). Candidates: a
ridge regression and gradient boosting, compared on MAE, RMSE and the share within one day.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from lakehouse.config import Settings
from lakehouse.gold.delivery_rules import (
    BOOLEAN_FEATURES,
    CATEGORICAL_FEATURES,
    LABEL,
    NUMERIC_FEATURES,
)
from lakehouse.ml import evaluation as ev
from lakehouse.ml.datasets import InsufficientDataError, TimeSplit
from lakehouse.ml.preprocessing import FeatureSpec
from lakehouse.ml.tasks import Evaluation, ModelTask
from lakehouse.tables import GOLD_DELIVERY_FEATURES

# zip codes number in the thousands: target-encoded rather than one-hot
HIGH_CARDINALITY = ("zip_code",)
SPEC = FeatureSpec(
    numeric=tuple(NUMERIC_FEATURES),
    boolean=tuple(BOOLEAN_FEATURES),
    categorical=tuple(c for c in CATEGORICAL_FEATURES if c not in HIGH_CARDINALITY),
    high_cardinality=HIGH_CARDINALITY,
)


class DeliveryTask(ModelTask):
    """Predict ``delivery_days`` for a checkout."""

    name = "delivery"
    table = GOLD_DELIVERY_FEATURES
    key = "record_id"
    ts = "event_ts"
    label = LABEL
    kind = "regression"

    def task_settings(self, settings: Settings):
        return settings.ml.delivery

    def feature_spec(self, settings: Settings) -> FeatureSpec:
        return SPEC

    def row_filter(self):
        from pyspark.sql import functions as F

        return F.col(LABEL).isNotNull()

    def estimators(self, settings: Settings) -> dict[str, Any]:
        params = settings.ml.delivery.candidates
        seed = settings.ml.seed
        builders = {
            "linear": lambda p: Ridge(**p),
            "gradient_boosting": lambda p: HistGradientBoostingRegressor(
                random_state=seed, early_stopping=False, **p
            ),
        }
        unknown = sorted(set(params) - set(builders))
        if unknown:
            raise ValueError(f"unknown delivery candidates {unknown}: expected {list(builders)}")
        return {name: builders[name](dict(p)) for name, p in params.items()}

    def check_data(self, split: TimeSplit, settings: Settings) -> None:
        needed = settings.ml.delivery.min_training_rows
        if len(split.train) < needed:
            raise InsufficientDataError(
                f"{len(split.train)} delivered checkouts to train on, fewer than "
                f"ml.delivery.min_training_rows={needed}"
            )

    def evaluate(self, model, rows: pd.DataFrame, extras, settings) -> dict[str, float]:
        return ev.regression_metrics(self.target(rows), self.predictions(model, rows, settings))

    def metric(self, name: str, settings: Settings):
        return ev.regression_metric(name)

    def baseline_predictions(self, train: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
        """Promised days; else the method's median delivery days in training; else overall."""
        by_method = train.groupby("shipping_method", dropna=False)[LABEL].median()
        fallback = rows["shipping_method"].map(by_method).fillna(train[LABEL].median())
        promised = pd.to_numeric(rows["promised_days"], errors="coerce")
        return promised.fillna(fallback).to_numpy(dtype="float64")

    def baseline_test(self, split: TimeSplit, models, settings) -> dict[str, float]:
        predicted = self.baseline_predictions(split.train, split.test)
        return ev.regression_metrics(self.target(split.test), predicted)

    def figures(self, evaluation: Evaluation, split: TimeSplit, settings: Settings):
        model = evaluation.model
        predicted = self.predictions(model, split.test, settings)
        importance = ev.feature_importance(
            model,
            self.inputs(split.validation, settings),
            self.target(split.validation),
            scoring="neg_mean_absolute_error",
            seed=settings.ml.seed,
            rows=settings.ml.importance_rows,
        )
        return {
            "residuals.png": ev.residuals_figure(self.target(split.test), predicted),
            "feature_importance.png": ev.importance_figure(importance),
        }


TASK = DeliveryTask()
