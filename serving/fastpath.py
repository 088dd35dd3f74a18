"""A fast predict path for the project's scikit-learn pipelines, proven equal at load time.

``Pipeline.predict`` on a one-row DataFrame costs several milliseconds, almost all of it
pandas and validation overhead in the ``ColumnTransformer``, not arithmetic. The service
compiles each loaded pipeline into plain numpy: the fitted statistics (medians, means,
scales, one-hot and target encodings, selected columns) become lookup tables, and gradient
boosting's trees become flat node arrays walked for all trees at once.

Every operation is the one scikit-learn performs, in the same order, so outputs are equal
bit for bit. ``compile_pipeline`` proves it on probe rows built from the fitted pipeline
(every known category, unknown and missing ones, missing numbers) before the fast path is
used; a pipeline whose shape it does not know, or that fails the check, keeps the plain
``Pipeline.predict`` (``FastPipeline`` is then None). ``tests/serving/test_fastpath.py``
proves equality on trained models too.

Trees are exact for any batch. A linear model is exact for the same batch: its BLAS product
may round the last bit differently for one row than for many (in scikit-learn itself), so
a row's answer can differ by about 1e-15 with the micro-batch it was scored in.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_selection import SelectorMixin
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

from lakehouse.features import FeatureRows
from lakehouse.ml.preprocessing import FeatureSpec, to_model_frame

log = logging.getLogger(__name__)

# below this many rows all trees are walked together in numpy; above, tree by tree in
# scikit-learn's compiled predictor (whose per-call overhead is then negligible)
VECTOR_TREES_MAX_ROWS = 40
# from this many rows on, the rows are split in one chunk per core, each walked through every
# tree by scikit-learn's predictor (which releases the GIL) in a thread of its own. Rows are
# independent and each still adds its trees up one by one, so the sums are the same; single
# records and micro-batches stay on the event loop's thread. (One OpenMP region per tree
# instead pays a thread wake-up 300 times per call and is slower than one thread.)
PARALLEL_MIN_ROWS = 256
# levels walked before checking whether every walk reached a leaf
EARLY_EXIT_LEVEL = 6
PROBE_ROWS = 96
UNSEEN_CATEGORY = "__unseen_category__"
_FAST_CONFIG = {"assume_finite": True, "skip_parameter_validation": True}


@functools.cache
def parallel_threads() -> int:
    """The cores this process may run on, asked once, at first use.

    ``os.sched_getaffinity`` (the CPU set a container or ``taskset`` allows) exists on Linux
    only; elsewhere (macOS, Windows) every core counts. Not asked at import: importing the
    module must work everywhere.
    """
    affinity = getattr(os, "sched_getaffinity", None)
    count = len(affinity(0)) if affinity is not None else os.cpu_count()
    return max(1, count or 1)


@functools.cache
def _tree_pool() -> ThreadPoolExecutor:
    """The threads that walk the other chunks of a large batch (made on first use)."""
    return ThreadPoolExecutor(max_workers=parallel_threads() - 1, thread_name_prefix="trees")


class UnsupportedPipelineError(ValueError):
    """The pipeline has a step the fast path does not reproduce."""


@dataclass
class ModelInput:
    """Model input for a batch of rows, typed as ``to_model_frame`` types it.

    Attributes:
        numeric: ``(n, len(spec.numeric))`` float64, NaN for missing.
        flags: ``(n, len(spec.boolean))`` float64 (0.0, 1.0 or NaN).
        categories: Per categorical and high-cardinality column, the values as strings,
            None for missing.
        spec: The columns.
    """

    numeric: np.ndarray
    flags: np.ndarray
    categories: list[list[str | None]]
    spec: FeatureSpec

    def __len__(self) -> int:
        return self.numeric.shape[0]

    def column(self, name: str) -> Sequence[Any]:
        """One column's values (for drift monitoring)."""
        if name in self.spec.numeric:
            return self.numeric[:, self.spec.numeric.index(name)]
        if name in self.spec.boolean:
            return self.flags[:, self.spec.boolean.index(name)]
        text = (*self.spec.categorical, *self.spec.high_cardinality)
        return self.categories[text.index(name)]

    def frame(self) -> pd.DataFrame:
        """The same values as the DataFrame ``to_model_frame`` returns."""
        data: dict[str, Any] = {}
        for i, name in enumerate(self.spec.numeric):
            data[name] = self.numeric[:, i]
        for i, name in enumerate(self.spec.boolean):
            data[name] = self.flags[:, i]
        for values, name in zip(
            self.categories, (*self.spec.categorical, *self.spec.high_cardinality), strict=True
        ):
            data[name] = pd.Series(
                [np.nan if v is None else v for v in values], dtype=object, index=range(len(self))
            )
        return pd.DataFrame(data, index=range(len(self)))[self.spec.columns]


