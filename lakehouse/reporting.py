"""Human-readable views of the lake: table history and the demo's lake report."""

from __future__ import annotations

import click
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.config import Settings
from lakehouse.io.delta import history, latest_version, read_table
from lakehouse.io.ledger import ledger_totals
from lakehouse.tables import (
    ALL_TABLES,
    BATCH_LEDGER,
    BRONZE_SESSIONS,
    GOLD_DELIVERY_FEATURES,
    QUARANTINE_SESSIONS,
    SILVER_SESSIONS,
)

SAMPLE_COLUMNS = [
    "record_id",
    "event_ts",
    "day_of_year",
    "day_of_week",
    "hour_of_day",
    "zip_code",
    "shipping_method",
    "warehouse_id",
    "distance_km",
    "item_count",
    "total_weight_kg",
    "order_value",
    "delivery_days",
]


def print_history(spark: SparkSession, path: str, name: str, limit: int) -> None:
    """Print a table's versions, newest first, with operation metrics."""
    if latest_version(spark, path) is None:
        raise click.ClickException(f"{name}: no Delta table at {path}")
    rows = history(spark, path, limit).select(
        "version", "timestamp", "operation", "operationMetrics", "userMetadata"
    )
    click.echo(f"{name} ({path})")
    for row in rows.collect():
        metrics = ", ".join(f"{k}={v}" for k, v in sorted((row["operationMetrics"] or {}).items()))
        click.echo(f"  v{row['version']:<4} {row['timestamp']}  {row['operation']:<12} {metrics}")
        if row["userMetadata"]:
            click.echo(f"        metadata: {row['userMetadata']}")


def _check(label: str, left: int, right: int) -> bool:
    ok = left == right
    click.echo(f"  {'OK  ' if ok else 'FAIL'} {label}: {left} = {right}")
    return ok


def print_conservation(spark: SparkSession, settings: Settings) -> bool:
    """Check and print the sessions conservation invariant (CONTRACT section 2)."""
    ledger = settings.table_path(*BATCH_LEDGER)
    bronze = ledger_totals(spark, ledger, "bronze", "sessions")
    silver = ledger_totals(spark, ledger, "silver", "sessions")
    bronze_rows = read_table(spark, settings.table_path(*BRONZE_SESSIONS)).count()
    silver_rows = read_table(spark, settings.table_path(*SILVER_SESSIONS)).count()
    quarantined = read_table(spark, settings.table_path(*QUARANTINE_SESSIONS)).count()
    duplicates = silver.get("duplicates_removed", 0)
    click.echo("\nConservation (sessions):")
    return all(
        [
            _check("records read = bronze rows", bronze.get("records_read", 0), bronze_rows),
            _check(
                "bronze rows = silver rows + quarantined + duplicates removed "
                f"({silver_rows} + {quarantined} + {duplicates})",
                bronze_rows,
                silver_rows + quarantined + duplicates,
            ),
        ]
    )


def print_lake_report(spark: SparkSession, settings: Settings, sample_rows: int = 5) -> bool:
    """Print tables, versions and counts, conservation, Gold samples and a time-travel query.

    Returns:
        Whether every invariant held.
    """
    click.echo(f"Lake {settings.lake_root}\n")
    click.echo(f"  {'table':<28} {'version':>7} {'rows':>10}")
    for table in ALL_TABLES:
        path = settings.table_path(*table)
        version = latest_version(spark, path)
        rows = read_table(spark, path).count() if version is not None else "-"
        click.echo(f"  {table.key:<28} {version if version is not None else '-':>7} {rows:>10}")
    ok = True
    if latest_version(spark, settings.table_path(*SILVER_SESSIONS)) is not None:
        ok = print_conservation(spark, settings)
        reasons = (
            read_table(spark, settings.table_path(*QUARANTINE_SESSIONS))
            .groupBy("reason")
            .count()
            .orderBy(F.desc("count"))
            .collect()
        )
        click.echo("\nQuarantine reasons (sessions):")
        for row in reasons:
            click.echo(f"  {row['reason']:<28} {row['count']:>8}")
    gold_path = settings.table_path(*GOLD_DELIVERY_FEATURES)
    gold_version = latest_version(spark, gold_path)
    if gold_version is None:
        return ok
    click.echo(f"\nSample of {GOLD_DELIVERY_FEATURES.key} (version {gold_version}):")
    sample = read_table(spark, gold_path).orderBy("event_ts").select(*SAMPLE_COLUMNS)
    click.echo(sample.limit(sample_rows).toPandas().to_string(index=False))
    click.echo("\nTime travel: the same table at every version")
    click.echo(f"  SELECT count(*), count(delivery_days) FROM delta.`{gold_path}` VERSION AS OF n")
    for version in range(gold_version + 1):
        row = spark.sql(
            f"SELECT count(*) AS n, count(delivery_days) AS labelled "
            f"FROM delta.`{gold_path}` VERSION AS OF {version}"
        ).first()
        click.echo(f"  version {version}: {row['n']} checkouts, {row['labelled']} delivered")
    return ok
