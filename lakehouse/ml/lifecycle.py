"""The retraining policy, then the promotion gate (the model half of ``run``; ``retrain``).

A model is looked at when its Gold table has rows newer than its last training run's version
(otherwise a retrain would read the same data). It is then retrained when:

- it has no champion yet;
- the drift step (``lakehouse.ml.feature_drift``) finds a feature of the rows newer than the
  champion's training data at or above a threshold (``ml.retrain.psi_threshold``,
  ``ks_threshold``);
- the champion's live performance (``gold/model_performance``, its last ``live_days`` days
  with outcomes, once ``min_outcomes`` are known) is worse than its baseline model's figure on
  the champion's test rows: the model no longer beats the simple rule it was chosen over;
- or ``ml.retrain.on_new_data`` is set (any new rows).

A retrained model becomes the challenger and goes through the gate at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.io.delta import has_new_data
from lakehouse.ml.catalog import TASKS
from lakehouse.ml.datasets import InsufficientDataError
from lakehouse.ml.feature_drift import DriftCheck, check_drift
from lakehouse.ml.promotion import PromotionRefusedError, promote
from lakehouse.ml.registry import alias_version
from lakehouse.ml.tasks import ModelTask
from lakehouse.ml.tracking import client_for
from lakehouse.ml.training import latest_run, train_model

log = logging.getLogger(__name__)

CHAMPION = "champion"


@dataclass(frozen=True)
class LiveCheck:
    """The champion's primary metric on the outcomes known so far, beside its baseline's."""

    model: str
    version: str
    metric: str
    live: float | None
    baseline: float | None
    outcomes: int
    positives: int | None
    judged: bool
    below_baseline: bool

    def describe(self) -> str:
        """One line for the terminal."""
        known = f"{self.outcomes:,} outcomes" + (
            f", {self.positives:,} frauds" if self.positives is not None else ""
        )
        head = f"{self.model} v{self.version}: {known}"
        if not self.judged or self.live is None:
            return f"{head}, too few to judge"
        baseline = "unknown" if self.baseline is None else f"{self.baseline:.4f}"
        verdict = "below" if self.below_baseline else "not below"
        return f"{head}: live {self.metric} {self.live:.4f}, {verdict} the baseline's {baseline}"


def live_check(
    settings: Settings, task: ModelTask, champion: ModelVersion, client: MlflowClient
) -> LiveCheck | None:
    """Judge the champion's live figures (None before any of its answers has an outcome)."""
    from lakehouse.gold.model_performance import recent, summarize
    from lakehouse.ml.report import live_performance

    rows = [
        r
        for r in live_performance(settings)
        if r["model_name"] == champion.name and str(r["model_version"]) == str(champion.version)
    ]
    if not rows:
        return None
    policy = settings.ml.retrain
    task_settings = task.task_settings(settings)
    metric = task_settings.primary_metric
    figures = summarize(recent(rows, policy.live_days, max(r["day"] for r in rows)))
    live = figures.get(metric)
    baseline = client.get_run(champion.run_id).data.metrics.get(f"baseline_test_{metric}")
    positives = figures.get("positives")
    judged = figures["outcomes"] >= policy.min_outcomes and (
        positives is None or positives >= policy.min_positives
    )
    below = (
        judged
        and live is not None
        and baseline is not None
        and (live < baseline if task_settings.greater_is_better else live > baseline)
    )
    return LiveCheck(
        champion.name,
        str(champion.version),
        metric,
        live,
        baseline,
        figures["outcomes"],
        positives,
        judged,
        below,
    )


