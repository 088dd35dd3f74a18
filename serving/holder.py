"""The model holder: the loaded champion (and challenger) of every task, swapped atomically.

A request reads ``slot.champion`` once and keeps that object to the end, so a swap (one
attribute assignment) never changes the model under a request in flight: requests that
started before it finish on the old version, later ones get the new one. Loading happens
off the event loop (``serving.watcher``); a version that fails to load is reported and the
old one keeps serving. ``ModelHolder.held_models`` publishes what is held as read-only
``HeldModel`` records: the metrics and the drift monitor read those, never the slots.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from lakehouse.config import Settings
from lakehouse.ml.catalog import TASKS
from lakehouse.ml.fraud import THRESHOLD
from lakehouse.ml.preprocessing import FeatureSpec, to_model_frame
from lakehouse.ml.profile import PROFILE_ARTIFACT
from lakehouse.ml.registry import CHALLENGER, CHAMPION, LINEAGE_PREFIX, alias_version
from lakehouse.ml.tasks import ModelTask
from serving.drift import DriftWindow
from serving.fastpath import FastPipeline, compile_pipeline, encode_rows, pipeline_output
from serving.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(eq=False)
class LoadedModel:
    """One registered model version, loaded and ready to predict.

    Attributes:
        task: ``delivery`` or ``fraud``.
        name: Registered model name.
        version: Registered version.
        run_id: The training run.
        candidate: Which candidate won (e.g. ``gradient_boosting``).
        lineage_table: The Gold table it was trained on (``layer/name``).
        lineage_table_version: That table's Delta version.
        lineage_sources: The Silver versions behind that Gold version.
        threshold: The fraud decision threshold (None for regression).
        pipeline: The scikit-learn Pipeline.
        fast: The compiled fast path, or None when the pipeline itself predicts.
        profile: The training-data profile (None when the run logged none: no drift metric).
        loaded_at: When it was loaded.
        load_seconds: How long loading and checking took.
        drift: Recent inputs and outputs, for PSI.
    """

    task: str
    name: str
    version: str
    run_id: str | None
    candidate: str | None
    lineage_table: str | None
    lineage_table_version: int | None
    lineage_sources: dict[str, int]
    threshold: float | None
    pipeline: Any
    spec: FeatureSpec
    kind: str
    fast: FastPipeline | None
    profile: dict[str, Any] | None
    loaded_at: datetime
    load_seconds: float
    drift: DriftWindow

    def predict(self, rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, Any]:
        """Outputs for raw feature rows (days, or fraud probabilities), and the model input.

        The fast path when it passed its check, else ``Pipeline.predict`` on
        ``to_model_frame``, the one conversion training used.
        """
        if self.fast is not None:
            inputs = encode_rows(rows, self.spec)
            return self.fast.predict(inputs), inputs
        frame = to_model_frame(pd.DataFrame(list(rows)), self.spec)
        return pipeline_output(self.pipeline, frame, self.kind), frame

    def describe(self) -> dict[str, Any]:
        """What ``/v1/models`` shows about it."""
        return {
            "version": self.version,
            "run_id": self.run_id,
            "candidate": self.candidate,
            "trained_on": {
                "table": self.lineage_table,
                "version": self.lineage_table_version,
                "sources": self.lineage_sources,
            },
            "decision_threshold": self.threshold,
            "fast_path": self.fast is not None,
            "fast_path_max_abs_diff": None if self.fast is None else self.fast.max_abs_diff,
            "has_training_profile": self.profile is not None,
            "loaded_at": self.loaded_at,
            "load_seconds": round(self.load_seconds, 3),
        }


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def load_version(task: ModelTask, settings: Settings, version: Any) -> LoadedModel:
    """Load a registered version (an MLflow ``ModelVersion``), compile and check its fast path.

    Raises:
        Exception: Whatever loading raises; the caller keeps the old version serving.
    """
    import mlflow

    from lakehouse.ml.registry import load_model
    from lakehouse.ml.tracking import client_for

    started = time.perf_counter()
    client_for(settings)  # models:/ and runs:/ URIs resolve against MLflow's global store
    pipeline = load_model(version.name, version.version)
    spec = task.feature_spec(settings)
    fast = compile_pipeline(pipeline, spec, task.kind)
    tags = dict(version.tags or {})
    profile = None
    if version.run_id:
        try:
            profile = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{PROFILE_ARTIFACT}")
        except Exception as exc:  # an older run without a profile still serves, without drift
            log.warning(
                "%s v%s: no training profile (%s); drift metrics are off for it",
                version.name,
                version.version,
                type(exc).__name__,
            )
    threshold = None
    if task.kind == "classification":
        raw = tags.get(THRESHOLD)
        threshold = float(raw) if raw is not None else settings.serve.default_decision_threshold
        if raw is None:
            log.warning(
                "%s v%s has no %s tag: deciding at %s",
                version.name,
                version.version,
                THRESHOLD,
                threshold,
            )
    model = LoadedModel(
        task=task.name,
        name=version.name,
        version=str(version.version),
        run_id=version.run_id,
        candidate=tags.get("candidate"),
        lineage_table=tags.get(f"{LINEAGE_PREFIX}table"),
        lineage_table_version=_int_or_none(tags.get(f"{LINEAGE_PREFIX}table_version")),
        lineage_sources=json.loads(tags.get(f"{LINEAGE_PREFIX}sources", "{}")),
        threshold=threshold,
        pipeline=pipeline,
        spec=spec,
        kind=task.kind,
        fast=fast,
        profile=profile,
        loaded_at=datetime.now(UTC),
        load_seconds=0.0,
        drift=DriftWindow(settings.serve.drift_window_rows),
    )
    model.load_seconds = time.perf_counter() - started
    return model


@dataclass(frozen=True)
class HeldModel:
    """One loaded model under one alias, as others may read it (a snapshot of the slot).

    Attributes:
        task: ``delivery`` or ``fraud``.
        alias: ``champion`` or ``challenger``.
        name: Registered model name.
        version: Registered version.
        lineage_table: The Gold table it was trained on (``layer/name``).
        lineage_table_version: That table's Delta version.
        fast_path: Whether the compiled fast path predicts.
        profile: The training-data profile (None: no drift metric).
        drift: The model's window of recent inputs (it keeps moving: read it with
            ``DriftWindow.snapshot``).
    """

    task: str
    alias: str
    name: str
    version: str
    lineage_table: str | None
    lineage_table_version: int | None
    fast_path: bool
    profile: dict[str, Any] | None
    drift: DriftWindow

    @classmethod
    def of(cls, model: LoadedModel, alias: str) -> HeldModel:
        """The record of ``model`` held as ``alias``."""
        return cls(
            task=model.task,
            alias=alias,
            name=model.name,
            version=model.version,
            lineage_table=model.lineage_table,
            lineage_table_version=model.lineage_table_version,
            fast_path=model.fast is not None,
            profile=model.profile,
            drift=model.drift,
        )


@dataclass
class LoadFailure:
    """A version that could not be loaded."""

    version: str
    error: str
    at: float  # time.monotonic()
    at_wall: datetime = field(default_factory=lambda: datetime.now(UTC))


class ModelSlot:
    """One task's models: what the registry says and what is loaded.

    Attributes:
        task: The task.
        name: Registered model name.
        champion: The loaded champion (None until the first load succeeds).
        challenger: The loaded challenger, when canary or shadow scoring wants one.
        previous: The champion before the last swap, kept so a rollback is instant.
        registry: Alias -> version as the registry said at the last poll.
        failure: The last version that failed to load, while it is the aliased one.
        checked_at: When the registry was last polled.
    """

    def __init__(self, task: ModelTask, name: str) -> None:
        self.task = task
        self.name = name
        self.champion: LoadedModel | None = None
        self.challenger: LoadedModel | None = None
        self.previous: LoadedModel | None = None
        self.registry: dict[str, str | None] = {CHAMPION: None, CHALLENGER: None}
        self.failures: dict[str, LoadFailure] = {}
        self.checked_at: datetime | None = None
        self.registry_error: str | None = None

    def held(self) -> dict[str, LoadedModel]:
        """Alias -> loaded model, for the models answering requests."""
        held = {}
        if self.champion is not None:
            held[CHAMPION] = self.champion
        if self.challenger is not None:
            held[CHALLENGER] = self.challenger
        return held

    def status(self) -> dict[str, Any]:
        """Readiness of this task's models, for ``/ready`` and ``/v1/models``.

        ``state`` is one of ``ready`` (the registry's champion answers), ``loading`` (a
        champion is being loaded), ``degraded`` (a newer champion failed to load and an older
        one answers), ``failed`` (the champion failed to load and nothing answers),
        ``no_champion`` (the registry has no champion for the model) or ``unknown`` (the
        registry has not answered yet). ``message`` says what to do when nothing answers.
        """
        wanted = self.registry.get(CHAMPION)
        serving = self.champion.version if self.champion else None
        failure = self.failures.get(CHAMPION)
        state, message = "ready", None
        if serving is not None:
            if wanted is not None and wanted != serving:
                # still loading the new champion, or it failed and the old one keeps serving
                state = "degraded" if failure else "loading"
        elif self.checked_at is None:
            state = "unknown"
            why = self.registry_error or "polling"
            message = f"the model registry has not answered yet ({why})"
        elif wanted is None:
            state = "no_champion"
            message = (
                f"model {self.name!r} has no {CHAMPION!r} alias in the registry yet: train "
                f"one (`lakehouse train {self.task.name}`) and promote it "
                f"(`lakehouse promote {self.task.name}`)"
            )
        elif failure is not None:
            state = "failed"
            message = f"{self.name} v{failure.version} failed to load: {failure.error}"
        else:
            state = "loading"
            message = f"{self.name} v{wanted} is loading"
        return {
            "state": state,
            "message": message,
            "serving": serving,
            "registry_champion": wanted,
            "challenger": self.challenger.version if self.challenger else None,
            "registry_challenger": self.registry.get(CHALLENGER),
            "load_error": None
            if failure is None
            else {"version": failure.version, "error": failure.error, "at": failure.at_wall},
            "registry_error": self.registry_error,
            "checked_at": self.checked_at,
        }


class ModelHolder:
    """Every task's ``ModelSlot``; ``refresh`` follows the registry (called off the loop)."""

    def __init__(self, settings: Settings, metrics: Metrics, tasks: list[str]) -> None:
        self.settings = settings
        self.metrics = metrics
        unknown = sorted(set(tasks) - set(TASKS))
        if unknown:
            raise ValueError(f"serve.tasks: unknown tasks {unknown}; expected {sorted(TASKS)}")
        unserved = sorted(set(settings.serve.require_models) - set(tasks))
        if unserved:
            raise ValueError(
                f"serve.require_models: {unserved} not among serve.tasks {sorted(tasks)}"
            )
        self.slots = {
            name: ModelSlot(TASKS[name], TASKS[name].task_settings(settings).registered_name)
            for name in tasks
        }

    @property
    def wants_challenger(self) -> bool:
        """Whether challengers are loaded (canary share or shadow scoring configured)."""
        serve = self.settings.serve
        return serve.canary_share > 0 or serve.shadow

    def held_models(self) -> tuple[HeldModel, ...]:
        """Every model held, per task and alias (champion first): what metrics and the drift
        monitor read. Safe from any thread: each slot attribute is read once."""
        return tuple(
            HeldModel.of(model, alias)
            for slot in self.slots.values()
            for alias, model in slot.held().items()
        )

    def refresh(self, client: Any) -> int:
        """Poll the registry once and load what moved (blocking: run it off the event loop).

        Returns:
            How many models were swapped in.
        """
        swaps = 0
        for slot in self.slots.values():
            try:
                champion = alias_version(client, slot.name, CHAMPION)
                challenger = alias_version(client, slot.name, CHALLENGER)
            except Exception as exc:  # the registry being down must not stop serving
                slot.registry_error = f"{type(exc).__name__}: {exc}"
                log.error("%s: registry unreachable (%s)", slot.name, slot.registry_error)
                continue
            slot.registry_error = None
            slot.registry = {
                CHAMPION: str(champion.version) if champion else None,
                CHALLENGER: str(challenger.version) if challenger else None,
            }
            slot.checked_at = datetime.now(UTC)
            swaps += self._follow(slot, CHAMPION, champion)
            swaps += self._follow(slot, CHALLENGER, challenger if self.wants_challenger else None)
        return swaps

    def _follow(self, slot: ModelSlot, alias: str, wanted: Any) -> int:
        current: LoadedModel | None = getattr(slot, alias)
        if wanted is None:
            if alias == CHALLENGER and current is not None:
                log.info("%s: no %s any more; v%s unloaded", slot.name, alias, current.version)
                slot.challenger = None
            slot.failures.pop(alias, None)
            return 0
        version = str(wanted.version)
        if current is not None and current.version == version:
            slot.failures.pop(alias, None)
            return 0
        model = self._reusable(slot, version)
        if model is None:
            failure = slot.failures.get(alias)
            retry_after = self.settings.serve.load_retry_s
            if (
                failure is not None
                and failure.version == version
                and time.monotonic() - failure.at < retry_after
            ):
                return 0
            try:
                model = load_version(slot.task, self.settings, wanted)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                slot.failures[alias] = LoadFailure(version, error, time.monotonic())
                self.metrics.model_loads.labels(slot.name, "failed").inc()
                kept = f"v{current.version} keeps serving" if current else "nothing to serve"
                log.error(
                    "%s v%s (%s) failed to load: %s; %s", slot.name, version, alias, error, kept
                )
                return 0
            self.metrics.model_loads.labels(slot.name, "loaded").inc()
            log.info(
                "%s v%s (%s) loaded in %.1fs, fast path %s",
                slot.name,
                version,
                alias,
                model.load_seconds,
                "on" if model.fast is not None else "off",
            )
        slot.failures.pop(alias, None)
        if alias == CHAMPION and current is not None:
            slot.previous = current
        # the swap: one assignment; requests in flight keep the object they already hold
        setattr(slot, alias, model)
        self.metrics.model_swaps.labels(slot.name, alias).inc()
        log.info(
            "%s: %s is now v%s (was %s)",
            slot.name,
            alias,
            version,
            f"v{current.version}" if current else "none",
        )
        return 1

    @staticmethod
    def _reusable(slot: ModelSlot, version: str) -> LoadedModel | None:
        """An already loaded model of ``version``: after a promotion or a rollback."""
        for model in (slot.champion, slot.challenger, slot.previous):
            if model is not None and model.version == version:
                return model
        return None
