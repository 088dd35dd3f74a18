"""Where MLflow keeps runs: the user's MLFLOW_TRACKING_URI, else the lake's own store."""

from __future__ import annotations

import pandas as pd
import pytest

from lakehouse.config import ConfigError, load_settings
from lakehouse.ml.profile import categorical_profile, numeric_profile, psi, shares_of
from lakehouse.ml.tracking import client_for, tracking_uri


def test_each_lake_has_its_own_store_even_after_mlflow_exported_one(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = load_settings(lake=str(tmp_path / "a"))
    second = load_settings(lake=str(tmp_path / "b"))
    client_for(first)  # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI as a side effect
    assert tracking_uri(second) == f"sqlite:///{tmp_path / 'b' / '_mlflow' / 'mlflow.db'}"


def test_the_users_tracking_uri_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri(load_settings(lake=str(tmp_path))) == "http://127.0.0.1:5000"


def test_an_object_store_lake_needs_a_tracking_server(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ConfigError, match="tracking server"):
        tracking_uri(load_settings(lake="s3a://bucket/lake"))


def test_psi_is_zero_for_the_same_data_and_grows_with_shift():
    values = pd.Series(range(1000), dtype="float64")
    profile = numeric_profile(values)
    assert psi(profile["shares"], shares_of(profile, values)) == pytest.approx(0.0)
    shifted = psi(profile["shares"], shares_of(profile, values + 300))
    assert shifted > 0.25
    assert psi(profile["shares"], shares_of(profile, values + 30)) < shifted


def test_categorical_profile_pools_unknown_and_missing():
    profile = categorical_profile(pd.Series(["a", "a", "b", None]))
    assert profile["categories"] == ["a", "b"]
    assert shares_of(profile, ["a", "zzz", None, None]) == [0.25, 0.0, 0.25, 0.5]


def _double(x):
    return x * 2


def test_models_with_types_outside_the_allowlist_are_refused_not_pickled():
    import numpy as np
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from lakehouse.ml.serialization import UnsafeModelError, trusted_types

    X, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
    safe = make_pipeline(FunctionTransformer(np.log1p), Ridge()).fit(X, y)
    assert all(t.startswith(("sklearn.", "numpy.")) for t in trusted_types(safe))
    unsafe = make_pipeline(FunctionTransformer(_double), Ridge()).fit(X, y)
    with pytest.raises(UnsafeModelError, match="_double"):
        trusted_types(unsafe)