# value types numpy turns into float64 exactly as ``pd.to_numeric`` and ``float`` do (None is
# NaN); strings and anything else take the per-value path
_PLAIN_NUMBERS = frozenset({float, int, bool, Decimal, type(None), np.float64, np.int64, np.bool_})


def _number(value: Any) -> float:
    """``pd.to_numeric(errors="coerce")`` of one raw value, as float64."""
    if value is None:
        return math.nan
    if isinstance(value, float | int | Decimal | np.number):
        return float(value)
    return float(pd.to_numeric(pd.Series([value], dtype=object), errors="coerce").iloc[0])


def _numbers(values: list[Any]) -> np.ndarray:
    """A numeric column as ``to_model_frame`` converts it."""
    if _PLAIN_NUMBERS.issuperset(map(type, values)):
        return np.array(values, dtype=np.float64)
    return np.array([_number(v) for v in values], dtype=np.float64)


def _flag(value: Any) -> float:
    """``preprocessing._flags`` of one raw value."""
    if value is None or value != value:
        return math.nan
    return float(value)


def _flags(values: list[Any]) -> np.ndarray:
    """A flag column as ``to_model_frame`` converts it (True/False/None -> 1.0/0.0/NaN)."""
    if _PLAIN_NUMBERS.issuperset(map(type, values)):
        return np.array(values, dtype=np.float64)
    return np.array([_flag(v) for v in values], dtype=np.float64)


def _texts(values: list[Any]) -> list[str | None]:
    """A category column as ``to_model_frame`` makes it: strings, None for missing."""
    if all(v is None or type(v) is str for v in values):
        return values
    # numbers as categories: let pandas format them exactly as to_model_frame does
    # (inferring the column's dtype as pd.DataFrame(rows) does: ints with None become floats)
    frame = to_model_frame(pd.DataFrame({"c": values}), FeatureSpec((), (), ("c",)))
    return [None if v is None or v != v else v for v in frame["c"].tolist()]


def encode_rows(rows: Sequence[Mapping[str, Any]], spec: FeatureSpec) -> ModelInput:
    """Raw feature values (one mapping per row, or ``FeatureRows``' columns) -> ``ModelInput``,
    as ``to_model_frame`` does.

    Raises:
        KeyError: A feature column is missing from a row.
    """
    if isinstance(rows, FeatureRows):
        column = rows.columns.__getitem__
    else:

        def column(name: str) -> list[Any]:
            return [row[name] for row in rows]

    n = len(rows)
    numeric = np.empty((n, len(spec.numeric)), dtype=np.float64)
    for j, name in enumerate(spec.numeric):
        numeric[:, j] = _numbers(column(name))
    flags = np.empty((n, len(spec.boolean)), dtype=np.float64)
    for j, name in enumerate(spec.boolean):
        flags[:, j] = _flags(column(name))
    categories = []
    for name in (*spec.categorical, *spec.high_cardinality):
        values = [None if isinstance(v, float) and v != v else v for v in column(name)]
        categories.append(_texts(values))
    return ModelInput(numeric, flags, categories, spec)


# --- preprocessing ---------------------------------------------------------------------


