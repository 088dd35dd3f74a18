"""Human-readable views of the lake: table history and the demo's lake report."""

from __future__ import annotations

import click
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.config import Settings
from lakehouse.contract import PAYMENT_FEEDS
from lakehouse.io.delta import history, latest_data_version, latest_version, read_table
from lakehouse.io.ledger import ledger_totals, read_ledger
from lakehouse.io.refused import read_refused
from lakehouse.quality.drift import Drift
from lakehouse.tables import (
    ALL_TABLES,
    BATCH_LEDGER,
    BRONZE_SESSIONS,
    EXPECTATIONS,
    GOLD_DELIVERY_FEATURES,
    GOLD_PAYMENTS_UNIFIED,
    QUARANTINE_RELEASES,
    QUARANTINE_SESSIONS,
    REFUSED_FILES,
    ROW_WARNINGS,
    SCHEMA_DRIFT,
    SILVER_ACCOUNT_CHANGES,
    SILVER_FRAUD_CASE_HISTORY,
    SILVER_RISK_EVENTS,
    SILVER_SESSIONS,
    SILVER_TRANSACTIONS,
    Table,
)

PAYMENT_SAMPLE_COLUMNS = [
    "transaction_id",
    "transaction_ts",
    "amount",
    "channel",
    "src_kyc_status",
    "src_account_age_days",
    "src_risk_flag",
    "src_txn_count_24h",
    "is_first_pair",
    "fraud_flag",
    "label_is_mature",
]
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


# source -> (bronze, silver, quarantine) tables whose row counts the ledger must explain
CONSERVED = {
    "sessions": (BRONZE_SESSIONS, SILVER_SESSIONS, QUARANTINE_SESSIONS),
    **{
        feed: (Table("bronze", feed), silver, Table("quarantine", feed))
        for feed, silver in zip(
            PAYMENT_FEEDS,
            (
                SILVER_TRANSACTIONS,
                SILVER_ACCOUNT_CHANGES,
                SILVER_RISK_EVENTS,
                SILVER_FRAUD_CASE_HISTORY,
            ),
            strict=True,
        )
    },
}


def _rows(spark: SparkSession, settings: Settings, table: Table) -> int:
    path = settings.table_path(*table)
    return read_table(spark, path).count() if latest_version(spark, path) is not None else 0


def print_conservation(spark: SparkSession, settings: Settings) -> bool:
    """Check and print the conservation invariant for every source (CONTRACT section 2.4)."""
    ledger = settings.table_path(*BATCH_LEDGER)
    click.echo(
        "\nConservation: read = bronze = silver + held in quarantine + duplicates removed"
        " (held = quarantined - released by replays)"
    )
    ok = True
    refused = read_refused(spark, settings.table_path(*REFUSED_FILES))
    releases = _released_per_source(spark, settings)
    for source, (bronze_t, silver_t, quarantine_t) in CONSERVED.items():
        if latest_version(spark, settings.table_path(*bronze_t)) is None:
            continue
        read = ledger_totals(spark, ledger, "bronze", source).get("records_read", 0)
        duplicates = ledger_totals(spark, ledger, "silver", source).get("duplicates_removed", 0)
        replays = ledger_totals(spark, ledger, "replay", source)
        duplicates += replays.get("duplicates_removed", 0)
        # rows `lakehouse forget` erased count as if still there
        erased = ledger_totals(spark, ledger, "erasure", source)
        bronze = _rows(spark, settings, bronze_t) + erased.get("bronze", 0)
        silver = _rows(spark, settings, silver_t) + erased.get("silver", 0)
        quarantined = _rows(spark, settings, quarantine_t) + erased.get("quarantine", 0)
        released = releases.get(source, 0) + erased.get("released", 0)
        held = quarantined - released
        # every release is a replay's, as its ledger row counts them
        holds = read == bronze == silver + held + duplicates and released == replays.get(
            "released", 0
        )
        ok &= holds
        shown = f"{held}" if not released else f"({quarantined} - {released})"
        note = f"  (erased rows included: {sum(erased.values())})" if erased else ""
        click.echo(
            f"  {'OK  ' if holds else 'FAIL'} {source:<24} {read} = {bronze} = "
            f"{silver} + {shown} + {duplicates}{note}"
        )
        # files: the ledger's counts add up, and its refusals are the refused-files table's
        files = _file_counts(spark, ledger, source)
        listed = refused.where(F.col("source") == source).count()
        files_hold = files[0] == files[1] + files[2] and files[2] == listed
        ok &= files_hold
        click.echo(
            f"  {'OK  ' if files_hold else 'FAIL'} {'':<24} files: {files[0]} = "
            f"{files[1]} ingested + {files[2]} refused ({listed} in {REFUSED_FILES.key})"
        )
    return ok


