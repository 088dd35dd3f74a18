"""Request ids in logs, Prometheus metrics and drift (PSI) against the training data.

No request body, feature value or prediction of an identifiable record is ever logged: log
lines carry the request id, the route, the status, timings, model versions and reason codes.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from lakehouse.ml.profile import psi, shares_of

if TYPE_CHECKING:
    from serving.holder import LoadedModel, ModelHolder

REQUEST_ID_HEADER = "x-request-id"
# a caller's id is kept when it is short and plain (it ends up in logs and headers)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
PREDICTION_BUCKETS = {
    "delivery": (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30),
    "fraud": (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99),
}


def new_request_id(offered: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is plain enough to log, else a fresh one."""
    if offered and _REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamps every log record with the request id of the request being served (or ``-``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Log lines with the request id; uvicorn's access log stays off (the middleware logs)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level)
    root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger("py4j").setLevel(logging.WARNING)


class DriftWindow:
    """The most recent model inputs and outputs of one loaded model, for PSI.

    Batches are kept whole (no per-row copy on the hot path) and the oldest dropped once more
    than ``max_rows`` rows are held beyond the newest batch.
    """

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.rows = 0
        self._batches: deque[tuple[Any, np.ndarray]] = deque()

    def add(self, inputs: Any, outputs: np.ndarray) -> None:
        """Keep one scored batch (a ``ModelInput`` or a model frame) and its outputs."""
        self._batches.append((inputs, outputs))
        self.rows += len(outputs)
        while self._batches and self.rows - len(self._batches[0][1]) >= self.max_rows:
            self.rows -= len(self._batches.popleft()[1])

    def column(self, name: str) -> list[Any]:
        """One input column over the window."""
        values: list[Any] = []
        for inputs, _ in self._batches:
            column = inputs.column(name) if hasattr(inputs, "column") else inputs[name]
            values.extend(column.tolist() if hasattr(column, "tolist") else column)
        return values

    def outputs(self) -> np.ndarray:
        """Predictions over the window."""
        if not self._batches:
            return np.empty(0)
        return np.concatenate([outputs for _, outputs in self._batches])

    def psi(self, profile: dict[str, Any]) -> tuple[dict[str, float], float | None]:
        """PSI of every profiled feature and of the predictions against the training data."""
        if not self.rows:
            return {}, None
        features = {
            name: psi(feature["shares"], shares_of(feature, self.column(name)))
            for name, feature in profile.get("features", {}).items()
        }
        prediction = profile.get("prediction")
        predicted = (
            psi(prediction["shares"], shares_of(prediction, self.outputs().tolist()))
            if prediction
            else None
        )
        return features, predicted


class _DriftCollector(Collector):
    """Computes PSI at scrape time for every model the service holds."""

    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder

    def collect(self) -> Iterator[GaugeMetricFamily]:
        feature_psi = GaugeMetricFamily(
            "lakehouse_feature_psi",
            "Population stability index of a model input over the recent requests against "
            "the model's training data (< 0.1 stable, > 0.25 significant shift)",
            labels=["model", "version", "feature"],
        )
        prediction_psi = GaugeMetricFamily(
            "lakehouse_prediction_psi",
            "PSI of the model's outputs over the recent requests against training",
            labels=["model", "version"],
        )
        window_rows = GaugeMetricFamily(
            "lakehouse_drift_window_rows",
            "Recent rows behind the PSI gauges",
            labels=["model", "version"],
        )
        for model in self.holder.loaded_models():
            labels = [model.name, model.version]
            window_rows.add_metric(labels, model.drift.rows)
            if model.profile is None or not model.drift.rows:
                continue
            features, predicted = model.drift.psi(model.profile)
            for feature, value in features.items():
                feature_psi.add_metric([*labels, feature], value)
            if predicted is not None:
                prediction_psi.add_metric(labels, predicted)
        yield feature_psi
        yield prediction_psi
        yield window_rows


class _ModelInfoCollector(Collector):
    """One series per model version held, naming its alias and training data."""

    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder

    def collect(self) -> Iterator[GaugeMetricFamily]:
        info = GaugeMetricFamily(
            "lakehouse_model_info",
            "Model versions the service holds (1), with alias and training data",
            labels=["model", "version", "alias", "table", "table_version", "fast_path"],
        )
        for slot in self.holder.slots.values():
            for alias, model in slot.held().items():
                info.add_metric(
                    [
                        model.name,
                        model.version,
                        alias,
                        model.lineage_table or "",
                        str(model.lineage_table_version),
                        str(model.fast is not None).lower(),
                    ],
                    1,
                )
        yield info


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "lakehouse_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "lakehouse_http_request_duration_seconds",
            "Time from the first byte of a request to its last response byte",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "lakehouse_predictions",
            "Records scored, by model version and the alias that answered",
            ["model", "version", "alias"],
            registry=r,
        )
        self.prediction_values = {
            task: Histogram(
                f"lakehouse_{task}_prediction",
                f"Distribution of the {task} model's outputs",
                ["version"],
                buckets=buckets,
                registry=r,
            )
            for task, buckets in PREDICTION_BUCKETS.items()
        }
        self.fraud_decisions = Counter(
            "lakehouse_fraud_decisions",
            "Fraud decisions at the model's threshold",
            ["version", "decision"],
            registry=r,
        )
        self.batch_rows = Histogram(
            "lakehouse_model_batch_rows",
            "Rows per model call (micro-batches coalesce concurrent requests)",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "lakehouse_model_batch_seconds",
            "Time of one model call (encoding and prediction)",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.invalid_records = Counter(
            "lakehouse_invalid_records",
            "Records refused with 422, by Silver's reason code",
            ["task", "reason"],
            registry=r,
        )
        self.model_loads = Counter(
            "lakehouse_model_loads",
            "Model version loads by outcome (loaded, failed)",
            ["model", "outcome"],
            registry=r,
        )
        self.model_swaps = Counter(
            "lakehouse_model_swaps",
            "Times a newly aliased version replaced the one serving",
            ["model", "alias"],
            registry=r,
        )
        self.shadow_disagreements = Counter(
            "lakehouse_shadow_disagreements",
            "Shadow-scored fraud records whose challenger decision differs from the champion's",
            ["model"],
            registry=r,
        )
        self.shadow_difference = Histogram(
            "lakehouse_shadow_abs_difference",
            "Absolute difference between challenger and champion outputs (shadow mode)",
            ["model"],
            buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
            registry=r,
        )
        self.velocity_held = Gauge(
            "lakehouse_velocity_held_transactions",
            "Transactions held in the fraud service's velocity windows",
            registry=r,
        )
        self._route_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}

    def attach(self, holder: ModelHolder) -> None:
        """Add the collectors that read the model holder at scrape time."""
        self.registry.register(_DriftCollector(holder))
        self.registry.register(_ModelInfoCollector(holder))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request (label children are cached: this runs on every request)."""
        key = (method, route, status)
        counter = self._route_children.get(key)
        if counter is None:
            counter = self._route_children[key] = self.requests.labels(method, route, str(status))
        counter.inc()
        histogram = self._latency_children.get(route)
        if histogram is None:
            histogram = self._latency_children[route] = self.latency.labels(route)
        histogram.observe(seconds)

    def observe_batch(self, model: LoadedModel, rows: int, seconds: float) -> None:
        """One model call of ``rows`` rows."""
        self.batch_rows.labels(model.name).observe(rows)
        self.batch_seconds.labels(model.name).observe(seconds)

    def observe_predictions(self, model: LoadedModel, alias: str, values: np.ndarray) -> None:
        """The outputs a request received."""
        self.predictions.labels(model.name, model.version, alias).inc(len(values))
        histogram = self.prediction_values.get(model.task)
        if histogram is not None:
            child = histogram.labels(model.version)
            for value in values.tolist():
                child.observe(value)