@dataclass
class Decision:
    """Whether to retrain one model, and why (``reasons``; empty: keep the champion)."""

    task: str
    reasons: list[str] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)  # why each check found no reason
    lines: list[str] = field(default_factory=list)
    skipped: str | None = None  # nothing to decide: no new Gold rows
    drift: DriftCheck | None = None
    live: LiveCheck | None = None

    @property
    def retrain(self) -> bool:
        """True when a reason was found."""
        return bool(self.reasons)

    def weigh(self, check: str, line: str | None, reason: str | None, hold: str) -> None:
        """One check's outcome: its line for the terminal (if any), and the reason to retrain
        it found, or else ``hold``, why it found none."""
        if line is not None:
            self.lines.append(f"{check:<7} {self.task:<9} {line}")
        if reason:
            self.reasons.append(reason)
        else:
            self.holds.append(hold)


def decide(spark: SparkSession, settings: Settings, task: ModelTask) -> Decision:
    """Apply the policy to ``task``: the drift step (recorded) and the live check."""
    decision = Decision(task.name)
    path = settings.table_path(*task.table)
    last = latest_run(settings, task.name)
    since = int(last.data.params["table_version"]) if last else None
    if not has_new_data(spark, path, since):
        decision.skipped = f"{task.table.key}@v{since} unchanged" if last else "no Gold rows yet"
        return decision
    client = client_for(settings)
    champion = alias_version(client, task.task_settings(settings).registered_name, CHAMPION)
    if champion is None:
        decision.reasons.append("no champion yet")
        return decision
    drift = decision.drift = check_drift(spark, settings, task, champion)
    if drift is None:
        decision.weigh("drift", None, None, "no training profile to judge drift by")
    else:
        n = len(drift.drifted)
        decision.weigh(
            "drift",
            drift.describe(),
            n and f"{n} feature{'s' if n > 1 else ''} drifted",
            "no feature drifted" if drift.judged else "too few new rows",
        )
    live = decision.live = live_check(settings, task, champion, client)
    if live is None:
        decision.weigh("live", None, None, "no live outcomes yet")
    else:
        decision.weigh(
            "live",
            live.describe(),
            live.below_baseline and f"live {live.metric} below the baseline's",
            f"live {live.metric} not below the baseline's"
            if live.judged
            else "too few live outcomes",
        )
    if settings.ml.retrain.on_new_data:
        decision.reasons.append("new Gold rows (ml.retrain.on_new_data)")
    return decision


@dataclass
class PolicyRun:
    """What the policy did: lines for the terminal, the models whose challenger the gate
    refused or promoted, and the checks it made (for the job's metrics)."""

    lines: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)
    drift: list[DriftCheck] = field(default_factory=list)
    live: list[LiveCheck] = field(default_factory=list)


def retrain_by_policy(
    spark: SparkSession, settings: Settings, names: list[str] | None = None
) -> PolicyRun:
    """Apply the retraining policy to every model (or ``names``); train and promote those it
    picks.

    A refused promotion or too little data is reported, not raised: the pipeline's data
    steps succeeded and the current champion keeps serving.
    """
    out = PolicyRun()
    for task in TASKS.values():
        if names is not None and task.name not in names:
            continue
        decision = decide(spark, settings, task)
        out.lines.extend(decision.lines)
        out.drift.extend([decision.drift] if decision.drift else [])
        out.live.extend([decision.live] if decision.live else [])
        if decision.skipped is not None:
            out.lines.append(f"train   {task.name:<9} skipped: {decision.skipped}")
            continue
        if not decision.retrain:
            out.lines.append(
                f"train   {task.name:<9} skipped: the champion holds ({', '.join(decision.holds)})"
            )
            continue
        out.lines.append(f"retrain {task.name:<9} {'; '.join(decision.reasons)}")
        try:
            result = train_model(spark, settings, task.name)
        except InsufficientDataError as exc:
            out.lines.append(f"train   {task.name:<9} skipped: {exc}")
            continue
        out.lines.append(f"train   {result.summary()}")
        try:
            gate, event = promote(spark, settings, task.name)
        except PromotionRefusedError as exc:
            out.lines.append(f"promote {task.name:<9} {exc}")
            out.refused.append(task.name)
            continue
        out.promoted.append(task.name)
        out.lines.append(
            f"promote {task.name:<9} v{event['version']} is champion: {gate.describe()}"
        )
    return out
