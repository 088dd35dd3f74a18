"""Benchmark: the payments pipeline, and point-in-time Gold against a naive current-value join.

Runs Bronze -> Silver -> Gold on generated feeds (default: 2,000,000 transactions, 50,000
accounts, 90 daily snapshots), then, on the same Silver tables and the same session, the Gold
build twice: point in time (attributes and risk flags valid at each transaction) and naive
(every transaction joined to the accounts' current values). Both use the same code path; the
naive one simply sees each account's current version as valid forever. Prints the figures
(and writes them as JSON), including the largest shuffle of each build.

    .venv/bin/python benchmarks/bench_payments.py --transactions 2000000 --accounts 50000
"""

from __future__ import annotations

import argparse
import shutil
from datetime import UTC, datetime
from pathlib import Path

from common import (
    PeakMemory,
    largest_shuffle_mib,
    quality_lake,
    quality_rounds,
    timed,
    write_results,
)
from pyspark.sql import functions as F

from lakehouse.config import load_settings
from lakehouse.generate import generate_payments_landing
from lakehouse.gold.payments import to_payments_unified
from lakehouse.io.delta import read_table
from lakehouse.pipeline.payments import (
    build_payments_unified,
    build_silver_payments,
    ingest_payments,
)
from lakehouse.spark import get_spark
from lakehouse.tables import (
    SILVER_ACCOUNTS,
    SILVER_FRAUD_CASE_HISTORY,
    SILVER_RISK_INTERVALS,
    SILVER_TRANSACTIONS,
)

EPOCH = datetime(1970, 1, 1)


def current_only(versions_df):
    """Each account's current version, valid since forever: the naive join's view."""
    return versions_df.where(F.col("valid_to").isNull()).withColumn("valid_from", F.lit(EPOCH))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2_000_000)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench-payments"))
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument(
        "--quality-rounds",
        type=int,
        default=3,
        metavar="N",
        help="then Bronze to Gold N more times for each quality mode (off, on, suites only), "
        "interleaved: the overhead, from the medians (0 skips it)",
    )
    args = parser.parse_args()

    landing = args.workdir / f"landing-{args.transactions}-{args.accounts}-{args.days}"
    lake = args.workdir / "lake"
    results: dict = {
        "transactions": args.transactions,
        "accounts": args.accounts,
        "days": args.days,
    }
    print(f"payments benchmark: {results}", flush=True)
    if not (landing / "_manifest" / "payments.json").exists():
        shutil.rmtree(landing, ignore_errors=True)
        timed(
            "generate (not measured)",
            results,
            lambda: generate_payments_landing(
                landing, transactions=args.transactions, accounts=args.accounts, days=args.days
            ),
        )
    shutil.rmtree(lake, ignore_errors=True)
    settings = load_settings(
        "local",
        landing=str(landing),
        lake=str(lake),
        overrides=[
            f"spark.conf.spark.driver.memory={args.driver_memory}",
            "privacy.hmac_key=benchmark",
        ],
    )
    spark = get_spark(settings.spark, app_name="bench-payments")
    jvm_pid = spark.sparkContext._gateway.proc.pid

    with PeakMemory(jvm_pid) as pipeline_mem:
        timed("pipeline: bronze", results, lambda: ingest_payments(spark, settings))
        timed("pipeline: silver", results, lambda: build_silver_payments(spark, settings))
        timed("pipeline: gold", results, lambda: build_payments_unified(spark, settings))
    results["pipeline_total_s"] = round(
        sum(results[f"pipeline: {step}"] for step in ("bronze", "silver", "gold")), 2
    )
    results["jvm_peak_rss_mib"] = round(pipeline_mem.peak_kib / 1024)

    def quality_run(mode: str, label: str) -> float:
        """Bronze to Gold on a lake of its own, with the quality work of ``mode``."""
        on = quality_lake(args.workdir, landing, label, mode, ["privacy.hmac_key=benchmark"])
        steps: dict = {}
        timed(f"  bronze, {label}", steps, lambda: ingest_payments(spark, on))
        timed(f"  silver, {label}", steps, lambda: build_silver_payments(spark, on))
        timed(f"  gold, {label}", steps, lambda: build_payments_unified(spark, on))
        return sum(steps.values())

    if args.quality_rounds:
        quality_rounds(results, quality_run, args.quality_rounds)

    def frame(table):
        return read_table(spark, settings.table_path(*table))

    transactions, cases = frame(SILVER_TRANSACTIONS), frame(SILVER_FRAUD_CASE_HISTORY)
    accounts, risk = frame(SILVER_ACCOUNTS), frame(SILVER_RISK_INTERVALS)
    cutoff = datetime.now(UTC).replace(tzinfo=None)

    def build(kind: str, accounts_df, risk_df) -> None:
        out = str(args.workdir / f"gold-{kind}")
        shutil.rmtree(out, ignore_errors=True)
        to_payments_unified(
            transactions, accounts_df, risk_df, cases, cutoff=cutoff, maturity_days=60
        ).write.format("delta").save(out)

    # Alternate the two builds (naive, pit, naive, pit) and keep each one's best time.
    for round_ in (1, 2):
        for kind, acc, rsk in (
            ("naive", current_only(accounts), current_only(risk)),
            ("point_in_time", accounts, risk),
        ):
            _, mark = largest_shuffle_mib(spark)
            seconds = {}
            timed(
                f"gold {kind} (round {round_})",
                seconds,
                lambda a=acc, r=rsk, k=kind: build(k, a, r),
            )
            key = f"gold_{kind}_s"
            results[key] = min(results.get(key, float("inf")), *seconds.values())
            results[f"largest_shuffle_mib_{kind}"], _ = largest_shuffle_mib(spark, mark)

    results["ratio_point_in_time_to_naive"] = round(
        results["gold_point_in_time_s"] / results["gold_naive_s"], 2
    )
    results["account_versions"] = accounts.count()
    results["silver_transactions"] = transactions.count()
    write_results(f"payments-{args.transactions}", results)


if __name__ == "__main__":
    main()
