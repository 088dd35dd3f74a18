"""Pipeline steps by layer and source: what ``lakehouse ingest|silver|gold|run`` execute."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.pipeline.inference_log import build_model_performance, ingest_inference_log
from lakehouse.pipeline.payments import (
    build_payments_unified,
    build_silver_payments,
    ingest_payments,
)
from lakehouse.pipeline.reference import load_reference_data
from lakehouse.pipeline.report import StepReport
from lakehouse.pipeline.sessions import (
    build_delivery_features,
    build_silver_sessions,
    ingest_sessions,
)
from lakehouse.tables import SOURCES

Step = Callable[[SparkSession, Settings], StepReport | list[StepReport]]

log = logging.getLogger(__name__)

LAYERS = ("ingest", "silver", "gold")

# layer -> source -> step, in the order they run
STEPS: dict[str, dict[str, Step]] = {
    "ingest": {
        "sessions": ingest_sessions,
        "payments": ingest_payments,
        # the prediction service's answers (audit/inference_log)
        "inference_log": ingest_inference_log,
    },
    "silver": {
        "reference": load_reference_data,
        "sessions": build_silver_sessions,
        "payments": build_silver_payments,
    },
    "gold": {
        "sessions": build_delivery_features,
        "payments": build_payments_unified,
        # after both: the answers judged by the outcomes in the Gold tables just built
        "inference_log": build_model_performance,
    },
}


def check_source(source: str | None) -> None:
    """Raise ValueError for a source no layer knows (None means all)."""
    if source is not None and source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: expected one of {list(SOURCES)}")


# called with each step's reports as soon as the step ends (the CLI prints them)
OnReport = Callable[[StepReport], None]


def run_layer(
    spark: SparkSession,
    settings: Settings,
    layer: str,
    source: str | None = None,
    on_report: OnReport | None = None,
) -> list[StepReport]:
    """Run one layer for every source, or for ``source`` only.

    Each step is logged when it starts and ends; each report gets its wall time (a step that
    reports several tables, one after the other, gives each the time from its start to the
    next one's) and goes to ``on_report`` as soon as its step ends.

    Raises:
        ValueError: For an unknown layer or source.
    """
    if layer not in STEPS:
        raise ValueError(f"unknown layer {layer!r}: expected one of {list(STEPS)}")
    steps = STEPS[layer]
    check_source(source)
    reports: list[StepReport] = []
    for name, step in steps.items():
        if source is not None and name != source:
            continue
        log.info("%s %s: started", layer, name, extra={"step": layer, "source": name})
        started = time.monotonic()
        result = step(spark, settings)
        ended = time.monotonic()
        step_reports = result if isinstance(result, list) else [result]
        for report, after in zip(step_reports, [*step_reports[1:], None], strict=True):
            report.seconds = (after.started if after else ended) - max(report.started, started)
        rows = sum(r.metrics.get("bronze_rows", r.metrics.get("rows", 0)) for r in step_reports)
        log.info(
            "%s %s: done in %.1f s (%d rows)",
            layer,
            name,
            ended - started,
            rows,
            extra={"step": layer, "source": name, "seconds": round(ended - started, 3)},
        )
        for report in step_reports:
            if on_report is not None:
                on_report(report)
        reports.extend(step_reports)
    return reports


def run_all(
    spark: SparkSession,
    settings: Settings,
    source: str | None = None,
    on_report: OnReport | None = None,
) -> list[StepReport]:
    """Every layer in order, on one session."""
    return [r for layer in LAYERS for r in run_layer(spark, settings, layer, source, on_report)]