def _released_per_source(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Quarantined rows each source's replays released (``audit/quarantine_releases``)."""
    path = settings.table_path(*QUARANTINE_RELEASES)
    if latest_version(spark, path) is None:
        return {}
    rows = read_table(spark, path).groupBy("source").count().collect()
    return {r["source"]: int(r["count"]) for r in rows}


def _file_counts(spark: SparkSession, ledger: str, source: str) -> tuple[int, int, int]:
    """Files read, ingested and refused by ``source``'s ingest batches. A batch recorded
    before files were refused (no ``files_ingested``) ingested every file it read."""
    metrics = (
        read_ledger(spark, ledger)
        .where((F.col("step") == "bronze") & (F.col("source") == source))
        .select("metrics")
        .collect()
    )
    read = ingested = refused = 0
    for row in metrics:
        counts = row["metrics"]
        read += counts.get("files_read", 0)
        refused += counts.get("files_refused", 0)
        ingested += counts.get(
            "files_ingested", counts.get("files_read", 0) - counts.get("files_refused", 0)
        )
    return read, ingested, refused


def print_refused_files(spark: SparkSession, settings: Settings, limit: int = 20) -> None:
    """List the files refused whole (CONTRACT section 2.5), newest first."""
    refused = read_refused(spark, settings.table_path(*REFUSED_FILES))
    rows = refused.orderBy(F.desc("refused_at"), "path").limit(limit + 1).collect()
    if not rows:
        return
    total = refused.count()
    click.echo(f"\nRefused files ({total}; the records before the damage are kept):")
    for row in rows[:limit]:
        click.echo(
            f"  {row['source']:<24} {row['reason']:<20} {row['records_kept']:>6} kept  "
            f"{row['path']}"
        )
    if total > limit:
        click.echo(f"  ... and {total - limit} more (audit/refused_files)")


def print_quarantine_reasons(spark: SparkSession, settings: Settings) -> None:
    """Rows per quarantine table and reason: held, and released by replays."""
    from lakehouse.pipeline.replay import quarantined

    click.echo(f"\nQuarantine reasons:  {'held':>8} {'released':>9}")
    for table in [t for t in ALL_TABLES if t.layer == "quarantine"]:
        rows = quarantined(spark, settings, table.name)
        if rows is None:
            continue
        counts = (
            rows.groupBy("reason")
            .agg(
                F.sum((~F.col("released")).cast("long")).alias("held"),
                F.sum(F.col("released").cast("long")).alias("released"),
            )
            .orderBy(F.desc("held"), "reason")
            .collect()
        )
        for row in counts:
            click.echo(
                f"  {table.key:<36} {row['reason']:<28} {row['held']:>8} {row['released']:>9}"
            )


def print_row_warnings(spark: SparkSession, settings: Settings) -> None:
    """Rows kept with an auxiliary field unread or unknown (CONTRACT section 2.3), by code."""
    path = settings.table_path(*ROW_WARNINGS)
    if latest_version(spark, path) is None:
        return
    counts = (
        read_table(spark, path)
        .select("source", F.explode("warnings").alias("code"))
        .groupBy("source", "code")
        .count()
        .orderBy("source", F.desc("count"))
        .collect()
    )
    if counts:
        click.echo(f"\nRow warnings (kept rows; {ROW_WARNINGS.key}):")
        for row in counts:
            click.echo(f"  {row['source']:<36} {row['code']:<28} {row['count']:>8}")


def print_expectations(spark: SparkSession, settings: Settings) -> None:
    """Each table's latest validation (``audit/expectations``): published or not, and the
    checks that failed."""
    from lakehouse.quality.audit import read_expectations

    df = read_expectations(spark, settings)
    if df is None:
        return
    latest = df.groupBy("table").agg(F.max_by("validation_id", "validated_at").alias("vid"))
    rows = (
        df.join(latest, (df["table"] == latest["table"]) & (df["validation_id"] == latest["vid"]))
        .select(df["*"])
        .orderBy("table", "check")
        .collect()
    )
    click.echo(f"\nExpectation suites, latest validation per table ({EXPECTATIONS.key}):")
    by_table: dict[str, list] = {}
    for row in rows:
        by_table.setdefault(row["table"], []).append(row)
    for table, checks in by_table.items():
        failed = [r for r in checks if not r["success"]]
        first = checks[0]
        if first.asDict().get("batch_id") is not None:
            state = f"batch {first['batch_id']}, version {first['table_version']}"
        elif first["published"]:
            state = f"published as version {first['table_version']}"
        else:
            state = f"NOT published (version {first['compared_with_version']} stays)"
        click.echo(
            f"  {table:<28} {len(checks) - len(failed)}/{len(checks)} passed, {state} "
            f"({first['validated_at']:%Y-%m-%d %H:%M:%S})"
        )
        for r in failed:
            seen = r["observed_value"]
            if r["unexpected_count"] is not None:
                seen = f"{r['unexpected_count']} unexpected ({r['unexpected_percent'] or 0:.1f}%)"
            click.echo(f"    {r['severity']:<5} {r['check']:<40} {r['rows']:<5} rows: {seen}")
    if settings.quality.data_docs:
        from lakehouse.quality.data_docs import write_index

        click.echo(f"  Data Docs (every validation, with its page): {write_index(spark, settings)}")


def print_schema_drift(spark: SparkSession, settings: Settings, limit: int = 10) -> None:
    """The latest batches whose shape drifted (``audit/schema_drift``), newest first."""
    from lakehouse.quality.drift_audit import read_drift

    df = read_drift(spark, settings)
    if df is None:
        return
    drifted = df.where(F.size("drift") > 0)
    rows = drifted.orderBy(F.desc("recorded_at"), "source").limit(limit).collect()
    if not rows:
        return
    total = drifted.count()
    click.echo(f"\nSchema drift, latest batches that drifted ({total}; {SCHEMA_DRIFT.key}):")
    for row in rows:
        items = [Drift(*d).describe() for d in row["drift"]]
        shown = "; ".join(items[:5]) + (f"; ... {len(items) - 5} more" if len(items) > 5 else "")
        click.echo(f"  {row['source']:<24} batch {row['batch_id']:<6} {shown}")


def _time_travel(spark: SparkSession, path: str, label: str, measure: str) -> None:
    version = latest_version(spark, path)
    click.echo(f"\nTime travel: {label} at every version")
    click.echo(f"  SELECT count(*), {measure} FROM delta.`{path}` VERSION AS OF n")
    for v in range(version + 1):
        try:
            row = read_table(spark, path, version=v).selectExpr("count(*)", measure).first()
        except Exception as exc:  # a version whose files VACUUM or `forget` removed
            click.echo(
                f"  version {v}: not readable any more ({type(exc).__name__}: files removed)"
            )
            continue
        click.echo(f"  version {v}: {row[0]} rows, {measure} = {row[1]}")


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
    ok = print_conservation(spark, settings)
    print_refused_files(spark, settings)
    print_quarantine_reasons(spark, settings)
    print_row_warnings(spark, settings)
    print_expectations(spark, settings)
    print_schema_drift(spark, settings)
    gold_path = settings.table_path(*GOLD_DELIVERY_FEATURES)
    if latest_version(spark, gold_path) is not None:
        click.echo(f"\nSample of {GOLD_DELIVERY_FEATURES.key}:")
        sample = read_table(spark, gold_path).orderBy("event_ts").select(*SAMPLE_COLUMNS)
        click.echo(sample.limit(sample_rows).toPandas().to_string(index=False))
        _time_travel(spark, gold_path, GOLD_DELIVERY_FEATURES.key, "count(delivery_days)")
    payments_path = settings.table_path(*GOLD_PAYMENTS_UNIFIED)
    if latest_version(spark, payments_path) is not None:
        click.echo(f"\nSample of {GOLD_PAYMENTS_UNIFIED.key}:")
        sample = read_table(spark, payments_path).orderBy(F.desc("fraud_flag"), "transaction_ts")
        click.echo(
            sample.select(*PAYMENT_SAMPLE_COLUMNS)
            .limit(sample_rows)
            .toPandas()
            .to_string(index=False)
        )
        _time_travel(
            spark, payments_path, GOLD_PAYMENTS_UNIFIED.key, "sum(cast(fraud_flag AS int))"
        )
    return ok


def check_lake(spark: SparkSession, settings: Settings) -> list[str]:
    """Print and return what is wrong with the lake as a whole, after a run: a source whose
    records or files do not add up (conservation), and a Gold table whose current version was
    published with failed ``fail`` checks of its expectation suite (``quality.fail_on_error``
    false lets such a version through)."""
    from lakehouse.quality.audit import failed_checks

    problems = [] if print_conservation(spark, settings) else ["conservation does not hold"]
    click.echo("\nGold tables, current version against its expectation suite:")
    for table in (GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED):
        # the build that wrote the rows, not a later OPTIMIZE or property change
        version = latest_data_version(spark, settings.table_path(*table))
        if version is None:
            click.echo(f"  -    {table.key:<24} not built yet")
            continue
        failed = failed_checks(spark, settings, table, version)
        click.echo(
            f"  {'FAIL' if failed else 'OK  '} {table.key:<24} v{version}"
            + (f": failed {', '.join(failed)}" if failed else "")
        )
        if failed:
            problems.append(f"{table.key} v{version} failed {', '.join(failed)}")
    return problems