class _NumericBlock:
    """SimpleImputer (any numeric strategy, optional indicator) then an optional scaler."""

    def __init__(self, transformer: Any, positions: list[int]) -> None:
        steps = _steps(transformer)
        imputer = steps[0]
        scaler = steps[1] if len(steps) > 1 else None
        if not isinstance(imputer, SimpleImputer) or len(steps) > 2:
            raise UnsupportedPipelineError(f"numeric block {steps}")
        if scaler is not None and not isinstance(scaler, StandardScaler):
            raise UnsupportedPipelineError(f"numeric scaler {scaler}")
        if not (isinstance(imputer.missing_values, float) and math.isnan(imputer.missing_values)):
            raise UnsupportedPipelineError("an imputer whose missing value is not NaN")
        stats = np.asarray(imputer.statistics_, dtype=np.float64)
        self.positions = positions
        # SimpleImputer drops columns it could not learn a statistic for
        self.keep = (
            np.arange(len(stats))
            if imputer.keep_empty_features
            else np.flatnonzero(~np.isnan(stats))
        )
        self.stats = stats
        self.indicator = (
            np.asarray(imputer.indicator_.features_, dtype=np.intp)
            if imputer.add_indicator
            else None
        )
        self.mean = None if scaler is None or not scaler.with_mean else scaler.mean_
        self.scale = None if scaler is None or not scaler.with_std else scaler.scale_

    def transform(self, values: np.ndarray) -> np.ndarray:
        values = values[:, self.positions]
        missing = np.isnan(values)
        out = np.where(missing, self.stats, values)[:, self.keep]
        if self.indicator is not None:
            out = np.hstack((out, missing[:, self.indicator]))
        if self.mean is not None:
            out -= self.mean
        if self.scale is not None:
            out /= self.scale
        return out


def _steps(transformer: Any) -> list[Any]:
    if isinstance(transformer, Pipeline):
        return [step for _, step in transformer.steps if step not in (None, "passthrough")]
    return [transformer]


class _CategoryBlock:
    """Constant imputation then a one-hot or target encoder, as per-column lookups."""

    def __init__(self, transformer: Any, positions: list[int]) -> None:
        steps = _steps(transformer)
        if len(steps) != 2 or not isinstance(steps[0], SimpleImputer):
            raise UnsupportedPipelineError(f"category block {steps}")
        imputer, encoder = steps
        if imputer.strategy != "constant" or imputer.add_indicator:
            raise UnsupportedPipelineError("category imputation other than a constant")
        self.fill = imputer.fill_value
        self.positions = positions
        # per input column: category -> row of the output table, and the unknown row
        self.lookups: list[dict[str, int]] = []
        self.unknown_rows: list[int] = []
        tables: list[np.ndarray] = []
        if isinstance(encoder, OneHotEncoder):
            if encoder.drop is not None or encoder.sparse_output:
                raise UnsupportedPipelineError("one-hot with drop or sparse output")
            if encoder.handle_unknown == "error":
                # the pipeline would raise on an unknown category; the service must not
                raise UnsupportedPipelineError("one-hot that raises on unknown categories")
            infrequent = encoder.infrequent_categories_
            for i, categories in enumerate(encoder.categories_):
                rare = set() if infrequent[i] is None else set(infrequent[i].tolist())
                frequent = [c for c in categories.tolist() if c not in rare]
                width = len(frequent) + (1 if rare else 0)
                # row k of the table is the one-hot vector of output column k; the last row is
                # all zeros: an unknown category when there is no infrequent column
                table = np.vstack((np.eye(width, dtype=np.float64), np.zeros((1, width))))
                lookup = {c: k for k, c in enumerate(frequent)}
                lookup.update(dict.fromkeys(rare, len(frequent)))
                # unknown: the infrequent column when there is one, else all zeros
                pooled = encoder.handle_unknown in ("infrequent_if_exist", "warn")
                unknown = len(frequent) if rare and pooled else width
                self.lookups.append(lookup)
                self.unknown_rows.append(unknown)
                tables.append(table)
        elif isinstance(encoder, TargetEncoder):
            if encoder.target_type_ not in ("binary", "continuous"):
                raise UnsupportedPipelineError("multiclass target encoding")
            for categories, encodings in zip(encoder.categories_, encoder.encodings_, strict=True):
                values = np.asarray(encodings, dtype=np.float64)
                table = np.append(values, encoder.target_mean_).reshape(-1, 1)
                self.lookups.append({c: k for k, c in enumerate(categories.tolist())})
                self.unknown_rows.append(len(values))
                tables.append(table)
        else:
            raise UnsupportedPipelineError(f"category encoder {type(encoder).__name__}")
        self.tables = tables

    def transform(self, categories: list[list[str | None]]) -> np.ndarray:
        parts = []
        for position, lookup, unknown, table in zip(
            self.positions, self.lookups, self.unknown_rows, self.tables, strict=True
        ):
            fill = self.fill
            index = [lookup.get(fill if v is None else v, unknown) for v in categories[position]]
            parts.append(table[index])
        return np.hstack(parts)


