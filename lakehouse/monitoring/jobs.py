"""Batch-job metrics: what each scheduled command did, for Prometheus.

A scheduled command (``SCHEDULED``) opens a ``JobRun`` when it starts; the steps add their
reports to it as they end, the gates and the promotion gate their decisions, and the command's
end (success or any failure) closes it. Its metrics then go to the Prometheus Pushgateway of
``monitoring.pushgateway``, grouped by job, environment and scope (what the command was given:
its ``--source``, the model of ``train fraud``, else ``all``) so that runs of one job on
different scopes do not replace each other's metrics (the step metrics' own ``source`` label
names the feed a step read); without a Pushgateway they go to one file per job, environment
and scope in ``monitoring.textfile_dir``, for node-exporter's textfile collector. Reporting
never fails a command: a Pushgateway that cannot be reached is a warning.

Every metric is a gauge (the state after the job's last run), named after Prometheus's rules
(base units, the unit in the name). ``lakehouse_job_last_success_timestamp_seconds`` is only
sent by a run that succeeded, and the last one sent stays (the Pushgateway's POST replaces only
the metrics a push names; the text file carries it over), so "no success for longer than the
schedule allows" is an alert on ``time() - lakehouse_job_last_success_timestamp_seconds``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway, write_to_textfile

from lakehouse.errors import (
    EXIT_CRASH,
    EXIT_DATA_QUALITY,
    EXIT_FAILED,
    EXIT_LAKE_LOCKED,
    EXIT_PROMOTION_REFUSED,
    EXIT_SECRET,
    EXIT_USAGE,
)

if TYPE_CHECKING:
    from lakehouse.config import Settings
    from lakehouse.pipeline.report import StepReport

log = logging.getLogger(__name__)

# the commands a scheduler runs; each reports its metrics
SCHEDULED = frozenset(
    {"ingest", "silver", "gold", "check", "run", "retrain", "train", "promote", "score", "maintain"}
)
# a run's outcome, by exit code: one lakehouse_job_outcome series per outcome, 1 for this run's
OUTCOMES = {
    0: "success",
    EXIT_FAILED: "failed",
    EXIT_USAGE: "usage_error",
    EXIT_PROMOTION_REFUSED: "promotion_refused",
    EXIT_DATA_QUALITY: "data_quality_failure",
    EXIT_CRASH: "crash",
    EXIT_LAKE_LOCKED: "lake_locked",
    EXIT_SECRET: "secret_error",
}
LAST_SUCCESS = "lakehouse_job_last_success_timestamp_seconds"
ALL = "all"  # the scope of a command given no source or model

_current: ContextVar[JobRun | None] = ContextVar("lakehouse_job_run", default=None)


def exit_code_of(exc: BaseException | None) -> int:
    """The exit code ``lakehouse`` ends with for ``exc`` (None: success), as ``cli.main``
    gives it: an error's own ``exit_code`` (ours and click's), ``SystemExit``'s code, and
    ``EXIT_CRASH`` for anything else."""
    if exc is None:
        return 0
    if isinstance(exc, SystemExit):
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_FAILED)
    code = getattr(exc, "exit_code", None)
    if isinstance(code, int):
        return code
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_FAILED
    return EXIT_CRASH


@dataclass
class JobRun:
    """One scheduled command's run, from its start to its end."""

    job: str
    env: str
    scope: str = ALL
    started: float = field(default_factory=time.time)
    steps: list[StepReport] = field(default_factory=list)
    gate_failures: list[str] | None = None  # None: the job has no data-quality gate
    promoted: bool | None = None  # the promotion gate's decision, when the job has one
    # the Gold tables the steps reported: key -> (version, commit time in epoch seconds)
    tables: dict[str, tuple[int, float]] = field(default_factory=dict)
    # live model performance (gold/model_performance): (model, version, source) -> figures
    live: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    # the retraining policy's checks (lakehouse.ml.lifecycle): DriftCheck and LiveCheck objects
    drift_checks: list[Any] = field(default_factory=list)
    live_checks: list[Any] = field(default_factory=list)

    def add_step(self, report: StepReport) -> None:
        self.steps.append(report)

    def registry(self, exit_code: int, ended: float) -> CollectorRegistry:
        """The run's metrics."""
        registry = CollectorRegistry()

        def gauge(name: str, doc: str, labels: Iterable[str] = ()) -> Gauge:
            return Gauge(name, doc, list(labels), registry=registry)

        gauge("lakehouse_job_last_run_timestamp_seconds", "When the job's last run ended.").set(
            ended
        )
        gauge("lakehouse_job_duration_seconds", "How long the job's last run took.").set(
            ended - self.started
        )
        gauge("lakehouse_job_exit_code", "The exit code of the job's last run (0: success).").set(
            exit_code
        )
        outcome = gauge(
            "lakehouse_job_outcome",
            "1 for the outcome of the job's last run, 0 for the others.",
            ["outcome"],
        )
        ended_as = OUTCOMES.get(exit_code, "failed")
        for name in dict.fromkeys(OUTCOMES.values()):
            outcome.labels(name).set(1 if name == ended_as else 0)
        # a refused promotion ran as it should (the champion stays): LakehouseJobMissing must
        # not page for days of refusals, LakehousePromotionRefusals tickets them
        if exit_code in (0, EXIT_PROMOTION_REFUSED):
            gauge(LAST_SUCCESS, "When the job last ended successfully.").set(ended)
        self._step_metrics(gauge)
        if self.gate_failures is not None:
            gauge(
                "lakehouse_job_gate_passed",
                "1 when the last run's data passed every data-quality gate, else 0.",
            ).set(0 if self.gate_failures else 1)
            gauge(
                "lakehouse_job_gate_failures",
                "The data-quality gates the last run's data failed.",
            ).set(len(self.gate_failures))
        if self.promoted is not None:
            gauge(
                "lakehouse_promotion_gate_passed",
                "1 when the challenger passed the last promotion gate, else 0 (also when forced).",
            ).set(1 if self.promoted else 0)
        if self.tables:
            version = gauge(
                "lakehouse_table_version", "The table's latest Delta version.", ["table"]
            )
            committed = gauge(
                "lakehouse_table_last_commit_timestamp_seconds",
                "When the table's latest Delta version was committed.",
                ["table"],
            )
            for table, (number, at) in sorted(self.tables.items()):
                version.labels(table).set(number)
                committed.labels(table).set(at)
        if self.live:
            live = gauge(
                "lakehouse_model_live_metric",
                "A model version's figures on the outcomes known for its answers in the last "
                "30 days of events (gold/model_performance): mae, within_1d, precision, "
                "recall, pr_auc, outcomes",
                ["model", "version", "source", "metric"],
            )
            for (model, version, source), figures in sorted(self.live.items()):
                for metric, value in sorted(figures.items()):
                    if metric != "days" and value is not None:
                        live.labels(model, version, source, metric).set(value)
        self._policy_metrics(gauge)
        return registry

    def _policy_metrics(self, gauge) -> None:
        """What the retraining policy's checks found, per champion (model, version)."""
        checks = [c for c in self.drift_checks if c.judged]
        if checks:
            distance = gauge(
                "lakehouse_gold_feature_distance",
                "A model input's distance between the newest Gold rows and the champion's "
                "training data (audit/feature_drift), by statistic: psi, ks (numbers)",
                ["model", "version", "feature", "statistic"],
            )
            drifted = gauge(
                "lakehouse_gold_drifted_features",
                "Inputs whose distance reached a threshold in the last drift check "
                "(ignored features aside)",
                ["model", "version"],
            )
            for check in checks:
                labels = (check.model_name, check.model_version)
                drifted.labels(*labels).set(len(check.drifted))
                for feature in check.features:
                    for statistic in ("psi", "ks"):
                        value = getattr(feature, statistic)
                        if value is not None:
                            distance.labels(*labels, feature.feature, statistic).set(value)
        judged = [c for c in self.live_checks if c.judged]
        if judged:
            below = gauge(
                "lakehouse_model_live_below_baseline",
                "1 when the champion's live primary metric is worse than its baseline model's "
                "on its test rows (the retraining policy retrains it), else 0",
                ["model", "version"],
            )
            for check in judged:
                below.labels(check.model, check.version).set(1 if check.below_baseline else 0)

    def _step_metrics(self, gauge) -> None:
        if not self.steps:
            return
        labels = ("step", "source", "table")
        seconds = gauge("lakehouse_step_duration_seconds", "How long the step took.", labels)
        batches = gauge("lakehouse_step_batches", "Micro-batches the step processed.", labels)
        counts = gauge(
            "lakehouse_step_count",
            "What the step counted in the run, by measure (as in audit/batch_ledger): "
            "records_read, bronze_rows, silver_rows, quarantined, duplicates, files_read, ...",
            [*labels, "measure"],
        )
        checks = gauge(
            "lakehouse_step_failed_expectations",
            "Expectations of the step's suite that failed, by severity (fail, warn).",
            [*labels, "severity"],
        )
        drift = gauge(
            "lakehouse_step_schema_drift_changes",
            "New, missing or retyped columns and fields in the step's batches.",
            labels,
        )
        version = gauge(
            "lakehouse_step_table_version", "The step's table version after it.", labels
        )
        for report in self.steps:
            key = (report.step, report.source, report.table)
            if report.seconds is not None:
                seconds.labels(*key).set(report.seconds)
            batches.labels(*key).set(len(report.batches))
            for measure, value in sorted(report.metrics.items()):
                counts.labels(*key, measure).set(value)
            checks.labels(*key, "fail").set(len(report.quality_failures))
            checks.labels(*key, "warn").set(len(report.quality_warnings))
            drift.labels(*key).set(len(report.schema_drift))
            if report.version is not None:
                version.labels(*key).set(report.version)

    def grouping_key(self) -> dict[str, str]:
        return {"env": self.env, "scope": self.scope}


