"""Train, evaluate, log and register a model: ``lakehouse train delivery|fraud``.

``fit_and_evaluate`` is pure (data in, fitted models and metrics out) so that
``lakehouse reproduce`` can rerun exactly the same selection on re-read data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.models import infer_signature

from lakehouse.catalog import qualified_name
from lakehouse.config import SECRET_FIELDS, Settings
from lakehouse.ml.catalog import task_named
from lakehouse.ml.datasets import DatasetLineage, time_split
from lakehouse.ml.profile import PROFILE_ARTIFACT, build_profile
from lakehouse.ml.registry import CHALLENGER, lineage_tags, set_alias
from lakehouse.ml.serialization import SERIALIZATION_FORMAT, pip_requirements, trusted_types
from lakehouse.ml.spark_datasets import read_training_table
from lakehouse.ml.tasks import Evaluation, ModelTask
from lakehouse.ml.tracking import client_for, ensure_experiment, git_commit
from lakehouse.quality.audit import require_passed

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

TASK_TAG = "lakehouse.task"
TABLE_TAG = "lakehouse.table"
TABLE_VERSION_TAG = "lakehouse.table_version"
CONFIG_ARTIFACT = "config.json"
LINEAGE_ARTIFACT = "lineage.json"
MODEL_ARTIFACT = "model"
INPUT_EXAMPLE_ROWS = 5


@dataclass
class TrainingResult:
    """What one training run produced."""

    task: str
    run_id: str
    model_name: str
    model_version: str
    lineage: DatasetLineage
    evaluation: Evaluation

    def summary(self) -> str:
        """Metrics beside the baseline, and the lineage, for the terminal."""
        e = self.evaluation
        metrics = "  ".join(
            f"{name}={value:.4f} (baseline {e.baseline_test.get(name, float('nan')):.4f})"
            for name, value in e.test.items()
        )
        sources = ", ".join(f"{k}@v{v}" for k, v in sorted(self.lineage.source_versions.items()))
        interval = ""
        if e.test_interval is not None:
            interval = f"\n  test primary metric: {e.test_interval.describe()}"
        return (
            f"{self.model_name} v{self.model_version} [{e.best}] run {self.run_id}\n"
            f"  test: {metrics}{interval}\n"
            f"  trained on {self.lineage.table}@v{self.lineage.version} "
            f"({self.lineage.row_count} rows, hash {self.lineage.content_hash[:12]}) "
            f"<- {sources or 'no recorded sources'}"
        )


def load_split(spark: SparkSession, settings: Settings, task: ModelTask, version: int | None):
    """Read the task's Gold rows at ``version`` (newest when None) and split them by time."""
    path = settings.table_path(*task.table)
    frame, lineage = read_training_table(
        spark,
        path,
        task.table.key,
        columns=task.columns(settings),
        row_filter=task.row_filter(),
        order_by=[task.ts, task.key],
        version=version,
    )
    split = time_split(
        frame, task.ts, settings.ml.split.validation_fraction, settings.ml.split.test_fraction
    )
    return split, lineage


def fit_and_evaluate(task: ModelTask, split, settings: Settings) -> Evaluation:
    """Fit every candidate on the training rows, choose on validation, report on test."""
    task.check_data(split, settings)
    X_train, y_train = task.inputs(split.train, settings), task.target(split.train)
    models, candidate_validation = {}, {}
    for name, estimator in task.estimators(settings).items():
        model = task.pipeline(estimator, settings).fit(X_train, y_train)
        models[name] = model
        candidate_validation[name] = task.evaluate(model, split.validation, {}, settings)
        log.info("%s candidate %s: validation %s", task.name, name, candidate_validation[name])
    best = None
    for name, metrics in candidate_validation.items():
        if best is None or task.is_better(
            task.primary(metrics, settings),
            task.primary(candidate_validation[best], settings),
            settings,
        ):
            best = name
    extras = task.tune(models[best], split.validation, settings)
    predicted = task.predictions(models[best], split.test, settings)
    return Evaluation(
        models=models,
        best=best,
        extras=extras,
        validation=task.evaluate(models[best], split.validation, extras, settings),
        test=task.evaluate(models[best], split.test, extras, settings),
        baseline_test=task.baseline_test(split, models, settings),
        candidate_validation=candidate_validation,
        test_interval=task.primary_interval(split.test, predicted, settings),
    )


def _params(task: ModelTask, settings: Settings, split, lineage, evaluation) -> dict[str, Any]:
    params: dict[str, Any] = {
        "task": task.name,
        "table": lineage.table,
        # the same table as users name it: SELECT * FROM <table_name> VERSION AS OF <version>
        "table_name": qualified_name(settings, task.table),
        "table_version": lineage.version,
        "table_row_count": lineage.row_count,
        "table_content_hash": lineage.content_hash,
        "git_commit": git_commit(),
        "config_hash": settings.fingerprint(),
        "seed": settings.ml.seed,
        "model": evaluation.best,
        "rows_train": len(split.train),
        "rows_validation": len(split.validation),
        "rows_test": len(split.test),
        **split.boundaries(),
        **{f"source.{k}": v for k, v in sorted(lineage.source_versions.items())},
        **{k: round(v, 6) if isinstance(v, float) else v for k, v in evaluation.extras.items()},
    }
    for candidate, hyper in task.task_settings(settings).candidates.items():
        params.update({f"{candidate}.{k}": v for k, v in hyper.items()})
    return params


