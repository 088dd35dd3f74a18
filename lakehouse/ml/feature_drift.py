"""The drift step: a new Gold version's newest rows beside the champion's training data.

A champion was trained on one version of its Gold table (the ``lineage.table_version`` tag) and
its run logged a profile of its training inputs (``profile.json``: bins and percentiles, see
``lakehouse.ml.profile``). When the table has a newer version, the rows the champion never saw,
those whose event time is later than the newest row it could train on (labelled or not: drift
is about the inputs the model meets), are compared feature by feature with that profile: the
population stability index (PSI) over the profile's bins for every feature, and the
Kolmogorov-Smirnov distance (KS) to the training percentiles for numbers. A feature drifted
when either reaches its threshold (``ml.retrain``); the retraining policy
(``lakehouse.ml.lifecycle``) retrains on drift.

Each check is recorded in ``audit/feature_drift``, one row per feature, once per task,
champion version and Gold version (a repeated check writes nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config import Settings
from lakehouse.io.delta import append_once, latest_data_version, read_table
from lakehouse.ml.profile import PROFILE_ARTIFACT, ks_distance, psi, shares_of
from lakehouse.ml.registry import LINEAGE_PREFIX
from lakehouse.ml.tasks import ModelTask
from lakehouse.tables import FEATURE_DRIFT

log = logging.getLogger(__name__)

SCHEMA = T.StructType(
    [
        T.StructField("task", T.StringType(), False),
        T.StructField("model_name", T.StringType(), False),
        T.StructField("model_version", T.LongType(), False),
        T.StructField("table", T.StringType(), False),
        T.StructField("trained_version", T.LongType(), False),  # what the champion read
        T.StructField("table_version", T.LongType(), False),  # the version checked
        T.StructField("since", T.TimestampType(), True),  # rows later than this were compared
        T.StructField("rows", T.LongType(), False),  # how many rows are that new
        T.StructField("compared_rows", T.LongType(), False),  # how many were compared (sample)
        # null in the one row of a check with too few new rows to judge
        T.StructField("feature", T.StringType(), True),
        T.StructField("kind", T.StringType(), True),  # numeric or categorical
        T.StructField("psi", T.DoubleType(), True),
        T.StructField("ks", T.DoubleType(), True),  # numbers only
        T.StructField("drifted", T.BooleanType(), False),
        T.StructField("ignored", T.BooleanType(), False),  # ml.retrain.ignore_features
        T.StructField("checked_at", T.TimestampType(), False),
    ]
)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's distance from its training distribution."""

    feature: str | None
    kind: str | None
    psi: float | None
    ks: float | None
    drifted: bool
    ignored: bool = False

    def describe(self) -> str:
        """``distance_km (PSI 0.41, KS 0.22)``."""
        parts = [f"PSI {self.psi:.3f}"] if self.psi is not None else []
        if self.ks is not None:
            parts.append(f"KS {self.ks:.3f}")
        return f"{self.feature} ({', '.join(parts)})"


@dataclass
class DriftCheck:
    """A Gold version's newest rows beside one champion's training data.

    Attributes:
        rows: Rows newer than ``since`` in the checked version.
        compared_rows: Of those, how many were compared (at most ``ml.retrain.max_rows``).
        features: Per feature, empty when too few rows were new (``judged`` is then False).
    """

    task: str
    model_name: str
    model_version: str
    table: str
    trained_version: int
    table_version: int
    since: datetime | None
    rows: int
    compared_rows: int
    features: list[FeatureDrift] = field(default_factory=list)
    judged: bool = True

    @property
    def drifted(self) -> list[FeatureDrift]:
        """The features at or above a threshold."""
        return [f for f in self.features if f.drifted]

    def describe(self) -> str:
        """One line for the terminal."""
        head = (
            f"{self.table}@v{self.table_version}: {self.rows:,} rows newer than "
            f"{self.model_name} v{self.model_version}'s training data "
            f"({self.table}@v{self.trained_version})"
        )
        if not self.judged:
            return f"{head}, too few to judge"
        if self.drifted:
            worst = sorted(self.drifted, key=_severity, reverse=True)
            shown = ", ".join(f.describe() for f in worst[:3])
            more = f" and {len(worst) - 3} more" if len(worst) > 3 else ""
            return f"{head}: {len(worst)} of {len(self.features)} features drifted: {shown}{more}"
        largest = max((f for f in self.features if not f.ignored), key=_severity, default=None)
        tail = f" (largest: {largest.describe()})" if largest else ""
        return f"{head}: no feature drifted{tail}"


def _severity(feature: FeatureDrift) -> float:
    return max(feature.psi or 0.0, feature.ks or 0.0)


