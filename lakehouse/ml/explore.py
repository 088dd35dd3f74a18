"""Helpers for notebooks: a model's training data by time travel, runs side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ModelData:
    """The table version a registered model version learned from, by catalog name."""

    model: str
    model_version: str
    table_name: str
    table_version: int
    row_count: int
    content_hash: str
    sources: dict[str, int]

    @property
    def query(self) -> str:
        """The SQL that reads that version: ``SELECT * FROM gold.x VERSION AS OF 3``."""
        return f"SELECT * FROM {self.table_name} VERSION AS OF {self.table_version}"


def model_data(settings: Settings, model: str, alias: str = CHAMPION) -> ModelData:
    """Which data the ``alias`` version of ``model`` learned from, from the registry alone (no
    Spark: a notebook on a remote SQL endpoint reads it by name)."""
    from lakehouse.catalog import qualified_name
    from lakehouse.tables import parse_table

    task = task_for_model(settings, model)
    name = task.task_settings(settings).registered_name
    version = alias_version(client_for(settings), name, alias)
    if version is None:
        raise LookupError(f"{name} has no {alias}")
    tags = version.tags
    return ModelData(
        model=name,
        model_version=str(version.version),
        table_name=qualified_name(settings, parse_table(tags[f"{LINEAGE_PREFIX}table"])),
        table_version=int(tags[f"{LINEAGE_PREFIX}table_version"]),
        row_count=int(tags[f"{LINEAGE_PREFIX}row_count"]),
        content_hash=tags[f"{LINEAGE_PREFIX}content_hash"],
        sources=json.loads(tags.get(f"{LINEAGE_PREFIX}sources", "{}")),
    )


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