def _metrics(task: ModelTask, settings: Settings, evaluation: Evaluation) -> dict[str, float]:
    metrics = {f"test_{k}": v for k, v in evaluation.test.items()}
    if evaluation.test_interval is not None:
        primary = task.task_settings(settings).primary_metric
        metrics[f"test_{primary}_ci_low"] = evaluation.test_interval.low
        metrics[f"test_{primary}_ci_high"] = evaluation.test_interval.high
    metrics.update({f"validation_{k}": v for k, v in evaluation.validation.items()})
    metrics.update({f"baseline_test_{k}": v for k, v in evaluation.baseline_test.items()})
    for candidate, values in evaluation.candidate_validation.items():
        metrics.update({f"{candidate}_validation_{k}": v for k, v in values.items()})
    return metrics


def train_model(
    spark: SparkSession, settings: Settings, task_name: str, *, version: int | None = None
) -> TrainingResult:
    """Train ``task_name`` on Gold at ``version`` (newest when None), log and register it.

    The new model version takes the ``challenger`` alias; ``lakehouse promote`` decides
    whether it becomes ``champion``.
    """
    task = task_named(task_name)
    task_settings = task.task_settings(settings)
    client = client_for(settings)
    experiment_id = ensure_experiment(client, task_settings.experiment, settings)
    split, lineage = load_split(spark, settings, task, version)
    # a version published despite a failed `fail` check (quality.fail_on_error: false)
    require_passed(spark, settings, task.table, lineage.version)
    evaluation = fit_and_evaluate(task, split, settings)
    model = evaluation.model
    X_example = task.inputs(split.validation.head(INPUT_EXAMPLE_ROWS), settings)
    example_rows = split.validation.head(INPUT_EXAMPLE_ROWS)
    signature = infer_signature(X_example, task.predictions(model, example_rows, settings))
    run_name = f"{task.name}-{lineage.table.split('/')[-1]}-v{lineage.version}-{evaluation.best}"
    tags = {TASK_TAG: task.name, TABLE_TAG: lineage.table, TABLE_VERSION_TAG: str(lineage.version)}
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        dataset = mlflow.data.load_delta(
            path=lineage.path, version=lineage.version, name=lineage.table, targets=task.label
        )
        mlflow.log_input(dataset, context="training")
        mlflow.log_params(_params(task, settings, split, lineage, evaluation))
        mlflow.log_metrics(_metrics(task, settings, evaluation))
        mlflow.log_dict(json.loads(settings_json(settings)), CONFIG_ARTIFACT)
        mlflow.log_dict(lineage.as_dict(), LINEAGE_ARTIFACT)
        spec = task.feature_spec(settings)
        mlflow.log_dict(
            build_profile(
                task.inputs(split.train, settings),
                [*spec.categorical, *spec.high_cardinality],
                task.predictions(model, split.train, settings),
            ),
            PROFILE_ARTIFACT,
        )
        for name, figure in task.figures(evaluation, split, settings).items():
            mlflow.log_figure(figure, f"plots/{name}")
        info = mlflow.sklearn.log_model(
            model,
            name=MODEL_ARTIFACT,
            registered_model_name=task_settings.registered_name,
            signature=signature,
            input_example=X_example,
            serialization_format=SERIALIZATION_FORMAT,
            skops_trusted_types=trusted_types(model),
            pip_requirements=pip_requirements(),
        )
    version_tags = lineage_tags(lineage, run.info.run_id, evaluation.best, evaluation.extras)
    model_version = str(info.registered_model_version)
    for key, value in version_tags.items():
        client.set_model_version_tag(task_settings.registered_name, model_version, key, value)
    set_alias(client, task_settings.registered_name, CHALLENGER, model_version)
    return TrainingResult(
        task=task.name,
        run_id=run.info.run_id,
        model_name=task_settings.registered_name,
        model_version=model_version,
        lineage=lineage,
        evaluation=evaluation,
    )


def settings_json(settings: Settings) -> str:
    """The effective configuration, secrets excluded, as logged with every run."""
    return settings.model_dump_json(exclude=SECRET_FIELDS)


def settings_from_run(logged: dict[str, Any], current: Settings) -> Settings:
    """A run's logged configuration, with today's locations (lake, tracking) kept.

    Reproduction must train exactly as the run did, but the lake may have moved since.
    """
    data = dict(logged)
    data["lake_root"] = current.lake_root
    data["landing_root"] = current.landing_root
    data["ml"] = {
        **data.get("ml", {}),
        "tracking_uri": current.ml.tracking_uri,
        "artifact_root": current.ml.artifact_root,
    }
    return Settings.model_validate(data)


def latest_run(settings: Settings, task_name: str):
    """The newest finished training run of ``task_name``, or None."""
    task = task_named(task_name)
    client = client_for(settings)
    experiment = client.get_experiment_by_name(task.task_settings(settings).experiment)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{TASK_TAG}` = '{task.name}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None
