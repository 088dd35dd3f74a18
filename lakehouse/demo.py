"""The end-to-end demo behind ``make demo``: data arrives in two waves, the lake keeps up.

1. Generate a landing zone (sessions and payments) into a staging folder.
2. Release the first 80% of each source's files (by delivery time) into the landing zone and
   run every step.
3. Release the rest (newer sessions, re-exports of parcels delivered since, later payment
   days and fraud reports) and run again: Silver merges the changes, Gold gets new versions.
   After each wave, the retraining policy looks at every model whose Gold changed: without a
   champion, or when the newer rows drifted from the champion's training data or its live
   performance fell below the baseline, it is retrained and goes through the promotion gate
   (the first wave's models become the first champions). Fraud labels are those
   reported by the wave's latest payment delivery (the simulated now), so the first wave
   trains on the older payments only, and the second on all of them: the fraud-case feed
   goes on after the payments until every case is settled.
4. Print the lake: tables, versions, counts, conservation, Gold rows, a time-travel query,
   and the registered models: metrics beside their baselines, lineage.
5. Start the prediction service, ask it one delivery and one fraud question, print the
   answers.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import click
from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.demo_service import call_service
from lakehouse.generate import (
    generate_payments_landing,
    generate_sessions_landing,
    holiday_years,
    write_reference_data,
)
from lakehouse.ml.lifecycle import retrain_by_policy
from lakehouse.ml.report import has_champions, render_models
from lakehouse.pipeline import run_all
from lakehouse.reporting import print_lake_report

FIRST_WAVE_SHARE = 0.8
SOURCE_FOLDERS = ("sessions", "payments")
PAYMENT_DAYS = 90


def release_files(staging: Path, landing: Path, folder: str, until_mtime: float | None) -> int:
    """Move files of ``folder`` modified up to ``until_mtime`` (all when None) into the landing
    zone. ``os.replace`` keeps each file's modification time, which orders the exports.
    """
    moved = 0
    for path in sorted((staging / folder).rglob("*")):
        if not path.is_file() or (until_mtime is not None and path.stat().st_mtime > until_mtime):
            continue
        target = landing / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        moved += 1
    return moved


def _first_wave_cutoff(staging: Path, folder: str) -> float:
    mtimes = sorted(
        p.stat().st_mtime
        for p in (staging / folder).rglob("*")
        if p.is_file() and not p.name.startswith(("_", "."))
    )
    return mtimes[int(len(mtimes) * FIRST_WAVE_SHARE)]


def latest_delivery(folder: Path) -> datetime:
    """The modification time of the newest file under ``folder``: the simulated now."""
    newest = max(p.stat().st_mtime for p in folder.rglob("*") if p.is_file())
    return datetime.fromtimestamp(newest, UTC)


def _with_label_cutoff(settings: Settings, cutoff: datetime) -> Settings:
    """Labels as the fraud team had reported them by ``cutoff`` (the simulated now), not today:
    a payment is a mature example only once its cases have had time to arrive."""
    click.echo(f"labels as known at {cutoff:%Y-%m-%d %H:%M} UTC (payments.label_cutoff)")
    payments = settings.payments.model_copy(update={"label_cutoff": cutoff})
    return settings.model_copy(update={"payments": payments})


def run_demo(
    spark: SparkSession,
    settings: Settings,
    workdir: Path,
    *,
    documents: int,
    transactions: int,
    seed: int,
) -> bool:
    """Run the whole demo; returns whether every invariant held."""
    staging, landing = workdir / "staging", Path(settings.landing_root)
    shutil.rmtree(staging, ignore_errors=True)
    start, days = date(2024, 1, 1), 365
    write_reference_data(landing, seed=seed, years=holiday_years(start, days))
    generate_sessions_landing(
        staging, documents=documents, seed=seed, start=start, days=days, docs_per_file=1_000
    )
    generate_payments_landing(
        staging, transactions=transactions, seed=seed, start=start, days=PAYMENT_DAYS
    )
    cutoffs = {folder: _first_wave_cutoff(staging, folder) for folder in SOURCE_FOLDERS}
    fixed_cutoff = settings.payments.label_cutoff is not None
    for wave in ("first", "second"):
        moved = {
            folder: release_files(
                staging, landing, folder, cutoffs[folder] if wave == "first" else None
            )
            for folder in SOURCE_FOLDERS
        }
        arrived = ", ".join(f"{n} {folder} files" for folder, n in moved.items())
        click.echo(f"\n== {wave} wave: {arrived} arrive ==")
        if not fixed_cutoff:
            settings = _with_label_cutoff(settings, latest_delivery(landing / "payments"))
        for report in run_all(spark, settings):
            click.echo(report.summary())
        for line in retrain_by_policy(spark, settings).lines:
            click.echo(line)
    click.echo()
    ok = print_lake_report(spark, settings)
    click.echo("\n== Models ==")
    click.echo(render_models(settings))
    if not has_champions(settings):
        click.echo("\nno champion for every model (too little data): the service is not started")
        return ok
    click.echo("\n== The prediction service ==")
    return call_service(spark, settings) and ok
