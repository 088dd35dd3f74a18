"""Feature engineering as one scikit-learn Pipeline, fitted on training rows only.

- numeric features: median imputation (with missing-value indicators) and standard scaling;
- flags: most-frequent imputation (they are 0/1 already);
- low-cardinality categories: one-hot, rare categories pooled as "infrequent", unknown ones
  at prediction time mapped to that pool instead of failing;
- high-cardinality categories (zip codes): cross-fitted target encoding, so thousands of zips
  become one informative column without leaking each row's own label;
- feature selection: constant columns dropped, then a univariate filter.

``to_model_frame`` is the one place raw feature values become model input, for training,
batch scoring and the online service alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectPercentile, VarianceThreshold, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

from lakehouse.config import PreprocessingSettings

MISSING_CATEGORY = "missing"
TARGET_ENCODER_FOLDS = 5


@dataclass(frozen=True)
class FeatureSpec:
    """A model's input columns by kind."""

    numeric: tuple[str, ...]
    boolean: tuple[str, ...]
    categorical: tuple[str, ...]
    high_cardinality: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """All input columns in model order."""
        return [*self.numeric, *self.boolean, *self.categorical, *self.high_cardinality]


def to_model_frame(rows: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Raw feature values (from Spark, a Delta reader or the service) -> model input dtypes.

    Numbers (Decimals included) become float64, flags 0.0/1.0, categories strings; anything
    missing becomes NaN. Missing columns are an error, extra columns are ignored.
    """
    missing = [c for c in spec.columns if c not in rows.columns]
    if missing:
        raise KeyError(f"feature columns missing from the input: {missing}")
    out = {}
    for column in spec.numeric:
        out[column] = pd.to_numeric(rows[column], errors="coerce").astype("float64")
    for column in spec.boolean:
        out[column] = _flags(rows[column])
    for column in (*spec.categorical, *spec.high_cardinality):
        values = rows[column]
        out[column] = values.where(values.isna(), values.astype(str)).astype(object)
        out[column] = out[column].where(values.notna(), np.nan)
    return pd.DataFrame(out, index=rows.index)[spec.columns]


def _flags(values: pd.Series) -> pd.Series:
    """Booleans or 0/1 integers (nullable, maybe as Python objects) -> 0.0/1.0/NaN."""
    if values.dtype == object:
        values = values.map(lambda v: np.nan if v is None or v != v else float(v))
    return values.astype("float64")


def _categories(settings: PreprocessingSettings) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
            (
                "one_hot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=settings.min_category_frequency,
                    sparse_output=False,
                ),
            ),
        ]
    )


def build_preprocessor(
    spec: FeatureSpec, settings: PreprocessingSettings, *, task: str, seed: int
) -> Pipeline:
    """The feature-engineering steps for ``task`` (``"regression"`` or ``"classification"``)."""
    target_type = "continuous" if task == "regression" else "binary"
    score = f_regression if task == "regression" else f_classif
    # cross-fitting folds: each training row is encoded by a model that never saw its label
    folds = KFold(n_splits=TARGET_ENCODER_FOLDS, shuffle=True, random_state=seed)
    encode = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                list(spec.numeric),
            ),
            ("flags", SimpleImputer(strategy="most_frequent"), list(spec.boolean)),
            ("categories", _categories(settings), list(spec.categorical)),
            (
                "high_cardinality",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
                        (
                            "target",
                            TargetEncoder(target_type=target_type, cv=folds),
                        ),
                    ]
                ),
                list(spec.high_cardinality),
            ),
        ],
        remainder="drop",
    )
    return Pipeline(
        [
            ("encode", encode),
            ("drop_constant", VarianceThreshold()),
            ("select", SelectPercentile(score, percentile=settings.select_percentile)),
        ]
    )
