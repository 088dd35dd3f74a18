"""``lakehouse maintain``: OPTIMIZE and VACUUM every lake table, keeping what models need.

VACUUM deletes data files that no version newer than its retention horizon still uses. Every
table version that an aliased model version (``champion``, ``challenger``) was trained on,
and the Silver versions behind it, must stay readable by time travel, so a table holding
such a version is vacuumed with a horizon reaching back to that version's commit (minus a
safety margin). Files only older versions needed are deleted; the rest is kept, and the
report says what was kept and why.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.io.delta import (
    compact,
    is_delta_table,
    set_table_property,
    table_properties,
    vacuum,
    version_ages_s,
)
from lakehouse.ml.catalog import TASKS
from lakehouse.ml.registry import aliased_versions, champion_stack, table_versions_of
from lakehouse.ml.tracking import client_for
from lakehouse.tables import ALL_TABLES

log = logging.getLogger(__name__)

SECONDS_PER_HOUR = 3600.0
LOG_RETENTION_PROPERTY = "delta.logRetentionDuration"
_INTERVAL_DAYS = re.compile(r"interval\s+(\d+)\s+days?", re.IGNORECASE)


@dataclass
class TableMaintenance:
    """What maintenance did to one table."""

    table: str
    retention_hours: float
    protected: dict[int, list[str]] = field(default_factory=dict)
    compacted_files: int = 0
    deleted_files: int = 0
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        """Lines for the terminal."""
        lines = [
            f"{self.table:<36} compacted {self.compacted_files:>4} files, "
            f"vacuumed {self.deleted_files:>4} files (retention {self.retention_hours:.0f} h)"
        ]
        for version, reasons in sorted(self.protected.items()):
            lines.append(f"    kept v{version}: needed by {', '.join(reasons)}")
        lines.extend(f"    note: {note}" for note in self.notes)
        return "\n".join(lines)


def protected_versions(settings: Settings) -> dict[str, dict[int, list[str]]]:
    """table key -> version -> the model versions that need it.

    Those are the aliased versions (``champion``, ``challenger``) and every earlier champion
    a rollback can return to (the champion stack): a rolled-back champion must still be able
    to re-read its training data.
    """
    client = client_for(settings)
    names = [task.task_settings(settings).registered_name for task in TASKS.values()]
    needed: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    holders: dict[tuple[str, str], tuple[ModelVersion, list[str]]] = {}
    for name, alias, version in aliased_versions(client, names):
        holders.setdefault((name, str(version.version)), (version, []))[1].append(f"@{alias}")
    for name in names:
        try:
            stack = champion_stack(client, name)
        except MlflowException:  # no such registered model yet
            continue
        for number in stack[:-1]:  # the last one is the champion itself
            if (name, number) not in holders:
                holders[(name, number)] = (client.get_model_version(name, number), [])
            holders[(name, number)][1].append("rollback target")
    for (name, number), (version, why) in holders.items():
        for table, table_version in table_versions_of(version).items():
            needed[table][int(table_version)].append(f"{name} v{number} {' '.join(why)}")
    return {table: dict(versions) for table, versions in needed.items()}


def _log_retention_days(spark: SparkSession, path: str) -> int | None:
    match = _INTERVAL_DAYS.search(table_properties(spark, path).get(LOG_RETENTION_PROPERTY) or "")
    return int(match.group(1)) if match else None


def maintain_table(
    spark: SparkSession,
    settings: Settings,
    key: str,
    path: str,
    protected: dict[int, list[str]],
    *,
    dry_run: bool,
) -> TableMaintenance:
    """OPTIMIZE then VACUUM one table, keeping ``protected`` versions readable."""
    options = settings.ml.maintain
    retention_h = options.min_retention_hours
    result = TableMaintenance(key, retention_h, protected=protected)
    if protected:
        ages = version_ages_s(spark, path)
        missing = sorted(v for v in protected if v not in ages)
        if missing:
            result.notes.append(
                f"versions {missing} are no longer in the log: they cannot be time-travelled to"
            )
        present = [ages[v] for v in protected if v in ages]
        if present:
            oldest_h = (max(present) + options.safety_margin_s) / SECONDS_PER_HOUR
            retention_h = max(retention_h, oldest_h)
            result.retention_hours = retention_h
            days = _log_retention_days(spark, path)
            wanted = options.log_retention_days
            if days is None or days < wanted:
                result.notes.append(f"log retention set to {wanted} days (was {days or 30})")
                if not dry_run:
                    set_table_property(
                        spark, path, LOG_RETENTION_PROPERTY, f"interval {wanted} days"
                    )
    if not dry_run:
        result.compacted_files = compact(spark, path)
    # Delta turns the horizon into whole hours (0.4 h would mean 0 h and delete everything a
    # protected version needs), so round up: keeping a little more is always safe.
    retention_h = math.ceil(retention_h)
    result.retention_hours = retention_h
    candidates = vacuum(spark, path, retention_h, dry_run=True)
    result.deleted_files = candidates
    if not dry_run and candidates:
        vacuum(spark, path, retention_h)
    if dry_run:
        result.notes.append("dry run: nothing compacted or deleted")
    return result


def maintain(spark: SparkSession, settings: Settings, *, dry_run: bool = False):
    """Maintain every lake table; returns one ``TableMaintenance`` per existing table."""
    needed = protected_versions(settings)
    results = []
    for table in ALL_TABLES:
        path = settings.table_path(*table)
        if not is_delta_table(spark, path):
            continue
        results.append(
            maintain_table(
                spark, settings, table.key, path, needed.get(table.key, {}), dry_run=dry_run
            )
        )
    return results
