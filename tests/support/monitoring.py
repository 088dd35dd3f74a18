"""The metric names the project exports, for checking alert rules and dashboards against."""

from __future__ import annotations

import re

SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
}


def exposed(registry) -> set[str]:
    """The series names a registry exposes, whether or not a series has a value yet."""
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def exported_metrics() -> set[str]:
    """Every series name of the service's registry and of a batch job's run (one with every
    kind of metric: steps, gates, a promotion decision, Gold tables, live performance, the
    retraining policy's checks)."""
    from lakehouse.ml.feature_drift import DriftCheck, FeatureDrift
    from lakehouse.ml.lifecycle import LiveCheck
    from lakehouse.monitoring.jobs import JobRun
    from lakehouse.pipeline.report import StepReport
    from serving.metrics import Metrics

    service = Metrics()
    service.attach(lambda: [], lambda: [], lambda: ["fraud"])
    run = JobRun("run", "local", started=0.0)
    report = StepReport("silver", "sessions", "silver/sessions", seconds=1.0, version=1)
    report.metrics.update({"quarantined": 1})
    run.add_step(report)
    run.gate_failures, run.promoted = [], False
    run.tables = {"gold/delivery_features": (3, 1.0)}
    run.live = {("fraud", "2", "online"): {"outcomes": 300, "pr_auc": 0.5, "days": 30}}
    feature = FeatureDrift("amount", "numeric", 0.3, 0.2, True)
    run.drift_checks = [
        DriftCheck("fraud", "fraud", "2", "gold/payments_unified", 4, 6, None, 900, 900, [feature])
    ]
    run.live_checks = [LiveCheck("fraud", "2", "pr_auc", 0.4, 0.5, 300, 30, True, True)]
    jobs = exposed(run.registry(0, 2.0))
    return exposed(service.registry) | jobs


def metric_names(expr: str) -> set[str]:
    """The ``lakehouse_*`` metric names a PromQL expression reads (label values aside)."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    return set(re.findall(r"\b(lakehouse_[a-z_]+)\b", expr))


def monitoring_script(name: str):
    """A script of infra/monitoring (``dashboards``, ``render_k8s``), imported as a module."""
    import importlib.util

    from lakehouse.config import PROJECT_ROOT

    path = PROJECT_ROOT / "infra" / "monitoring" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
