"""The fast predict path equals the pipeline's output, bit for bit (no Spark needed)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from lakehouse.config import load_settings
from lakehouse.features import FeatureRows
from lakehouse.ml.catalog import TASKS
from lakehouse.ml.preprocessing import to_model_frame
from serving import fastpath
from serving.fastpath import (
    PARALLEL_MIN_ROWS,
    VECTOR_TREES_MAX_ROWS,
    FastPipeline,
    compile_pipeline,
    encode_rows,
    pipeline_output,
    probe_rows,
)
from tests.support.gold import FAST_OVERRIDES, delivery_rows, fraud_rows

SETTINGS = load_settings("local", overrides=FAST_OVERRIDES)


def _fit(task_name: str, estimator_name: str | None = None) -> tuple[Pipeline, object]:
    task = TASKS[task_name]
    if task_name == "delivery":
        frame = delivery_rows(1200, seed=3)
    else:
        frame = fraud_rows(3000, seed=4, windows=SETTINGS.payments.velocity_windows_s)
    estimators = task.estimators(SETTINGS)
    estimator = estimators[estimator_name or "gradient_boosting"]
    model = task.pipeline(estimator, SETTINGS).fit(task.inputs(frame, SETTINGS), task.target(frame))
    return model, frame


@pytest.fixture(scope="module", params=["delivery", "fraud"])
def fitted(request):
    """A fitted gradient-boosting pipeline per task, and fresh raw rows to predict."""
    task = TASKS[request.param]
    model, _ = _fit(request.param)
    if request.param == "delivery":
        fresh = delivery_rows(1100, seed=9)
    else:
        fresh = fraud_rows(1100, seed=9, windows=SETTINGS.payments.velocity_windows_s)
    return task, model, fresh


def _raw_rows(task, frame: pd.DataFrame) -> list[dict]:
    """Rows as the online twins give them: Python values, None for null, some surprises."""
    spec = task.feature_spec(SETTINGS)
    rows = frame[spec.columns].astype(object).where(frame[spec.columns].notna(), None)
    rows = rows.to_dict("records")
    categories = [*spec.categorical, *spec.high_cardinality]
    for i, row in enumerate(rows):
        if i % 5 == 0:
            row[categories[i % len(categories)]] = "NEVER-SEEN"  # unknown category
        if i % 7 == 0:
            row[categories[(i + 1) % len(categories)]] = None  # missing category
        if i % 11 == 0:
            row[spec.numeric[i % len(spec.numeric)]] = None  # missing number
        if i % 13 == 0:
            row[spec.numeric[0]] = Decimal(str(row[spec.numeric[0]] or 0))  # Gold's decimals
    return rows


def _expected(model, task, rows: list[dict]) -> np.ndarray:
    frame = to_model_frame(pd.DataFrame(rows), task.feature_spec(SETTINGS))
    return pipeline_output(model, frame, task.kind)


def test_gradient_boosting_fast_path_is_bit_for_bit_equal(fitted):
    task, model, fresh = fitted
    fast = compile_pipeline(model, task.feature_spec(SETTINGS), task.kind)
    assert fast is not None and fast.max_abs_diff == 0.0
    rows = _raw_rows(task, fresh)
    spec = task.feature_spec(SETTINGS)
    # every batch size the service sees: single rows, micro-batches, both tree walks, large
    # ones on every core
    for size in (
        1,
        2,
        7,
        VECTOR_TREES_MAX_ROWS,
        VECTOR_TREES_MAX_ROWS + 1,
        PARALLEL_MIN_ROWS,
        1000,
    ):
        for start in range(0, min(len(rows), 3 * size), size):
            batch = rows[start : start + size]
            got = fast.predict(encode_rows(batch, spec))
            np.testing.assert_array_equal(got, _expected(model, task, batch))


@pytest.mark.parametrize(("task_name", "estimator"), [("delivery", "linear"), ("fraud", None)])
def test_linear_models_fast_path_is_equal(task_name, estimator):
    task = TASKS[task_name]
    name = estimator or "logistic_regression"
    model, frame = _fit(task_name, name)
    fast = compile_pipeline(model, task.feature_spec(SETTINGS), task.kind)
    assert fast is not None and fast.trees is None
    rows = _raw_rows(task, frame.head(300))
    # BLAS may round one row's product differently from a batch's, in scikit-learn itself:
    # equality holds for the same batch on both sides
    for row in rows[:20]:
        got = fast.predict(encode_rows([row], fast.spec))
        np.testing.assert_array_equal(got, _expected(model, task, [row]))
    got = fast.predict(encode_rows(rows, fast.spec))
    np.testing.assert_array_equal(got, _expected(model, task, rows))


def test_trees_with_missing_values_follow_the_missing_direction(fitted):
    task, model, _ = fitted
    fast = compile_pipeline(model, task.feature_spec(SETTINGS), task.kind)
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(30, fast.trees.model.n_features_in_))
    matrix[rng.random(matrix.shape) < 0.3] = np.nan
    expected = fast.trees.model._raw_predict(matrix).ravel()
    np.testing.assert_array_equal(fast.trees.raw(matrix[:VECTOR_TREES_MAX_ROWS]), expected)


def test_encoding_equals_to_model_frame():
    task = TASKS["fraud"]
    spec = task.feature_spec(SETTINGS)
    rows = _raw_rows(task, fraud_rows(50, seed=5, windows=SETTINGS.payments.velocity_windows_s))
    rows[3][spec.categorical[0]] = 7  # a number where a category belongs
    rows[4][spec.boolean[0]] = None
    rows[5][spec.numeric[1]] = "12.5"  # text where a number belongs
    encoded = encode_rows(rows, spec).frame()
    expected = to_model_frame(pd.DataFrame(rows), spec)
    pd.testing.assert_frame_equal(encoded, expected)
    # the same rows held as columns (as a fraud request's features are)
    columns = FeatureRows({name: tuple(row[name] for row in rows) for name in rows[0]})
    pd.testing.assert_frame_equal(encode_rows(columns, spec).frame(), expected)


def test_probe_rows_cover_every_category_and_missing_values(fitted):
    task, model, _ = fitted
    spec = task.feature_spec(SETTINGS)
    rows = probe_rows(model, spec)
    encoder = model[0][0].named_transformers_["categories"][-1]
    for column, categories in zip(spec.categorical, encoder.categories_, strict=True):
        seen = {row[column] for row in rows}
        assert set(categories) <= seen and None in seen and fastpath.UNSEEN_CATEGORY in seen
    assert any(row[spec.numeric[0]] is None for row in rows)


def test_an_unknown_pipeline_shape_keeps_the_pipeline():
    task = TASKS["delivery"]
    spec = task.feature_spec(SETTINGS)
    frame = delivery_rows(300, seed=1)
    numeric_only = Pipeline([("scale", StandardScaler()), ("model", Ridge())])
    numeric_only.fit(frame[list(spec.numeric)].fillna(0), frame["delivery_days"])
    assert compile_pipeline(numeric_only, spec, task.kind) is None
    with pytest.raises(fastpath.UnsupportedPipelineError):
        FastPipeline(numeric_only, spec, task.kind)


def test_a_fast_path_that_disagrees_is_refused(fitted, monkeypatch):
    task, model, _ = fitted
    original = FastPipeline.predict
    monkeypatch.setattr(FastPipeline, "predict", lambda self, data: original(self, data) + 1e-9)
    assert compile_pipeline(model, task.feature_spec(SETTINGS), task.kind) is None


def test_classifier_classes_must_be_zero_and_one():
    task = TASKS["fraud"]
    spec = task.feature_spec(SETTINGS)
    frame = fraud_rows(400, seed=6, windows=SETTINGS.payments.velocity_windows_s)
    model = task.pipeline(LogisticRegression(max_iter=200), SETTINGS)
    model.fit(task.inputs(frame, SETTINGS), np.where(task.target(frame) == 1, 2, 5))
    assert compile_pipeline(model, spec, task.kind) is None


def test_thread_count_is_asked_at_first_use_with_a_portable_fallback(monkeypatch):
    import os

    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # as on macOS
    fastpath.parallel_threads.cache_clear()
    try:
        assert fastpath.parallel_threads() == max(1, os.cpu_count() or 1)
    finally:
        fastpath.parallel_threads.cache_clear()
