"""Training-data profiles, the population stability index (PSI) and the Kolmogorov-Smirnov
distance (KS), for drift monitoring.

At training time every model input column (and the model's output) is summarised into bins:
quantile edges for numbers, the most frequent values for categories, a share for missing.
The service bins what it sees with the very same edges and reports PSI per feature; the drift
step (``lakehouse.ml.feature_drift``) does the same for each new Gold version. A numeric
profile also keeps the training values' percentiles, from which ``ks_distance`` measures how
far a new sample's distribution lies from the training one (to within 0.01).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

PROFILE_ARTIFACT = "profile.json"
NUMERIC_BINS = 10
TOP_CATEGORIES = 20
OTHER = "__other__"
MISSING = "__missing__"
# a bin nobody fell into still gets this share, so PSI stays finite
PSI_FLOOR = 1e-4
# percentiles kept of every numeric training column (0, 1, ..., 100), for KS
KS_QUANTILES = 101


def numeric_profile(values: pd.Series, bins: int = NUMERIC_BINS) -> dict[str, Any]:
    """Quantile bin edges of ``values`` and the share of rows in each bin (and missing)."""
    present = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype="float64")
    edges = (
        np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
        if len(present)
        else np.array([])
    )
    profile: dict[str, Any] = {"kind": "numeric", "edges": edges.tolist()}
    profile["shares"] = numeric_shares(profile, values)
    if len(present):
        # the k-th is the smallest value with at least k% of the values at or below it, so
        # the share at or below any x is known to within one percentile (ks_distance)
        levels = np.linspace(0, 1, KS_QUANTILES)
        profile["quantiles"] = np.quantile(present, levels, method="inverted_cdf").tolist()
    return profile


def numeric_shares(profile: Mapping[str, Any], values: Iterable[Any]) -> list[float]:
    """Shares of ``values`` per bin of ``profile``; the last entry is the missing share."""
    array = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce").to_numpy(
        dtype="float64"
    )
    edges = np.asarray(profile["edges"], dtype="float64")
    missing = np.isnan(array)
    counts = np.bincount(
        np.searchsorted(edges, array[~missing], side="right"), minlength=len(edges) + 1
    )
    total = max(len(array), 1)
    return [*(counts / total).tolist(), float(missing.sum() / total)]


def ks_distance(profile: Mapping[str, Any], values: Iterable[Any]) -> float | None:
    """Kolmogorov-Smirnov distance between the training distribution of a numeric feature
    (its profile's percentiles) and the present values of ``values``: the largest gap between
    the two cumulative shares, from 0 (same) to 1 (apart).

    The training side is known at its percentiles only, so the distance is exact to within
    1/(KS_QUANTILES - 1). None for a categorical profile, one without percentiles (a model
    trained before they were kept), or no present value.
    """
    quantiles = profile.get("quantiles")
    if profile.get("kind") != "numeric" or not quantiles:
        return None
    array = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce").to_numpy(
        dtype="float64"
    )
    present = np.sort(array[~np.isnan(array)])
    if not len(present):
        return None
    q = np.asarray(quantiles, dtype="float64")
    steps = len(q) - 1

    def train_cdf(x: np.ndarray) -> np.ndarray:
        # at most the share of the last percentile reached (ties: the highest one)
        return np.clip(np.searchsorted(q, x, side="right") - 1, 0, steps) / steps

    def sample_cdf(x: np.ndarray) -> np.ndarray:
        return np.searchsorted(present, x, side="right") / len(present)

    # both are step functions: the gap is largest at a step or just before one
    points = np.unique(np.concatenate([present, q]))
    before = np.nextafter(points, -np.inf)
    gaps = [np.abs(sample_cdf(x) - train_cdf(x)) for x in (points, before)]
    return float(max(gap.max() for gap in gaps))


def categorical_profile(values: pd.Series, top: int = TOP_CATEGORIES) -> dict[str, Any]:
    """The most frequent categories of ``values`` and their shares (others pooled)."""
    counts = values.dropna().astype(str).value_counts()
    profile = {"kind": "categorical", "categories": counts.index[:top].tolist()}
    profile["shares"] = categorical_shares(profile, values)
    return profile


def categorical_shares(profile: Mapping[str, Any], values: Iterable[Any]) -> list[float]:
    """Shares per known category, then the pooled others, then missing."""
    index = {c: i for i, c in enumerate(profile["categories"])}
    counts = np.zeros(len(index) + 2)
    n = 0
    for value in values:
        n += 1
        if value is None or (isinstance(value, float) and np.isnan(value)):
            counts[-1] += 1
        else:
            counts[index.get(str(value), len(index))] += 1
    return (counts / max(n, 1)).tolist()


def shares_of(profile: Mapping[str, Any], values: Iterable[Any]) -> list[float]:
    """Bin shares of ``values`` under ``profile`` (numeric or categorical)."""
    if profile["kind"] == "numeric":
        return numeric_shares(profile, values)
    return categorical_shares(profile, values)


def psi(expected: Iterable[float], actual: Iterable[float]) -> float:
    """Population stability index between two share vectors over the same bins.

    Rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 significant shift.
    """
    e = np.maximum(np.asarray(list(expected), dtype="float64"), PSI_FLOOR)
    a = np.maximum(np.asarray(list(actual), dtype="float64"), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def build_profile(
    inputs: pd.DataFrame, categorical: Iterable[str], predictions: np.ndarray
) -> dict[str, Any]:
    """Profiles of every input column and of the predictions (``"__prediction__"``)."""
    categorical = set(categorical)
    features = {
        column: categorical_profile(inputs[column])
        if column in categorical
        else numeric_profile(inputs[column])
        for column in inputs.columns
    }
    return {"features": features, "prediction": numeric_profile(pd.Series(predictions))}