def compare(
    profile: dict[str, Any],
    inputs: pd.DataFrame,
    psi_threshold: float,
    ks_threshold: float,
    ignore: Collection[str] = (),
) -> list[FeatureDrift]:
    """Every profiled feature of ``inputs`` (model input columns) against ``profile``; those
    in ``ignore`` are measured but never drifted."""
    out = []
    for name, feature in profile.get("features", {}).items():
        if name not in inputs.columns:
            continue
        values = inputs[name].tolist()
        distance = psi(feature["shares"], shares_of(feature, values))
        ks = ks_distance(feature, values)
        far = distance >= psi_threshold or (ks is not None and ks >= ks_threshold)
        ignored = name in ignore
        out.append(FeatureDrift(name, feature["kind"], distance, ks, far and not ignored, ignored))
    return out


def training_profile(version: ModelVersion) -> dict[str, Any] | None:
    """The profile logged with the version's training run (None for a run without one)."""
    try:
        return mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{PROFILE_ARTIFACT}")
    except Exception as exc:  # an old run, or an artifact store that lost it
        log.warning("drift: no training profile for run %s (%s)", version.run_id, exc)
        return None


def trained_until(
    spark: SparkSession, path: str, task: ModelTask, version: int, champion: ModelVersion
) -> datetime | None:
    """The newest event time the champion could train on: in the Gold version it read; or,
    once files of that version are gone (erased by ``lakehouse forget``, or vacuumed), the
    start of its run's test split (its test rows are then compared too)."""
    try:
        return (
            read_table(spark, path, version=version)
            .where(task.row_filter())
            .agg(F.max(task.ts))
            .first()[0]
        )
    except Exception as exc:  # FAILED_READ_FILE.FILE_NOT_EXIST, or the log itself gone
        log.warning(
            "drift: %s@v%d cannot be read back (%s); using the run's test split start",
            task.table.key,
            version,
            type(exc).__name__,
        )
    start = mlflow.get_run(champion.run_id).data.params.get("split_test_start")
    return None if start is None else datetime.fromisoformat(start)


def check_drift(
    spark: SparkSession, settings: Settings, task: ModelTask, champion: ModelVersion
) -> DriftCheck | None:
    """Compare the newest Gold version's new rows with ``champion``'s training data, and
    record the result. None when there is nothing to compare: no newer Gold version, or no
    training profile or lineage for the champion."""
    trained = champion.tags.get(f"{LINEAGE_PREFIX}table_version")
    path = settings.table_path(*task.table)
    latest = latest_data_version(spark, path)
    if trained is None or latest is None or latest <= int(trained):
        return None
    profile = training_profile(champion)
    if profile is None:
        return None
    policy = settings.ml.retrain
    since = trained_until(spark, path, task, int(trained), champion)
    newer = read_table(spark, path, version=latest)
    if since is not None:
        newer = newer.where(F.col(task.ts) > F.lit(since))
    columns = task.feature_spec(settings).columns
    newer = newer.select(*columns)
    rows = newer.count()
    if rows > policy.max_rows:
        share = min(1.0, policy.max_rows * 1.05 / rows)
        newer = newer.sample(fraction=share, seed=settings.ml.seed).limit(policy.max_rows)
    check = DriftCheck(
        task=task.name,
        model_name=champion.name,
        model_version=str(champion.version),
        table=task.table.key,
        trained_version=int(trained),
        table_version=latest,
        since=since,
        rows=rows,
        compared_rows=0,
        judged=rows >= policy.min_rows,
    )
    if check.judged:
        inputs = task.inputs(newer.toPandas(), settings)
        check.compared_rows = len(inputs)
        check.features = compare(
            profile, inputs, policy.psi_threshold, policy.ks_threshold, policy.ignore_features
        )
    record(spark, settings, check)
    return check


def record(spark: SparkSession, settings: Settings, check: DriftCheck) -> None:
    """Append the check's rows to ``audit/feature_drift``, once per task, champion version and
    Gold version. A check too small to judge is recorded as one row without a feature."""
    now = datetime.now(UTC).replace(tzinfo=None)
    base = (
        check.task,
        check.model_name,
        int(check.model_version),
        check.table,
        check.trained_version,
        check.table_version,
        check.since,
        check.rows,
        check.compared_rows,
    )
    features = check.features or [FeatureDrift(None, None, None, None, False)]
    rows = [(*base, f.feature, f.kind, f.psi, f.ks, f.drifted, f.ignored, now) for f in features]
    frame = spark.createDataFrame(rows, SCHEMA)
    app_id = f"lakehouse-feature-drift-{check.task}-v{check.model_version}"
    append_once(
        frame, settings.table_path(*FEATURE_DRIFT), app_id=app_id, batch_id=check.table_version
    )
