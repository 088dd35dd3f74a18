"""Training-data profiles and the population stability index (PSI), for drift monitoring.

At training time every model input column (and the model's output) is summarised into bins:
quantile edges for numbers, the most frequent values for categories, a share for missing.
The service bins what it sees with the very same edges and reports PSI per feature.
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


def numeric_profile(values: pd.Series, bins: int = NUMERIC_BINS) -> dict[str, Any]:
    """Quantile bin edges of ``values`` and the share of rows in each bin (and missing)."""
    present = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype="float64")
    edges = (
        np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
        if len(present)
        else np.array([])
    )
    profile = {"kind": "numeric", "edges": edges.tolist()}
    profile["shares"] = numeric_shares(profile, values)
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