def current() -> JobRun | None:
    """The scheduled command's run in progress in this context, if any."""
    return _current.get()


def start(
    job: str, settings: Settings, scope: str | None, *, scheduled: bool = False
) -> JobRun | None:
    """Open the run of ``job`` (None when the command is not a scheduled one, unless
    ``scheduled``: each cycle of ``lakehouse stream`` reports as one run of job ``stream``)."""
    if job not in SCHEDULED and not scheduled:
        return None
    run = JobRun(job, settings.env, scope or ALL)
    _current.set(run)
    return run


@contextmanager
def reported(
    job: str, settings: Settings, scope: str | None, *, scheduled: bool = False
) -> Iterator[JobRun | None]:
    """The run of ``job`` (``start``) for the ``with`` block, reported at its end
    (``finish``) with the exit code of what the block raised."""
    run = start(job, settings, scope, scheduled=scheduled)
    error = None
    try:
        yield run
    except BaseException as exc:
        error = exc
        raise
    finally:
        if run is not None:
            finish(run, settings, error)


def finish(run: JobRun, settings: Settings, exc: BaseException | None) -> None:
    """Close ``run`` and report its metrics; never raises."""
    _current.set(None)
    exit_code = exit_code_of(exc)
    try:
        _note_tables(run, settings)
        _note_live(run, settings)
        registry = run.registry(exit_code, time.time())
        monitoring = settings.monitoring
        if monitoring.pushgateway:
            pushadd_to_gateway(
                monitoring.pushgateway,
                job=f"lakehouse_{run.job}",
                registry=registry,
                grouping_key=run.grouping_key(),
                timeout=monitoring.push_timeout_s,
            )
        elif monitoring.textfile_dir:
            write_textfile(Path(monitoring.textfile_dir), run, registry, exit_code == 0)
    except Exception as exc:  # reporting must never change how the command ends
        log.warning(
            "job metrics not reported (%s: %s)",
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
        )