class _Preprocessor:
    """The ``features`` step: ColumnTransformer -> VarianceThreshold -> SelectPercentile."""

    def __init__(self, features: Any, spec: FeatureSpec) -> None:
        steps = _steps(features)
        if not steps or not isinstance(steps[0], ColumnTransformer):
            raise UnsupportedPipelineError("the features step must start with a ColumnTransformer")
        encode, selectors = steps[0], steps[1:]
        if not all(isinstance(s, SelectorMixin) for s in selectors):
            raise UnsupportedPipelineError(f"feature steps {selectors}")
        self.width = sum(
            s.stop - s.start for s in encode.output_indices_.values() if isinstance(s, slice)
        )
        self.blocks: list[tuple[slice, str, Any]] = []
        numeric, flags = list(spec.numeric), list(spec.boolean)
        texts = [*spec.categorical, *spec.high_cardinality]
        for name, transformer, columns in encode.transformers_:
            out = encode.output_indices_[name]
            if out.stop == out.start:
                continue  # no columns (e.g. no high-cardinality feature) or dropped
            if transformer in ("drop", "passthrough") or not isinstance(columns, list):
                raise UnsupportedPipelineError(f"transformer {name!r}: {transformer}")
            if all(c in numeric for c in columns):
                block = _NumericBlock(transformer, [numeric.index(c) for c in columns])
                self.blocks.append((out, "numeric", block))
            elif all(c in flags for c in columns):
                block = _NumericBlock(transformer, [flags.index(c) for c in columns])
                self.blocks.append((out, "flags", block))
            elif all(c in texts for c in columns):
                block = _CategoryBlock(transformer, [texts.index(c) for c in columns])
                self.blocks.append((out, "categories", block))
            else:
                raise UnsupportedPipelineError(f"transformer {name!r} mixes column kinds")
        keep = np.arange(self.width)
        for selector in selectors:
            keep = keep[selector.get_support()]
        self.keep = keep

    def transform(self, data: ModelInput) -> np.ndarray:
        out = np.empty((len(data), self.width), dtype=np.float64)
        for where, kind, block in self.blocks:
            if kind == "numeric":
                out[:, where] = block.transform(data.numeric)
            elif kind == "flags":
                out[:, where] = block.transform(data.flags)
            else:
                out[:, where] = block.transform(data.categories)
        return np.ascontiguousarray(out[:, self.keep])


# --- the final estimator ----------------------------------------------------------------


