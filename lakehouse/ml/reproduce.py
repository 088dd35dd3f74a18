"""``lakehouse reproduce RUN_ID``: rebuild a run's training data by time travel and retrain.

The run logged its Gold table version, row count, content hash, the Silver versions behind
it and its effective configuration. Reproduction re-reads that version (whatever happened to
the table since: appends, merges, overwrites), checks count and hash, retrains with the
logged configuration and compares every logged metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import mlflow
from mlflow.exceptions import MlflowException
from pyspark.sql import SparkSession

from lakehouse.catalog import qualified_name
from lakehouse.config import Settings
from lakehouse.erasure_registry import erased_rows
from lakehouse.ml.catalog import task_named
from lakehouse.ml.tracking import client_for, git_commit
from lakehouse.ml.training import (
    CONFIG_ARTIFACT,
    TASK_TAG,
    fit_and_evaluate,
    load_split,
    settings_from_run,
)
from lakehouse.secrets import redact_uri

SOURCE_PARAM_PREFIX = "source."
REL_TOLERANCE = 1e-9


class ReproductionError(RuntimeError):
    """The run cannot be reproduced at all (unknown run, data no longer readable)."""


@dataclass
class Check:
    """One comparison between what the run logged and what reproduction found."""

    name: str
    logged: object
    found: object
    ok: bool


@dataclass
class ReproductionReport:
    """Everything reproduction compared."""

    run_id: str
    task: str
    data: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check matched."""
        return all(check.ok for check in self.checks)

    def add(self, name: str, logged: object, found: object, ok: bool | None = None) -> None:
        """Record a check (equality unless ``ok`` is given)."""
        self.checks.append(Check(name, logged, found, logged == found if ok is None else ok))

    def render(self) -> str:
        """A table for the terminal."""
        lines = [f"reproduce run {self.run_id} ({self.task}) from {self.data}"]
        for check in self.checks:
            mark = "ok      " if check.ok else "MISMATCH"
            lines.append(f"  {mark} {check.name:<32} logged={check.logged}  found={check.found}")
        lines.extend(f"  note: {note}" for note in self.notes)
        lines.append("reproduced: identical" if self.ok else "NOT reproduced")
        return "\n".join(lines)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=1e-12)


def _erased_report(run_id: str, task: str, data: str, erased: int) -> ReproductionReport:
    """What reproduction can say of a run whose data files an erasure removed."""
    report = ReproductionReport(run_id, task, data)
    report.add("training rows erased", 0, erased)
    report.notes.append(
        f"{erased} rows of {data} were erased by `lakehouse forget` and the files that held "
        "them removed: this version cannot be read again, so the run cannot be reproduced"
    )
    return report


def reproduce(spark: SparkSession, settings: Settings, run_id: str) -> ReproductionReport:
    """Re-read, verify, retrain and compare one training run."""
    client = client_for(settings)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise ReproductionError(f"no run {run_id!r} in {redact_uri(client.tracking_uri)}") from exc
    if TASK_TAG not in run.data.tags:
        raise ReproductionError(f"run {run_id} is not a lakehouse training run")
    task = task_named(run.data.tags[TASK_TAG])
    params = run.data.params
    logged_config = mlflow.artifacts.load_dict(f"runs:/{run_id}/{CONFIG_ARTIFACT}")
    run_settings = settings_from_run(logged_config, settings)
    version = int(params["table_version"])
    erased = erased_rows(run.data.tags)
    try:
        split, lineage = load_split(spark, run_settings, task, version)
    except Exception as exc:  # any read failure means the data is gone
        if erased:
            return _erased_report(run_id, task.name, f"{task.table.key}@v{version}", erased)
        raise ReproductionError(
            f"cannot re-read {task.table.key}@v{version}: {exc}. Were its files vacuumed? "
            "`lakehouse maintain` keeps the versions of aliased models only."
        ) from exc
    report = ReproductionReport(run_id, task.name, f"{lineage.table}@v{lineage.version}")
    name = params.get("table_name", qualified_name(settings, task.table))
    report.notes.append(f"read it yourself: SELECT * FROM {name} VERSION AS OF {version}")
    if erased:
        report.notes.append(f"{erased} rows of this data were erased (lakehouse forget)")
    report.add("row count", int(params["table_row_count"]), lineage.row_count)
    report.add("content hash", params["table_content_hash"], lineage.content_hash)
    logged_sources = {
        k.removeprefix(SOURCE_PARAM_PREFIX): int(v)
        for k, v in params.items()
        if k.startswith(SOURCE_PARAM_PREFIX)
    }
    report.add("source versions", logged_sources, lineage.source_versions)
    if params.get("git_commit") != git_commit():
        report.notes.append(f"code differs: run {params.get('git_commit')}, now {git_commit()}")
    evaluation = fit_and_evaluate(task, split, run_settings)
    report.add("chosen model", params["model"], evaluation.best)
    found = {f"test_{k}": v for k, v in evaluation.test.items()}
    found.update({f"validation_{k}": v for k, v in evaluation.validation.items()})
    found.update({f"baseline_test_{k}": v for k, v in evaluation.baseline_test.items()})
    for name, value in sorted(found.items()):
        logged = run.data.metrics.get(name)
        ok = logged is not None and _close(logged, value)
        report.add(name, logged, value, ok)
    return report
