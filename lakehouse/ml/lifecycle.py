"""Retrain when Gold changed, then promote through the gate (the model half of ``run``)."""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.io.delta import has_new_data
from lakehouse.ml.catalog import TASKS
from lakehouse.ml.datasets import InsufficientDataError
from lakehouse.ml.promotion import PromotionRefusedError, promote
from lakehouse.ml.training import latest_run, train_model

log = logging.getLogger(__name__)


def retrain_changed(spark: SparkSession, settings: Settings) -> list[str]:
    """Train every model whose Gold table has new rows since its last run; promote it.

    A refused promotion or too little data is reported, not raised: the pipeline's data
    steps succeeded and the current champion keeps serving.
    """
    lines = []
    for task in TASKS.values():
        path = settings.table_path(*task.table)
        last = latest_run(settings, task.name)
        since = int(last.data.params["table_version"]) if last else None
        if not has_new_data(spark, path, since):
            reason = f"{task.table.key}@v{since} unchanged" if last else "no Gold rows yet"
            lines.append(f"train   {task.name:<9} skipped: {reason}")
            continue
        try:
            result = train_model(spark, settings, task.name)
        except InsufficientDataError as exc:
            lines.append(f"train   {task.name:<9} skipped: {exc}")
            continue
        lines.append(f"train   {result.summary()}")
        try:
            gate, event = promote(spark, settings, task.name)
        except PromotionRefusedError as exc:
            lines.append(f"promote {task.name:<9} {exc}")
            continue
        lines.append(f"promote {task.name:<9} v{event['version']} is champion: {gate.describe()}")
    return lines
