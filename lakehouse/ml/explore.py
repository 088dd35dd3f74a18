"""Helpers for notebooks: a model's training data by time travel, runs side by side."""

from __future__ import annotations

import mlflow
import pandas as pd
from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.ml.datasets import DatasetLineage
from lakehouse.ml.promotion import task_for_model
from lakehouse.ml.registry import CHAMPION, LINEAGE_PREFIX, alias_version
from lakehouse.ml.tracking import client_for
from lakehouse.ml.training import CONFIG_ARTIFACT, TASK_TAG, load_split, settings_from_run


def training_data(
    spark: SparkSession, settings: Settings, model: str, alias: str = CHAMPION
) -> tuple[pd.DataFrame, DatasetLineage]:
    """The rows the ``alias`` version of ``model`` learned from, re-read by Delta time travel.

    Returns:
        The training split (the rows the model was fitted on) and the lineage of the read.
    """
    task = task_for_model(settings, model)
    name = task.task_settings(settings).registered_name
    version = alias_version(client_for(settings), name, alias)
    if version is None:
        raise LookupError(f"{name} has no {alias}")
    run_settings = settings_from_run(
        mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{CONFIG_ARTIFACT}"), settings
    )
    table_version = int(version.tags[f"{LINEAGE_PREFIX}table_version"])
    split, lineage = load_split(spark, run_settings, task, table_version)
    return split.train, lineage


def runs_table(settings: Settings, task_name: str) -> pd.DataFrame:
    """Every training run of a task, newest first: data version, model, test metrics."""
    from lakehouse.ml.catalog import task_named

    task = task_named(task_name)
    client_for(settings)
    runs = mlflow.search_runs(
        experiment_names=[task.task_settings(settings).experiment],
        filter_string=f"tags.`{TASK_TAG}` = '{task.name}'",
        order_by=["attributes.start_time DESC"],
    )
    if runs.empty:
        return runs
    keep = ["run_id", "start_time", "params.table_version", "params.model"]
    keep += sorted(c for c in runs.columns if c.startswith(("metrics.test_", "metrics.baseline_")))
    return runs[keep].rename(columns=lambda c: c.split(".", 1)[-1])
