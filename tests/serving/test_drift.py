"""Drift (PSI) is computed by the drift monitor off the event loop; ``/metrics`` only reads
the latest readings, which equal ``lakehouse.ml.profile.psi`` on the same window."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lakehouse.ml.profile import build_profile, psi, shares_of
from serving import drift as drift_module
from serving.drift import DriftMonitor, DriftWindow, read_drift
from tests.support.serving import DELIVERY, FRAUD, checkout, serving_client, transaction


@dataclass(frozen=True)
class _Model:
    name: str
    version: str
    profile: dict | None
    drift: DriftWindow


def _expected(profile: dict, window: DriftWindow) -> dict[str, float]:
    """PSI of every profiled feature as ``lakehouse.ml.profile`` computes it."""
    return {
        name: psi(feature["shares"], shares_of(feature, window.column(name)))
        for name, feature in profile["features"].items()
    }


def _toy_model(version: str = "1") -> _Model:
    rng = np.random.default_rng(7)
    training = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["a", "b"], 500)})
    profile = build_profile(training, ["c"], rng.uniform(size=500))
    return _Model("toy", version, profile, DriftWindow(1_000))


def _feed(model: _Model, rows: int, shift: float = 0.0) -> None:
    rng = np.random.default_rng(rows)
    frame = pd.DataFrame({"x": rng.normal(size=rows) + shift, "c": rng.choice(["a", "c"], rows)})
    model.drift.add(frame, rng.uniform(size=rows))


def test_readings_equal_profile_psi_and_skip_unmoved_windows(monkeypatch):
    model = _toy_model()
    _feed(model, 200, shift=1.0)
    (reading,) = read_drift([model, model])  # the same version under two aliases: once
    assert reading.window_rows == 200
    assert reading.features == _expected(model.profile, model.drift)
    outputs = model.drift.outputs().tolist()
    prediction = model.profile["prediction"]
    assert reading.prediction == psi(prediction["shares"], shares_of(prediction, outputs))

    calls = []
    monkeypatch.setattr(drift_module, "psi", lambda *a: calls.append(a) or 0.0)
    assert read_drift([model], [reading]) == (reading,)  # nothing new: nothing computed
    assert not calls
    _feed(model, 10)
    assert read_drift([model], [reading])[0].window_rows == 210 and calls


def test_a_model_without_profile_or_rows_has_no_psi():
    empty, unprofiled = _toy_model("1"), _Model("toy", "2", None, DriftWindow(10))
    _feed(unprofiled, 5)
    readings = {r.version: r for r in read_drift([empty, unprofiled])}
    assert readings["1"].window_rows == 0 and not readings["1"].features
    assert readings["2"].window_rows == 5 and readings["2"].prediction is None


def test_the_monitor_refreshes_on_its_thread_and_stops():
    model = _toy_model()
    _feed(model, 100)
    monitor = DriftMonitor(lambda: [model], interval_s=0.05)
    assert monitor.latest() == ()
    monitor.start()
    thread = monitor._thread
    try:
        deadline = time.monotonic() + 10
        while not monitor.latest() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert monitor.latest()[0].features == _expected(model.profile, model.drift)
    finally:
        monitor.stop()
    assert thread is not None and not thread.is_alive()


# --- through the app ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(serving_lake):
    with serving_client(serving_lake.settings) as client:
        yield client


def _scrape(client) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith(("lakehouse_feature_psi", "lakehouse_drift_window_rows"))
    }


def _psi_series(scraped: dict, model: str, version: str) -> dict[str, float]:
    return {
        dict(labels)["feature"]: value
        for (name, labels), value in scraped.items()
        if name == "lakehouse_feature_psi"
        and dict(labels)["model"] == model
        and dict(labels)["version"] == version
    }


def test_exposed_psi_equals_profile_psi_on_the_same_window(client):
    client.post("/v1/delivery/predict", json=[checkout(i) for i in range(40)])
    client.post("/v1/fraud/score", json=[transaction(600 + i) for i in range(40)])
    state = client.app.state.service
    state.drift.refresh()
    scraped = _scrape(client)
    held = {m.name: m for m in state.holder.held_models() if m.alias == "champion"}
    for name in (DELIVERY, FRAUD):
        model = held[name]
        exposed = _psi_series(scraped, name, model.version)
        assert exposed and exposed == _expected(model.profile, model.drift)


def test_a_scrape_does_not_compute_psi(client, monkeypatch):
    state = client.app.state.service
    client.post("/v1/delivery/predict", json=[checkout(i) for i in range(10)])
    state.drift.refresh()
    before = _scrape(client)
    calls = []
    real = drift_module.psi
    monkeypatch.setattr(drift_module, "psi", lambda *a: calls.append(1) or real(*a))
    client.post("/v1/delivery/predict", json=[checkout(100 + i) for i in range(25)])
    assert _scrape(client) == before  # new rows, same gauges until the next refresh
    assert not calls
    state.drift.refresh()
    after = _scrape(client)
    assert calls and after != before
    version = state.holder.slots["delivery"].champion.version
    rows = ("lakehouse_drift_window_rows", (("model", DELIVERY), ("version", version)))
    assert after[rows] == before[rows] + 25
