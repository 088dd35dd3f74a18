"""Run a list of checks with Great Expectations (the 1.x API) on a Spark DataFrame.

A check is one GX expectation plus the project's own name for it (stable across releases, so
a severity setting can name it) and its severity: ``fail`` blocks a publish, ``warn`` is only
recorded. GX runs in an ephemeral context (no project folder, no analytics, no progress bars);
the frame goes in as a whole-DataFrame batch, so GX computes its metrics in Spark jobs on the
executors and only aggregates reach the driver.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame

from lakehouse.config import QualitySettings

SEVERITY_FAIL = "fail"
SEVERITY_WARN = "warn"
SEVERITY_IGNORE = "ignore"  # not "off": YAML reads that as false
SEVERITIES = (SEVERITY_FAIL, SEVERITY_WARN)

# counts and percentages, without the sample of unexpected values (a sample costs one more
# Spark job per column and could carry PII into the audit table)
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}

log = logging.getLogger(__name__)
_lock = threading.RLock()
_context: Any = None


@dataclass(frozen=True)
class Check:
    """One expectation, named and with a severity.

    Attributes:
        name: The project's name for it within its suite (``record_id_unique``); a severity
            override (``quality.severity``) names it as ``<table>:<name>``.
        expectation: A Great Expectations expectation (``great_expectations.expectations``).
        severity: ``fail`` (blocks a publish) or ``warn`` (recorded only).
        rows: Which rows it looked at: ``all`` (a Gold build), ``new`` (rows the published
            version does not have) or ``batch`` (a Bronze or Silver micro-batch).
    """

    name: str
    expectation: Any
    severity: str = SEVERITY_FAIL
    rows: str = "all"


@dataclass(frozen=True)
class Outcome:
    """One check's result, as ``audit/expectations`` records it."""

    name: str
    expectation_type: str
    column: str | None
    kwargs: str
    severity: str
    rows: str
    success: bool
    observed_value: str | None
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    exception: str | None

    @property
    def failed_critical(self) -> bool:
        """A failed ``fail``-severity check: it blocks a publish."""
        return not self.success and self.severity == SEVERITY_FAIL

    def describe(self) -> str:
        """One line for humans: what failed and what was seen."""
        seen = self.exception or self.observed_value
        if self.unexpected_count is not None:
            seen = f"{self.unexpected_count} unexpected ({self.unexpected_percent or 0:.1f}%)"
        return f"{self.name} [{self.expectation_type}, {self.rows} rows]: {seen}"


def severity_of(quality: QualitySettings, table_key: str, name: str, default: str) -> str:
    """A check's severity: ``quality.severity["<table>:<check>"]``, else its default."""
    return quality.severity.get(f"{table_key}:{name}", default)


def reject_unknown_overrides(quality: QualitySettings, table_key: str, names: set[str]) -> None:
    """Raise ValueError when ``quality.severity`` names a check of ``table_key`` that its
    suite does not have (a typo would silently change nothing)."""
    unknown = {
        k.partition(":")[2]
        for k in quality.severity
        if k.partition(":")[0] == table_key and k.partition(":")[2] not in names
    }
    if unknown:
        raise ValueError(
            f"quality.severity names unknown check(s) of {table_key}: {sorted(unknown)}; "
            f"known: {sorted(names)}"
        )


@dataclass(frozen=True)
class Validation:
    """One suite run: each check's outcome, and GX's own result (for Data Docs)."""

    suite: str
    outcomes: list[Outcome]
    result: Any  # great_expectations ExpectationSuiteValidationResult


def _gx_context():
    """The process's ephemeral GX context (created once)."""
    global _context
    with _lock:
        if _context is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            import great_expectations as gx
            from great_expectations.data_context.types.base import (
                DataContextConfig,
                InMemoryStoreBackendDefaults,
                ProgressBarsConfig,
            )

            config = DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(),
                analytics_enabled=False,
                progress_bars=ProgressBarsConfig(globally=False),
            )
            _context = gx.get_context(mode="ephemeral", project_config=config)
            # GX would persist every frame it validates and never unpersist it: a Bronze
            # batch read back from its table would be materialised whole (raw records and
            # all) for checks that read two narrow columns, and stay cached. The callers
            # persist what is costly to compute and unpersist it after.
            _context.data_sources.add_spark(name="lakehouse", persist=False)
        return _context


def _batch_definition(asset_name: str):
    """A whole-DataFrame batch definition on the shared Spark data source."""
    source = _gx_context().data_sources.get("lakehouse")
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(name=asset_name)
    try:
        return asset.get_batch_definition("frame")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("frame")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def _exception_message(info: Any) -> str | None:
    """The first exception GX caught while computing a result (its info is either one record
    or one per metric)."""
    if not isinstance(info, dict):
        return None
    if "exception_message" in info:
        return info["exception_message"] if info.get("raised_exception") else None
    for nested in info.values():
        message = _exception_message(nested)
        if message:
            return message.splitlines()[0][:500]
    return None


def run_checks(df: DataFrame, checks: Iterable[Check], suite_name: str) -> Validation | None:
    """Validate ``df`` against ``checks`` (one GX suite run); None when there is no check."""
    checks = list(checks)
    if not checks:
        return None
    import great_expectations as gx

    _gx_context()  # a suite needs an active context
    by_name = {}
    suite = gx.ExpectationSuite(name=suite_name)
    for check in checks:
        if check.severity not in SEVERITIES:
            raise ValueError(f"{check.name}: severity {check.severity!r} not in {SEVERITIES}")
        # a suite takes the expectation itself (checks are built for one validation)
        check.expectation.meta = {**(check.expectation.meta or {}), "check": check.name}
        suite.add_expectation(check.expectation)
        by_name[check.name] = check
    with _lock:
        batch = _batch_definition(suite_name).get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(suite, result_format=RESULT_FORMAT)
    outcomes = []
    for r in result.results:
        config = r.expectation_config
        check = by_name[config.meta["check"]]
        details = r.result or {}
        exception = None if r.success else _exception_message(r.exception_info)
        kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "column")}
        outcomes.append(
            Outcome(
                name=check.name,
                expectation_type=config.type,
                column=config.kwargs.get("column"),
                kwargs=_text(kwargs),
                severity=check.severity,
                rows=check.rows,
                success=bool(r.success),
                observed_value=_text(details.get("observed_value")),
                element_count=details.get("element_count"),
                unexpected_count=details.get("unexpected_count"),
                unexpected_percent=details.get("unexpected_percent"),
                exception=exception,
            )
        )
    order = {c.name: i for i, c in enumerate(checks)}
    return Validation(suite_name, sorted(outcomes, key=lambda o: order[o.name]), result)
