"""Whole-run data-quality gates on what the steps report: a run can be valid row by row and
still be a disaster (every row quarantined, every file refused). A scheduler tells them apart
by the exit code (``EXIT_DATA_QUALITY``)."""

from __future__ import annotations

from collections.abc import Iterable

from lakehouse.config import QualitySettings
from lakehouse.pipeline.report import StepReport


def gate_failures(reports: Iterable[StepReport], quality: QualitySettings) -> list[str]:
    """One line per step that failed a gate: a Silver step that quarantined more than
    ``quality.max_quarantine_share`` of the rows it read, an ingest step that refused every
    file it read, an ingest step whose batches drifted in a way ``quality.fail_on_drift``
    lists, a build whose expectation suite failed a ``fail`` check (a Gold build is
    then not published, unless ``quality.fail_on_error`` is false). Empty when every step
    passed."""
    failures = []
    for report in reports:
        metrics = report.metrics
        read, quarantined = metrics.get("bronze_rows", 0), metrics.get("quarantined", 0)
        if report.step == "silver" and read and quarantined / read > quality.max_quarantine_share:
            failures.append(
                f"{report.table}: {quarantined} of {read} rows quarantined "
                f"({quarantined / read:.0%} > quality.max_quarantine_share "
                f"{quality.max_quarantine_share:.0%})"
            )
        files, refused = metrics.get("files_read", 0), metrics.get("files_refused", 0)
        if report.step == "bronze" and files and refused == files:
            failures.append(f"{report.table}: every file read was refused ({refused})")
        if report.drift_failures:
            failures.append(
                f"{report.table}: schema drift (quality.fail_on_drift): "
                f"{'; '.join(report.drift_failures)}"
            )
        if report.quality_failures:
            failures.append(
                f"{report.table}: expectation suite failed: {'; '.join(report.quality_failures)}"
            )
    return failures
