"""The model registry's side of an erasure (``lakehouse.erasure``): which training runs read
the erased rows, tags that say how many, and input examples (real rows) removed from their
models' artifacts."""

from __future__ import annotations

import logging

from mlflow.entities import ViewType
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config import Settings
from lakehouse.io.delta import read_table
from lakehouse.ml.tracking import client_for
from lakehouse.ml.training import TASK_TAG

log = logging.getLogger(__name__)


def matching(rows: DataFrame, identifiers: DataFrame, condition: Column) -> DataFrame:
    """The rows of a table (``t``) that match ``condition`` with any identifier (``s``)."""
    return rows.alias("t").join(F.broadcast(identifiers.alias("s")), condition, "left_semi")


# run and model-version tags: rows of their training data that one request erased
ERASED_TAG_PREFIX = "lakehouse.erased_rows."
# MLflow's files that hold real rows of a model's input
INPUT_EXAMPLE_FILES = ("input_example.json", "serving_input_example.json")


def erased_rows(tags: dict[str, str]) -> int:
    """Training rows erased from a run's data, by every request (its tags)."""
    return sum(int(v) for k, v in tags.items() if k.startswith(ERASED_TAG_PREFIX))


def training_runs(settings: Settings) -> list:
    """Every lakehouse training run in the tracking store."""
    client = client_for(settings)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    if not experiments:
        return []
    runs = client.search_runs(
        [e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=50000
    )
    return [run for run in runs if TASK_TAG in run.data.tags]


def count_training_rows(
    spark: SparkSession, settings: Settings, identifiers: DataFrame, conditions: dict[str, Column]
) -> dict[str, int]:
    """Run id -> the subjects' rows in the table version it trained on (read before they are
    erased). A version no longer readable (vacuumed) holds nothing more to erase."""
    counts: dict[tuple[str, int], int] = {}
    found = {}
    for run in training_runs(settings):
        table, version = run.data.params.get("table"), run.data.params.get("table_version")
        if table not in conditions or version is None:
            continue
        at = (table, int(version))
        if at not in counts:
            path = settings.table_path(*table.split("/", 1))
            try:
                rows = read_table(spark, path, version=at[1])
                counts[at] = matching(rows, identifiers, conditions[table]).count()
            except Exception as exc:  # its files are gone: nothing to count
                log.warning("%s@v%d is not readable any more: %s", table, at[1], type(exc).__name__)
                counts[at] = 0
        if counts[at]:
            found[run.info.run_id] = counts[at]
    return found


def mark_runs(settings: Settings, request: str, runs: dict[str, int]) -> tuple[dict[str, int], int]:
    """Tag each run and its model versions with the rows ``request`` erased from its data, and
    remove their models' input examples; (the runs, models whose examples were removed)."""
    client = client_for(settings)
    removed = 0
    for run_id, rows in runs.items():
        client.set_tag(run_id, f"{ERASED_TAG_PREFIX}{request}", str(rows))
        for version in client.search_model_versions(f"run_id = '{run_id}'"):
            client.set_model_version_tag(
                version.name, version.version, f"{ERASED_TAG_PREFIX}{request}", str(rows)
            )
            removed += _remove_examples(client, version)
    return runs, removed


def _remove_examples(client, version) -> int:
    """Delete the input example files of a model version's artifacts; 1 when any was there."""
    model_id = getattr(version, "model_id", None)
    if not model_id and (version.source or "").startswith("models:/"):
        model_id = version.source.removeprefix("models:/").split("/", 1)[0]
    if not model_id:
        return 0
    location = client.get_logged_model(model_id).artifact_location
    repository = get_artifact_repository(location)
    present = {info.path.rsplit("/", 1)[-1] for info in repository.list_artifacts()}
    gone = [name for name in INPUT_EXAMPLE_FILES if name in present]
    for name in gone:
        repository.delete_artifacts(name)
    return int(bool(gone))