def _note_tables(run: JobRun, settings: Settings) -> None:
    """The version and commit time of every Gold table the run's steps reported."""
    from lakehouse.io.delta_reader import delta_commit

    for report in run.steps:
        if report.table.startswith("gold/") and report.table not in run.tables:
            path = settings.table_path(*report.table.split("/", 1))
            commit = delta_commit(path, settings.storage)
            if commit is not None:
                run.tables[report.table] = commit


def _note_live(run: JobRun, settings: Settings) -> None:
    """Each model version's live figures, when a step rebuilt ``gold/model_performance``."""
    from lakehouse.ml.report import live_figures, live_performance
    from lakehouse.tables import GOLD_MODEL_PERFORMANCE

    if any(r.table == GOLD_MODEL_PERFORMANCE.key for r in run.steps):
        rows = live_performance(settings)
        run.live = {key: figures for key, (_, figures) in live_figures(rows).items()}


def textfile_path(folder: Path, run: JobRun) -> Path:
    return folder / f"lakehouse_{run.job}_{run.env}_{run.scope}.prom"


def write_textfile(folder: Path, run: JobRun, registry: CollectorRegistry, ok: bool) -> Path:
    """Write the run's metrics for node-exporter's textfile collector (atomically: a temporary
    file renamed into place). A failed run keeps the last success time of the file it
    replaces. Every series carries the job's labels, as the Pushgateway would add them."""
    from prometheus_client.parser import text_string_to_metric_families

    folder.mkdir(parents=True, exist_ok=True)
    path = textfile_path(folder, run)
    labels = {"job": f"lakehouse_{run.job}", **run.grouping_key()}
    if not ok and path.exists():
        for family in text_string_to_metric_families(path.read_text()):
            if family.name == LAST_SUCCESS and family.samples:
                Gauge(LAST_SUCCESS, family.documentation, registry=registry).set(
                    family.samples[0].value
                )
    labelled = CollectorRegistry()
    labelled.register(_Labelled(registry, labels))
    write_to_textfile(os.fspath(path), labelled)
    return path


class _Labelled:
    """A collector that adds constant labels to every sample of another registry."""

    def __init__(self, registry: CollectorRegistry, labels: dict[str, str]) -> None:
        self.registry, self.labels = registry, labels

    def collect(self):
        for family in self.registry.collect():
            family.samples = [
                sample._replace(labels={**self.labels, **sample.labels})
                for sample in family.samples
            ]
            yield family
