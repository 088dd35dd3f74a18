"""The promotion gate and rollback: ``lakehouse promote MODEL`` / ``rollback MODEL``.

A challenger becomes champion only when it beats the champion on the same held-out rows (the
test split of the data the challenger was trained on, re-read by Delta time travel and scored
by both models) by the configured margin, and beyond chance: the bootstrap interval of its
improvement (paired: both models scored on each resample of the rows) lies above zero.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.ml.catalog import TASKS
from lakehouse.ml.evaluation import Interval
from lakehouse.ml.registry import (
    CHALLENGER,
    CHAMPION,
    LINEAGE_PREFIX,
    alias_version,
    champion_stack,
    load_model,
    record_event,
    set_alias,
)
from lakehouse.ml.tasks import ModelTask
from lakehouse.ml.tracking import client_for
from lakehouse.ml.training import CONFIG_ARTIFACT, load_split, settings_from_run

log = logging.getLogger(__name__)


class PromotionError(RuntimeError):
    """The alias cannot move (nothing to promote, nothing to roll back to, refused)."""


class PromotionRefusedError(PromotionError):
    """The challenger does not beat the champion by the configured margin."""


@dataclass
class GateResult:
    """Both models' primary metric on the same rows, and the challenger's improvement (positive
    when better, whichever way the metric goes) with its bootstrap interval."""

    metric: str
    rows: int
    data: str
    challenger_version: str
    challenger_score: float
    champion_version: str | None = None
    champion_score: float | None = None
    improvement: Interval | None = None

    def passes(self, margin: float) -> bool:
        """No champion yet, or an improvement of at least ``margin`` whose interval lies above
        zero (a challenger better on these rows by chance alone does not pass)."""
        if self.improvement is None:
            return self.champion_version is None
        return self.improvement.point >= margin and self.improvement.low > 0

    def describe(self) -> str:
        """Both scores, for the terminal and the event log."""
        line = (
            f"{self.metric} on {self.rows} held-out rows of {self.data}: "
            f"challenger v{self.challenger_version} {self.challenger_score:.4f}"
        )
        if self.champion_version is not None:
            line += f", champion v{self.champion_version} {self.champion_score:.4f}"
        if self.improvement is not None:
            line += f"; improvement {self.improvement.describe()}"
        return line


def task_for_model(settings: Settings, model: str) -> ModelTask:
    """The task whose registered name (or task name) is ``model``."""
    for task in TASKS.values():
        if model in (task.name, task.task_settings(settings).registered_name):
            return task
    names = sorted(t.task_settings(settings).registered_name for t in TASKS.values())
    raise PromotionError(f"unknown model {model!r}: expected one of {names}")


def evaluate_gate(spark: SparkSession, settings: Settings, task: ModelTask, challenger, champion):
    """Score challenger and champion on the challenger's test rows, re-read by time travel."""
    run_settings = settings_from_run(
        mlflow.artifacts.load_dict(f"runs:/{challenger.run_id}/{CONFIG_ARTIFACT}"), settings
    )
    table_version = int(challenger.tags[f"{LINEAGE_PREFIX}table_version"])
    split, lineage = load_split(spark, run_settings, task, table_version)
    expected = challenger.tags.get(f"{LINEAGE_PREFIX}content_hash")
    if expected and lineage.content_hash != expected:
        raise PromotionError(
            f"{lineage.table}@v{table_version} no longer holds the data challenger "
            f"v{challenger.version} was trained on (content hash changed)"
        )
    metric = task.task_settings(settings).primary_metric

    def predict(version):
        model = load_model(version.name, version.version)
        return task.predictions(model, split.test, run_settings)

    def score(predicted) -> float:
        return task.metric(metric, run_settings)(task.target(split.test).to_numpy(), predicted)

    predicted = predict(challenger)
    result = GateResult(
        metric=metric,
        rows=len(split.test),
        data=f"{lineage.table}@v{table_version}",
        challenger_version=str(challenger.version),
        challenger_score=score(predicted),
    )
    if champion is not None:
        baseline = predict(champion)
        result.champion_version = str(champion.version)
        result.champion_score = score(baseline)
        result.improvement = task.primary_interval(
            split.test, predicted, settings, baseline=baseline
        )
    return result