class _Trees:
    """A fitted HistGradientBoosting model's trees as flat arrays (one tree per iteration)."""

    def __init__(self, model: Any) -> None:
        predictors = model._predictors
        if model.n_trees_per_iteration_ != 1 or any(len(p) != 1 for p in predictors):
            raise UnsupportedPipelineError("multiclass gradient boosting")
        trees = [p[0] for p in predictors]
        if any(t.nodes["is_categorical"].any() for t in trees):
            raise UnsupportedPipelineError("native categorical splits")
        self.model = model
        self.trees = trees
        self.baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
        sizes = [len(t.nodes) for t in trees]
        offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.intp)
        nodes = np.concatenate([t.nodes for t in trees])
        base = np.repeat(offsets, sizes)
        leaf = nodes["is_leaf"].astype(bool)
        own = np.arange(len(nodes), dtype=np.intp)
        # a leaf points at itself, so walking further than its depth changes nothing
        self.left = np.where(leaf, own, nodes["left"].astype(np.intp) + base)
        self.right = np.where(leaf, own, nodes["right"].astype(np.intp) + base)
        self.feature = np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.value = nodes["value"].astype(np.float64)
        self.roots = offsets
        # children[2 * node + go_right]: one lookup per level instead of a choice of two
        self.children = np.stack((self.left, self.right), axis=1).ravel()
        self.leaf = leaf
        self.depth = int(nodes["depth"].max()) if len(nodes) else 0
        self._bitsets = model._bin_mapper.make_known_categories_bitsets()

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Sum of the leaf values plus the baseline, summed in scikit-learn's order."""
        n = matrix.shape[0]
        threads = parallel_threads() if n >= PARALLEL_MIN_ROWS else 1
        if threads > 1:
            bounds = np.linspace(0, n, threads + 1).astype(int)
            chunks = [matrix[a:b] for a, b in itertools.pairwise(bounds)]
            others = [_tree_pool().submit(self._sum_trees, chunk) for chunk in chunks[1:]]
            first = self._sum_trees(chunks[0])
            return np.concatenate([first, *(f.result() for f in others)])
        if n > VECTOR_TREES_MAX_ROWS:
            return self._sum_trees(matrix)
        node = np.broadcast_to(self.roots, (n, len(self.roots)))
        if np.isnan(matrix).any():
            node = self._walk_with_missing(matrix, node)
        else:
            node = self._walk(matrix, node)
        leaves = np.take(self.value, node)
        # scikit-learn adds tree by tree onto the baseline; cumsum adds in that order too
        start = np.full((n, 1), self.baseline)
        return np.cumsum(np.hstack((start, leaves)), axis=1)[:, -1]

    def _sum_trees(self, matrix: np.ndarray) -> np.ndarray:
        """Tree by tree in scikit-learn's compiled predictor, one thread."""
        known, f_idx_map = self._bitsets
        raw = np.zeros(matrix.shape[0], dtype=np.float64)
        raw += self.baseline
        for tree in self.trees:
            raw += tree.predict(matrix, known, f_idx_map, 1)
        return raw

    def _walk(self, matrix: np.ndarray, node: np.ndarray) -> np.ndarray:
        """All trees at once, one level per step, for inputs without NaN (the imputers
        leave none): ``x <= threshold`` goes left, as scikit-learn's predictor decides."""
        flat = matrix.ravel()
        offsets = (np.arange(matrix.shape[0]) * matrix.shape[1])[:, None]
        for level in range(self.depth):
            x = np.take(flat, offsets + np.take(self.feature, node))
            node = np.take(self.children, node * 2 + (x > np.take(self.threshold, node)))
            # most trees are shallower than the deepest: stop once every walk is at a leaf
            if level >= EARLY_EXIT_LEVEL and level % 2 == 0 and np.take(self.leaf, node).all():
                break
        return node

    def _walk_with_missing(self, matrix: np.ndarray, node: np.ndarray) -> np.ndarray:
        """``_walk`` where NaN follows each node's ``missing_go_to_left``."""
        rows = np.arange(matrix.shape[0])[:, None]
        for _ in range(self.depth):
            x = matrix[rows, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return node

    def output(self, matrix: np.ndarray, kind: str) -> np.ndarray:
        raw = self.raw(matrix)
        if kind == "classification":
            return self.model._loss.predict_proba(raw.reshape(-1, 1))[:, 1]
        return self.model._loss.link.inverse(raw)


class FastPipeline:
    """A compiled pipeline: ``predict(encode_rows(rows, spec))`` equals the pipeline's output.

    Attributes:
        spec: The model's input columns.
        kind: ``"regression"`` (predict) or ``"classification"`` (probability of class 1).
        max_abs_diff: The largest difference from the pipeline seen by the load-time check.
    """

    def __init__(self, pipeline: Pipeline, spec: FeatureSpec, kind: str) -> None:
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            raise UnsupportedPipelineError("expected Pipeline([features, model])")
        self.pipeline = pipeline
        self.spec = spec
        self.kind = kind
        self.preprocessor = _Preprocessor(pipeline.steps[0][1], spec)
        estimator = pipeline.steps[1][1]
        if kind == "classification" and list(getattr(estimator, "classes_", [])) != [0, 1]:
            raise UnsupportedPipelineError("a classifier whose classes are not [0, 1]")
        tree_types = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)
        self.trees = _Trees(estimator) if isinstance(estimator, tree_types) else None
        self.estimator = estimator
        self.max_abs_diff: float | None = None
        # the memory layout the pipeline hands its estimator: BLAS may round a product's last
        # bit differently for C and Fortran order, so a linear model gets the same layout
        self.fortran = False

    def predict(self, data: ModelInput) -> np.ndarray:
        """Days (regression) or the probability of fraud (classification)."""
        matrix = self.preprocessor.transform(data)
        if self.trees is not None:
            return self.trees.output(matrix, self.kind)
        if self.fortran:
            matrix = np.asfortranarray(matrix)
        with sklearn.config_context(**_FAST_CONFIG):
            if self.kind == "classification":
                return self.estimator.predict_proba(matrix)[:, 1]
            return self.estimator.predict(matrix)


def pipeline_output(pipeline: Pipeline, frame: pd.DataFrame, kind: str) -> np.ndarray:
    """What ``ModelTask.predictions`` returns, for an already converted model frame."""
    if kind == "classification":
        return pipeline.predict_proba(frame)[:, 1]
    return pipeline.predict(frame)


