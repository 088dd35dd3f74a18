"""What differs between models: data, features, candidates, metrics and plots.

``training`` runs any ``ModelTask`` the same way; ``delivery`` and ``fraud`` define one each.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from lakehouse.config import ModelTaskSettings, Settings
from lakehouse.ml.datasets import TimeSplit
from lakehouse.ml.preprocessing import FeatureSpec, build_preprocessor, to_model_frame
from lakehouse.tables import Table

if TYPE_CHECKING:  # annotations only: the service imports tasks without Spark or matplotlib
    from matplotlib.figure import Figure
    from pyspark.sql import Column

    from lakehouse.ml.evaluation import Interval


@dataclass
class Evaluation:
    """Fitted candidates and how they scored."""

    models: dict[str, Pipeline]
    best: str
    extras: dict[str, Any]
    validation: dict[str, float]
    test: dict[str, float]
    baseline_test: dict[str, float]
    candidate_validation: dict[str, dict[str, float]] = field(default_factory=dict)
    # the primary test metric with its bootstrap interval
    test_interval: Interval | None = None

    @property
    def model(self) -> Pipeline:
        """The chosen model."""
        return self.models[self.best]


class ModelTask(ABC):
    """One prediction problem on one Gold table."""

    name: str
    table: Table
    key: str
    ts: str
    label: str
    kind: str  # "regression" or "classification"

    @abstractmethod
    def task_settings(self, settings: Settings) -> ModelTaskSettings:
        """This task's section of the configuration."""

    @abstractmethod
    def feature_spec(self, settings: Settings) -> FeatureSpec:
        """The model's input columns."""

    @abstractmethod
    def row_filter(self) -> Column:
        """The Gold rows usable for training and evaluation (a Spark column: import pyspark
        inside, the service imports tasks without Spark)."""

    @abstractmethod
    def estimators(self, settings: Settings) -> dict[str, Any]:
        """Unfitted final estimators by candidate name, hyperparameters from configuration."""

    @abstractmethod
    def evaluate(self, model: Pipeline, rows: pd.DataFrame, extras: dict[str, Any], settings):
        """Metrics of ``model`` on ``rows`` (a dict of floats)."""

    @abstractmethod
    def baseline_test(self, split: TimeSplit, models: dict[str, Pipeline], settings: Settings):
        """The baseline's metrics on the test rows."""

    @abstractmethod
    def figures(self, evaluation: Evaluation, split: TimeSplit, settings) -> dict[str, Figure]:
        """Diagnostic plots, logged as artifacts."""

    def extra_columns(self) -> list[str]:
        """Columns the evaluation needs beyond key, time, label and features."""
        return []

    def check_data(self, split: TimeSplit, settings: Settings) -> None:
        """Raise InsufficientDataError when the split cannot train or evaluate a model."""
        return None

    def tune(self, model: Pipeline, validation: pd.DataFrame, settings: Settings) -> dict:
        """Settings fitted on validation rows after training (e.g. a decision threshold)."""
        return {}

    def columns(self, settings: Settings) -> list[str]:
        """Every column read from Gold, without repeats, in a stable order."""
        wanted = [self.key, self.ts, self.label, *self.feature_spec(settings).columns]
        return list(dict.fromkeys([*wanted, *self.extra_columns()]))

    def inputs(self, rows: pd.DataFrame, settings: Settings) -> pd.DataFrame:
        """Model input for ``rows``."""
        return to_model_frame(rows, self.feature_spec(settings))

    def target(self, rows: pd.DataFrame) -> pd.Series:
        """The label as numbers."""
        return rows[self.label].astype("float64" if self.kind == "regression" else "int64")

    def pipeline(self, estimator: Any, settings: Settings) -> Pipeline:
        """Feature engineering + ``estimator``."""
        preprocessor = build_preprocessor(
            self.feature_spec(settings),
            settings.ml.preprocessing,
            task=self.kind,
            seed=settings.ml.seed,
        )
        return Pipeline([("features", preprocessor), ("model", estimator)])

    @abstractmethod
    def metric(self, name: str, settings: Settings) -> Callable[[np.ndarray, np.ndarray], float]:
        """Threshold-free metric ``name`` of (truth, predictions), for bootstrap intervals."""

    def primary_interval(
        self,
        rows: pd.DataFrame,
        predictions: np.ndarray,
        settings: Settings,
        *,
        baseline: np.ndarray | None = None,
    ) -> Interval:
        """The primary metric on ``rows`` with its bootstrap interval, or with ``baseline``
        (another model's predictions for the same rows) its improvement over that model,
        positive when better whichever way the metric goes."""
        from lakehouse.ml.evaluation import bootstrap_interval

        def metric(y: np.ndarray, predicted: np.ndarray) -> float:
            value = primary(y, predicted)
            return value if greater or baseline is None else -value

        primary = self.metric(self.task_settings(settings).primary_metric, settings)
        greater = self.task_settings(settings).greater_is_better
        bootstrap = settings.ml.bootstrap
        return bootstrap_interval(
            metric,
            self.target(rows).to_numpy(),
            predictions,
            baseline=baseline,
            resamples=bootstrap.resamples,
            confidence=bootstrap.confidence,
            seed=settings.ml.seed,
            stratified=self.kind == "classification",
        )

    def primary(self, metrics: dict[str, float], settings: Settings) -> float:
        """The gate's metric out of ``metrics``."""
        return metrics[self.task_settings(settings).primary_metric]

    def is_better(self, a: float, b: float, settings: Settings, margin: float = 0.0) -> bool:
        """Whether primary-metric value ``a`` beats ``b`` by at least ``margin``."""
        if self.task_settings(settings).greater_is_better:
            return a >= b + margin
        return a <= b - margin

    def predictions(self, model: Pipeline, rows: pd.DataFrame, settings) -> np.ndarray:
        """What the model outputs for ``rows``: days, or a fraud probability."""
        X = self.inputs(rows, settings)
        if self.kind == "classification":
            return model.predict_proba(X)[:, 1]
        return model.predict(X)