def promote(spark: SparkSession, settings: Settings, model: str, *, force: bool = False):
    """Give ``champion`` to the challenger if it passes the gate (or ``force``).

    A promotion moves the champion alias, then removes the challenger's and logs the event; one
    that stopped right after the move (killed, or the tracking server went away) left both
    aliases on one version, and the next ``promote`` finishes it, so a retry succeeds.

    Returns:
        The gate's result and the recorded event.

    Raises:
        PromotionRefusedError: The challenger is not better by the margin (and no ``force``).
        PromotionError: There is no challenger.
    """
    task = task_for_model(settings, model)
    task_settings = task.task_settings(settings)
    name = task_settings.registered_name
    client = client_for(settings)
    challenger = alias_version(client, name, CHALLENGER)
    champion = alias_version(client, name, CHAMPION)
    if (
        challenger is not None
        and champion is not None
        and str(challenger.version) == str(champion.version)
    ):
        return _finish_interrupted(spark, settings, task, client, champion)
    if challenger is None:
        raise PromotionError(f"{name} has no {CHALLENGER}: run `lakehouse train {task.name}`")
    gate = evaluate_gate(spark, settings, task, challenger, champion)
    margin = task_settings.promotion_margin
    passed = gate.passes(margin)
    if not passed and not force:
        direction = "higher" if task_settings.greater_is_better else "lower"
        raise PromotionRefusedError(
            f"refused: {gate.describe()}; the challenger must be at least {margin} {direction} "
            f"than the champion, with the improvement's interval above zero (use --force to "
            f"override, which is recorded)"
        )
    set_alias(client, name, CHAMPION, challenger.version)
    event = _finish_move(
        client,
        name,
        str(challenger.version),
        {
            "event": "forced_promotion" if force and not passed else "promotion",
            "previous": str(champion.version) if champion else None,
            "gate": gate.describe(),
            "passed_gate": passed,
        },
    )
    log.info("%s v%s is the %s (%s)", name, challenger.version, CHAMPION, event["event"])
    return gate, event


def _finish_move(client, name: str, version: str, event: dict) -> dict:
    """What follows the champion alias's move to ``version``: the challenger alias removed,
    the version on top of the champion stack, the event logged, the version tagged."""
    client.delete_registered_model_alias(name, CHALLENGER)
    stack = [v for v in champion_stack(client, name) if v != version]
    event = record_event(client, name, [*stack, version], {**event, "version": version})
    client.set_model_version_tag(name, version, "promoted_at", event["at"])
    client.set_model_version_tag(name, version, "promotion", event["event"])
    return event


def _finish_interrupted(spark, settings: Settings, task: ModelTask, client, champion):
    """Finish a promotion that stopped right after the alias moved, as the interrupted run
    would have (its gate's outcome is lost: the event says so). The model is scored first: a
    failed read leaves the state as it was, for the next retry."""
    name, version = champion.name, str(champion.version)
    gate = evaluate_gate(spark, settings, task, champion, None)
    stack = [v for v in champion_stack(client, name) if v != version]
    event = _finish_move(
        client,
        name,
        version,
        {
            "event": "promotion_completed",
            "previous": stack[-1] if stack else None,
            "gate": f"{gate.describe()} (the interrupted promotion's comparison was not kept)",
            "passed_gate": None,
        },
    )
    log.warning("%s v%s: finished an interrupted promotion to %s", name, version, CHAMPION)
    return gate, event


def rollback(settings: Settings, model: str) -> tuple[str, str]:
    """Move ``champion`` back to the previous champion.

    Returns:
        ``(from_version, to_version)``.
    """
    task = task_for_model(settings, model)
    name = task.task_settings(settings).registered_name
    client = client_for(settings)
    champion = alias_version(client, name, CHAMPION)
    if champion is None:
        raise PromotionError(f"{name} has no {CHAMPION} to roll back")
    stack = champion_stack(client, name)
    current = str(champion.version)
    if stack and stack[-1] == current:
        stack = stack[:-1]
    if not stack:
        raise PromotionError(f"{name} v{champion.version} has no previous {CHAMPION}")
    previous = stack[-1]
    set_alias(client, name, CHAMPION, previous)
    record_event(
        client,
        name,
        stack,
        {"event": "rollback", "version": previous, "previous": current},
    )
    client.set_model_version_tag(name, champion.version, "rolled_back", "true")
    return current, previous