def probe_rows(pipeline: Pipeline, spec: FeatureSpec, n: int = PROBE_ROWS, seed: int = 0):
    """Raw feature rows that exercise every fitted value of ``pipeline``.

    Numbers around the imputers' statistics with some missing, every category each encoder
    knows, the imputation fill value, an unseen category and missing values.
    """
    rng = np.random.default_rng(seed)
    known: dict[str, list[str]] = {}
    centers: dict[str, float] = {}
    encode = next(s for s in _steps(pipeline.steps[0][1]) if isinstance(s, ColumnTransformer))
    for _, transformer, columns in encode.transformers_:
        if not isinstance(columns, list) or transformer in ("drop", "passthrough"):
            continue
        last = _steps(transformer)[-1]
        first = _steps(transformer)[0]
        for i, column in enumerate(columns):
            if hasattr(last, "categories_"):
                known[column] = [str(c) for c in last.categories_[i]]
            elif hasattr(first, "statistics_"):
                stat = float(first.statistics_[i])
                centers[column] = stat if math.isfinite(stat) else 0.0
    n = max(n, *(len(v) + 3 for v in known.values()), 1)
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for column in spec.numeric:
        center = centers.get(column, 0.0)
        values = center + (abs(center) + 1.0) * rng.normal(size=n)
        for r in range(n):
            rows[r][column] = None if r % 7 == 3 else float(values[r])
    for column in spec.boolean:
        for r in range(n):
            rows[r][column] = None if r % 11 == 5 else bool(rng.integers(0, 2))
    for column in (*spec.categorical, *spec.high_cardinality):
        choices = [*known.get(column, []), UNSEEN_CATEGORY, None]
        for r in range(n):
            rows[r][column] = choices[r % len(choices)]
    return rows


def compile_pipeline(
    pipeline: Pipeline, spec: FeatureSpec, kind: str, *, tolerance: float = 0.0
) -> FastPipeline | None:
    """Compile ``pipeline`` and prove it on probe rows; None when it cannot be used.

    Args:
        pipeline: A fitted ``Pipeline([("features", ...), ("model", ...)])``.
        spec: Its input columns.
        kind: ``"regression"`` or ``"classification"``.
        tolerance: Largest absolute difference accepted (0: bit for bit).
    """
    try:
        fast = FastPipeline(pipeline, spec, kind)
    except (UnsupportedPipelineError, AttributeError, KeyError, TypeError, ValueError) as exc:
        log.warning("fast predict path unavailable (%s): using Pipeline.predict", exc)
        return None
    rows = probe_rows(pipeline, spec)
    inputs = encode_rows(rows, spec)
    singles = range(min(8, len(rows)))
    with warnings.catch_warnings():
        # unseen categories are the point of the probe
        warnings.simplefilter("ignore", UserWarning)

        def expected(batch: list[dict[str, Any]]) -> np.ndarray:
            return pipeline_output(pipeline, to_model_frame(pd.DataFrame(batch), spec), kind)

        # the same batches on both sides: a linear model's BLAS product may round the last
        # bit differently for one row than for many, in scikit-learn itself
        want = np.concatenate([*(expected(rows[r : r + 1]) for r in singles), expected(rows)])
        layout = pipeline[:-1].transform(to_model_frame(pd.DataFrame(rows), spec))
    fast.fortran = bool(layout.flags.f_contiguous and not layout.flags.c_contiguous)
    try:
        # small batches walk the trees in numpy, large ones tree by tree: check both
        got = np.concatenate(
            [*(fast.predict(_slice(inputs, r, r + 1)) for r in singles), fast.predict(inputs)]
        )
    except Exception as exc:  # any failure of the compiled path means: do not use it
        log.warning("fast predict path failed its check (%r): using Pipeline.predict", exc)
        return None
    diff = float(np.max(np.abs(got - want))) if len(want) else 0.0
    if not np.all(np.isfinite(got) == np.isfinite(want)) or diff > tolerance:
        log.warning("fast predict path differs by %g: using Pipeline.predict", diff)
        return None
    fast.max_abs_diff = diff
    return fast


def _slice(data: ModelInput, start: int, stop: int) -> ModelInput:
    return ModelInput(
        data.numeric[start:stop],
        data.flags[start:stop],
        [values[start:stop] for values in data.categories],
        data.spec,
    )
