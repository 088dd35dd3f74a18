"""The service's Prometheus metrics: requests, predictions, model calls, loads and drift.

The collectors read what other modules publish (``ModelHolder.held_models``, the drift
monitor's latest readings): nothing is computed at scrape time, so a scrape costs the event
loop only the exposition itself. This module imports nothing of the service's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from lakehouse.ml.registry import CHAMPION
from serving.drift import DriftReading

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


def observe_many(child: Histogram, values: np.ndarray) -> None:
    """``child.observe(value)`` for every value, the buckets counted by numpy.

    A 1,000-record answer observed one value at a time is 1,000 Python calls (1.5 ms of the
    request); this is one ``searchsorted``. A value falls in the first bucket whose upper
    bound it does not exceed, as ``Histogram.observe`` puts it; a NaN in none (its sum turns
    NaN, as there). Only the sum's last bits can differ: it is added in one go.
    """
    values = np.asarray(values, dtype=float)
    if not values.size:
        return
    child._raise_if_not_observable()
    bounds = child._upper_bounds
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, count in zip(child._buckets, counts.tolist(), strict=False):
        if count:
            bucket.inc(count)
    child._sum.inc(float(values.sum()))


class Scored(Protocol):
    """A model that scored something (``serving.holder.LoadedModel`` is one)."""

    @property
    def task(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...


class Held(Protocol):
    """A model held under an alias (``serving.holder.HeldModel`` is one)."""

    @property
    def alias(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def lineage_table(self) -> str | None: ...

    @property
    def lineage_table_version(self) -> int | None: ...

    @property
    def fast_path(self) -> bool: ...


class _DriftCollector(Collector):
    """The PSI gauges, from the drift monitor's latest readings (computed off the loop)."""

    def __init__(self, readings: Callable[[], Iterable[DriftReading]]) -> None:
        self.readings = readings

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
        for reading in self.readings():
            labels = [reading.model, reading.version]
            window_rows.add_metric(labels, reading.window_rows)
            for feature, value in reading.features.items():
                feature_psi.add_metric([*labels, feature], value)
            if reading.prediction is not None:
                prediction_psi.add_metric(labels, reading.prediction)
        yield feature_psi
        yield prediction_psi
        yield window_rows


class _ModelInfoCollector(Collector):
    """One series per model version held, naming its alias and training data; and per model
    served, whether it has a champion (a model without one is answered with 503)."""

    def __init__(
        self, models: Callable[[], Iterable[Held]], served: Callable[[], Iterable[str]]
    ) -> None:
        self.models = models
        self.served = served

    def collect(self) -> Iterator[GaugeMetricFamily]:
        info = GaugeMetricFamily(
            "lakehouse_model_info",
            "Model versions the service holds (1), with alias and training data",
            labels=["model", "version", "alias", "table", "table_version", "fast_path"],
        )
        held = list(self.models())
        champions = GaugeMetricFamily(
            "lakehouse_model_champion_held",
            "1 when the service holds a champion of the model, 0 when it answers it with 503",
            labels=["model"],
        )
        with_champion = {model.name for model in held if model.alias == CHAMPION}
        for name in self.served():
            champions.add_metric([name], 1 if name in with_champion else 0)
        yield champions
        for model in held:
            info.add_metric(
                [
                    model.name,
                    model.version,
                    model.alias,
                    model.lineage_table or "",
                    str(model.lineage_table_version),
                    str(model.fast_path).lower(),
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
        self.key_requests = Counter(
            "lakehouse_api_key_requests",
            "Requests per API key (its id), route and status, when authentication is on",
            ["key_id", "route", "status"],
            registry=r,
        )
        self.auth_failures = Counter(
            "lakehouse_api_auth_failures",
            "Requests refused by authentication: missing or invalid key (401), missing role (403)",
            ["reason"],
            registry=r,
        )
        self.auth_enabled = Gauge(
            "lakehouse_api_auth_enabled",
            "1 when the API needs keys, 0 when authentication is off (allowed in local only)",
            registry=r,
        )
        self.inference_log_rows = Counter(
            "lakehouse_inference_log_rows",
            "Answered records written to the inference log's files",
            registry=r,
        )
        self.inference_log_files = Counter(
            "lakehouse_inference_log_files",
            "Inference-log files written under <lake>/_inference_log",
            registry=r,
        )
        self.inference_log_errors = Counter(
            "lakehouse_inference_log_write_errors",
            "Inference-log writes that failed (their rows wait for the next flush)",
            registry=r,
        )
        self.inference_log_dropped = Counter(
            "lakehouse_inference_log_dropped_rows",
            "Records dropped from the inference log because its buffer was full",
            registry=r,
        )
        self.inference_log_buffered = Gauge(
            "lakehouse_inference_log_buffered_rows",
            "Answered records held in memory, not yet written to the inference log",
            registry=r,
        )
        self._route_children: dict[tuple[str, str, int], Any] = {}
        self._key_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}

    def attach(
        self,
        models: Callable[[], Iterable[Held]],
        drift: Callable[[], Iterable[DriftReading]],
        served: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        """Add the collectors read at scrape time.

        Args:
            models: The models held, one per alias (``ModelHolder.held_models``).
            drift: The latest drift readings (``DriftMonitor.latest``); never computed here.
            served: The registered names of the models the service answers.
        """
        self.registry.register(_DriftCollector(drift))
        self.registry.register(_ModelInfoCollector(models, served))

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

    def observe_key(self, key_id: str, route: str, status: int) -> None:
        """Count one request made with the API key ``key_id``."""
        key = (key_id, route, status)
        counter = self._key_children.get(key)
        if counter is None:
            counter = self._key_children[key] = self.key_requests.labels(*key[:2], str(status))
        counter.inc()

    def observe_batch(self, model: Scored, rows: int, seconds: float) -> None:
        """One model call of ``rows`` rows."""
        self.batch_rows.labels(model.name).observe(rows)
        self.batch_seconds.labels(model.name).observe(seconds)

    def observe_predictions(self, model: Scored, alias: str, values: np.ndarray) -> None:
        """The outputs a request received."""
        self.predictions.labels(model.name, model.version, alias).inc(len(values))
        histogram = self.prediction_values.get(model.task)
        if histogram is not None:
            observe_many(histogram.labels(model.version), values)
