"""The promotion gate and rollback: ``lakehouse promote MODEL`` / ``rollback MODEL``.

A challenger becomes champion only when it beats the champion by the configured margin on
the same held-out rows: the test split of the data the challenger was trained on, re-read by
Delta time travel and scored by both models.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.ml.catalog import TASKS
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
    """Both models' primary metric on the same rows."""

    metric: str
    rows: int
    data: str
    challenger_version: str
    challenger_score: float
    champion_version: str | None = None
    champion_score: float | None = None

    def describe(self) -> str:
        """Both scores, for the terminal and the event log."""
        line = (
            f"{self.metric} on {self.rows} held-out rows of {self.data}: "
            f"challenger v{self.challenger_version} {self.challenger_score:.4f}"
        )
        if self.champion_version is not None:
            line += f", champion v{self.champion_version} {self.champion_score:.4f}"
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

    def score(version) -> float:
        model = load_model(version.name, version.version)
        return task.primary(task.evaluate(model, split.test, {}, run_settings), settings)

    result = GateResult(
        metric=metric,
        rows=len(split.test),
        data=f"{lineage.table}@v{table_version}",
        challenger_version=challenger.version,
        challenger_score=score(challenger),
    )
    if champion is not None:
        result.champion_version = champion.version
        result.champion_score = score(champion)
    return result


def promote(spark: SparkSession, settings: Settings, model: str, *, force: bool = False):
    """Give ``champion`` to the challenger if it passes the gate (or ``force``).

    Returns:
        The gate's result.

    Raises:
        PromotionRefusedError: The challenger is not better by the margin (and no ``force``).
        PromotionError: There is no challenger, or it already is the champion.
    """
    task = task_for_model(settings, model)
    task_settings = task.task_settings(settings)
    name = task_settings.registered_name
    client = client_for(settings)
    challenger = alias_version(client, name, CHALLENGER)
    if challenger is None:
        raise PromotionError(f"{name} has no {CHALLENGER}: run `lakehouse train {task.name}`")
    champion = alias_version(client, name, CHAMPION)
    if champion is not None and str(champion.version) == str(challenger.version):
        raise PromotionError(f"{name} v{challenger.version} already is the {CHAMPION}")
    gate = evaluate_gate(spark, settings, task, challenger, champion)
    margin = task_settings.promotion_margin
    passed = champion is None or task.is_better(
        gate.challenger_score, gate.champion_score, settings, margin
    )
    if not passed and not force:
        direction = "higher" if task_settings.greater_is_better else "lower"
        raise PromotionRefusedError(
            f"refused: {gate.describe()}; the challenger must be at least {margin} {direction} "
            f"than the champion (use --force to override, which is recorded)"
        )
    new = str(challenger.version)
    stack = [v for v in champion_stack(client, name) if v != new]
    set_alias(client, name, CHAMPION, challenger.version)
    client.delete_registered_model_alias(name, CHALLENGER)
    event = record_event(
        client,
        name,
        [*stack, new],
        {
            "event": "forced_promotion" if force and not passed else "promotion",
            "version": new,
            "previous": str(champion.version) if champion else None,
            "gate": gate.describe(),
            "passed_gate": passed,
        },
    )
    client.set_model_version_tag(name, challenger.version, "promoted_at", event["at"])
    client.set_model_version_tag(name, challenger.version, "promotion", event["event"])
    log.info("%s v%s is the %s (%s)", name, challenger.version, CHAMPION, event["event"])
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
