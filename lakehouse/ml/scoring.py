"""Batch scoring: ``lakehouse score delivery|fraud`` writes predictions for Gold rows.

The model version is the one the service answers with (``champion`` unless told otherwise),
applied with ``mapInPandas`` to a pinned version of the Gold table, so batch and online
predictions of the same records can be compared. The output table records which Gold
version and which model version it holds; scoring the same Gold version with the same model
again writes nothing (re-running a step on the same input changes no table). Every batch
prediction is also appended to ``audit/inference_log`` (``source`` = batch), once per model
version and Gold version.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from lakehouse.config import Settings
from lakehouse.inference_log import BATCH
from lakehouse.io.delta import (
    history,
    last_commit_metadata,
    latest_version,
    overwrite_with_sources,
    read_table,
)
from lakehouse.ml.catalog import task_named
from lakehouse.ml.fraud import THRESHOLD
from lakehouse.ml.registry import CHAMPION, alias_version, load_model
from lakehouse.ml.tasks import ModelTask
from lakehouse.ml.tracking import client_for
from lakehouse.pipeline.inference_log import append_rows
from lakehouse.tables import GOLD_DELIVERY_PREDICTIONS, GOLD_FRAUD_SCORES, Table

log = logging.getLogger(__name__)

OUTPUT_TABLES: dict[str, Table] = {
    "delivery": GOLD_DELIVERY_PREDICTIONS,
    "fraud": GOLD_FRAUD_SCORES,
}
PREDICTION = "prediction"
FEATURES_HASH = "_features_hash"
MODEL_KEY = "model"
MODEL_VERSION_KEY = "model_version"


class ScoringError(RuntimeError):
    """Nothing to score with or nothing to score."""


@dataclass
class ScoringResult:
    """What one scoring run wrote."""

    task: str
    model_name: str
    model_version: str
    source: str
    source_version: int
    output: str
    output_version: int | None
    rows: int | None
    skipped: bool

    def summary(self) -> str:
        """One line for the terminal."""
        model = f"{self.model_name} v{self.model_version}"
        source = f"{self.source}@v{self.source_version}"
        if self.skipped:
            return f"score   {self.task:<9} {source} already scored by {model}: unchanged"
        return (
            f"score   {self.task:<9} {source} by {model} -> {self.output}@v{self.output_version} "
            f"({self.rows} rows)"
        )


def with_predictions(
    df: DataFrame, task: ModelTask, model: Any, settings: Settings, keep: list[str]
) -> DataFrame:
    """``keep`` columns of ``df`` plus ``prediction``: the model's output for every row.

    The rows go through ``task.predictions``, the same conversion (``to_model_frame``) and
    pipeline that training evaluated, one Arrow batch at a time.
    """
    spec_columns = task.feature_spec(settings).columns
    fields = [df.schema[c] for c in keep]
    schema = StructType([*fields, StructField(PREDICTION, DoubleType(), True)])

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from threadpoolctl import threadpool_limits

        # one thread per Python worker: Spark already runs a worker per core
        with threadpool_limits(1):
            for batch in batches:
                out = batch[keep].copy()
                out[PREDICTION] = task.predictions(model, batch, settings).astype("float64")
                yield out

    columns = list(dict.fromkeys([*keep, *spec_columns]))
    return df.select(*columns).mapInPandas(predict, schema)


def _days_half_up(days: str) -> Any:
    # as the service rounds: half up, never negative (serving.predict.round_half_up_days)
    return F.floor(F.greatest(F.col(days), F.lit(0.0)) + F.lit(0.5)).cast("int")


def delivery_output(scored_df: DataFrame) -> DataFrame:
    """``gold/delivery_predictions`` columns from scored delivery rows.

    The order date is Gold's (``to_date(event_ts)`` in the session's UTC), the predicted date
    that plus the predicted days rounded half up, as the service answers.
    """
    order_date = F.to_date("event_ts")
    return scored_df.select(
        "record_id",
        "event_ts",
        order_date.alias("order_date"),
        F.col(PREDICTION).alias("predicted_delivery_days"),
        F.date_add(order_date, _days_half_up(PREDICTION)).alias("predicted_delivery_date"),
    )


def fraud_output(scored_df: DataFrame, threshold: float) -> DataFrame:
    """``gold/fraud_scores`` columns from scored fraud rows."""
    return scored_df.select(
        "transaction_id",
        "transaction_ts",
        F.col(PREDICTION).alias("fraud_probability"),
        (F.col(PREDICTION) >= F.lit(threshold)).alias("is_fraud"),
        F.lit(threshold).alias("decision_threshold"),
    )


def features_hash_column(columns: list[str]) -> Any:
    """A hash of each row's model inputs (SHA-256 of their JSON, 32 hex digits): the batch
    log's ``features_hash``. Comparable between batch runs, not with the service's hashes."""
    return F.substring(F.sha2(F.to_json(F.struct(*columns)), 256), 1, 32)


def inference_log_rows(
    scored: DataFrame,
    task: ModelTask,
    run_id: str,
    name: str,
    version: int,
    alias: str,
    pinned_version: str | None,
    threshold: float | None,
) -> DataFrame:
    """Scored rows as ``audit/inference_log`` rows (``source`` = batch)."""
    logged_at = F.current_timestamp()
    prediction = F.col(PREDICTION).cast("double")
    no_threshold = threshold is None
    return scored.select(
        F.lit(run_id).alias("request_id"),
        logged_at.alias("logged_at"),
        F.lit(BATCH).alias("source"),
        F.lit("lakehouse score").alias("replica"),
        F.lit(task.name).alias("task"),
        F.lit(name).alias("model_name"),
        F.lit(version).cast("long").alias("model_version"),
        F.lit(None if pinned_version is not None else alias).cast("string").alias("model_alias"),
        F.col(task.key).cast("string").alias("record_id"),
        F.col(task.ts).cast("timestamp").alias("event_ts"),
        F.col(FEATURES_HASH).alias("features_hash"),
        prediction.alias("prediction"),
        (F.lit(None) if no_threshold else prediction >= F.lit(threshold))
        .cast("boolean")
        .alias("decision"),
        F.lit(threshold).cast("double").alias("threshold"),
        F.to_date(logged_at).alias("day"),
        F.lit(None).cast("string").alias("source_file"),
    )


def with_model_columns(
    df: DataFrame, name: str, version: str, source: str, source_version: int
) -> DataFrame:
    """Which model scored the rows, and which table version they came from."""
    return (
        df.withColumn("model_name", F.lit(name))
        .withColumn("model_version", F.lit(version))
        .withColumn("source_table", F.lit(source))
        .withColumn("source_table_version", F.lit(source_version).cast("long"))
        .withColumn("scored_at", F.current_timestamp())
    )


def _model_version(settings: Settings, name: str, version: str | None, alias: str):
    client = client_for(settings)
    if version is not None:
        try:
            return client.get_model_version(name, version)
        except Exception as exc:
            raise ScoringError(f"{name} has no version {version}") from exc
    found = alias_version(client, name, alias)
    if found is None:
        raise ScoringError(f"{name} has no {alias}: train and promote a model first")
    return found


def score_table(
    spark: SparkSession,
    settings: Settings,
    task_name: str,
    *,
    model_version: str | None = None,
    alias: str = CHAMPION,
    table_version: int | None = None,
) -> ScoringResult:
    """Score every row of the task's Gold table and overwrite its predictions table.

    Args:
        spark: The session.
        settings: The configuration.
        task_name: ``delivery`` or ``fraud``.
        model_version: A registered version; the one holding ``alias`` when None.
        alias: The alias to score with when no version is given.
        table_version: The Gold version to score; the newest when None.

    Raises:
        ScoringError: No such model version or alias, or no Gold table yet.
    """
    task = task_named(task_name)
    name = task.task_settings(settings).registered_name
    version = _model_version(settings, name, model_version, alias)
    source_path = settings.table_path(*task.table)
    pinned = latest_version(spark, source_path) if table_version is None else table_version
    if pinned is None:
        raise ScoringError(f"{task.table.key} does not exist yet: run the pipeline first")
    output = OUTPUT_TABLES[task.name]
    output_path = settings.table_path(*output)
    metadata = {MODEL_KEY: name, MODEL_VERSION_KEY: str(version.version)}
    recorded = last_commit_metadata(spark, output_path)
    result = ScoringResult(
        task=task.name,
        model_name=name,
        model_version=str(version.version),
        source=task.table.key,
        source_version=pinned,
        output=output.key,
        output_version=latest_version(spark, output_path),
        rows=None,
        skipped=False,
    )
    if (
        recorded.get("source_versions") == {task.table.key: pinned}
        and recorded.get(MODEL_KEY) == name
        and recorded.get(MODEL_VERSION_KEY) == str(version.version)
    ):
        result.skipped = True
        return result
    model = load_model(name, version.version)
    features = task.feature_spec(settings).columns
    rows_df = read_table(spark, source_path, version=pinned).withColumn(
        FEATURES_HASH, features_hash_column(features)
    )
    keep = [task.key, task.ts, FEATURES_HASH]
    scored = with_predictions(rows_df, task, model, settings, keep).cache()
    threshold = None
    if task.name == "delivery":
        out_df = delivery_output(scored)
    else:
        # the service's rule when a version carries no threshold (serving.holder)
        threshold = float(version.tags.get(THRESHOLD, settings.serve.default_decision_threshold))
        out_df = fraud_output(scored, threshold)
    out_df = with_model_columns(out_df, name, str(version.version), task.table.key, pinned)
    try:
        # the log first: it is appended once per (model version, Gold version), so a run
        # killed before the overwrite below logs nothing twice when it is run again
        run_id = f"score:{name}:v{version.version}:{task.table.key}@v{pinned}"
        log_df = inference_log_rows(
            scored, task, run_id, name, int(version.version), alias, model_version, threshold
        )
        append_rows(log_df, settings, app_id=run_id, version=0)
        overwrite_with_sources(out_df, output_path, {task.table.key: pinned}, metadata)
    finally:
        scored.unpersist()
    last = history(spark, output_path, 1).first()
    result.output_version = int(last["version"])
    result.rows = int(last["operationMetrics"].get("numOutputRows", 0))
    log.info("%s", result.summary())
    return result
