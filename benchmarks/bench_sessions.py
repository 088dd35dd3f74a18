"""Benchmark: the sessions pipeline (Bronze + Silver + Gold) against Spark's own floor.

The floor is the least any Spark job can do with the same files: read them with the explicit
schema and write Parquet. Both run in one process on one session, one after the other, so the
ratio is meaningful on a noisy machine. Prints the figures (and writes them as JSON).

    .venv/bin/python benchmarks/bench_sessions.py --documents 1000000
"""

from __future__ import annotations

import argparse
import resource
import shutil
from datetime import date
from pathlib import Path

from common import (
    PeakMemory,
    largest_shuffle_mib,
    quality_lake,
    quality_rounds,
    timed,
    write_results,
)

from lakehouse.bronze.schemas import HIT_OR_SOURCE_SCHEMA
from lakehouse.config import Settings, load_settings
from lakehouse.generate import generate_sessions_landing, holiday_years, write_reference_data
from lakehouse.pipeline.reference import load_reference_data
from lakehouse.pipeline.sessions import (
    build_delivery_features,
    build_silver_sessions,
    ingest_sessions,
)
from lakehouse.spark import get_spark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench-sessions"))
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="configuration override for both runs, e.g. spark.conf.spark.eventLog.enabled=true",
    )
    parser.add_argument(
        "--quality-rounds",
        type=int,
        default=3,
        metavar="N",
        help="then the pipeline N more times for each quality mode (off, on, suites only), "
        "interleaved: the overhead, from the medians (0 skips it)",
    )
    args = parser.parse_args()

    landing = args.workdir / f"landing-{args.documents}-{args.seed}"
    lake, floor_out = args.workdir / "lake", args.workdir / "floor-parquet"
    results: dict = {"documents": args.documents}
    print(f"sessions benchmark: {args.documents:,} documents", flush=True)
    if not (landing / "_manifest" / "sessions.json").exists():
        shutil.rmtree(landing, ignore_errors=True)
        timed(
            "generate (not measured)",
            results,
            lambda: (
                write_reference_data(
                    landing, seed=args.seed, years=holiday_years(date(2024, 1, 1), 365)
                ),
                generate_sessions_landing(landing, documents=args.documents, seed=args.seed),
            ),
        )
    input_bytes = sum(p.stat().st_size for p in (landing / "sessions").rglob("*") if p.is_file())
    results["input_mib"] = round(input_bytes / 2**20, 1)

    settings = load_settings(
        "local",
        landing=str(landing),
        lake=str(lake),
        overrides=[f"spark.conf.spark.driver.memory={args.driver_memory}", *args.set],
    )
    spark = get_spark(settings.spark, app_name="bench-sessions")
    jvm_pid = spark.sparkContext._gateway.proc.pid
    sessions_dir = settings.landing_path("sessions")

    def floor() -> None:
        (
            spark.read.schema(HIT_OR_SOURCE_SCHEMA)
            .option("recursiveFileLookup", "true")
            .option("pathGlobFilter", "[!_.]*")
            .json(sessions_dir)
            .write.mode("overwrite")
            .parquet(str(floor_out))
        )

    def pipeline(on: Settings = settings, steps: dict = results) -> None:
        bronze = timed("  bronze", steps, lambda: ingest_sessions(spark, on))
        timed("  reference", steps, lambda: load_reference_data(spark, on))
        silver = timed("  silver", steps, lambda: build_silver_sessions(spark, on))
        timed("  gold", steps, lambda: build_delivery_features(spark, on))
        steps["records_read"] = bronze.metrics["records_read"]
        steps["silver_inserted"] = silver.metrics["silver_inserted"]

    def quality_run(mode: str, label: str) -> float:
        """The whole pipeline on a lake of its own, with the quality work of ``mode``."""
        on = quality_lake(args.workdir, landing, label, mode, args.set)
        steps: dict = {}
        timed(f"pipeline, {label}", steps, lambda: pipeline(on, steps))
        return steps[f"pipeline, {label}"]

    # Warm the JVM (class loading, Delta) on a throwaway table so neither side pays for it.
    spark.range(10).write.format("delta").mode("overwrite").save(str(args.workdir / "warmup"))
    for path in (lake, floor_out):
        shutil.rmtree(path, ignore_errors=True)
    with PeakMemory(jvm_pid) as floor_mem:
        timed("floor: json -> parquet", results, floor)
    _, mark = largest_shuffle_mib(spark)
    with PeakMemory(jvm_pid) as pipe_mem:
        timed("pipeline: bronze+silver+gold", results, pipeline)
    results["largest_shuffle_mib"], _ = largest_shuffle_mib(spark, mark)
    if args.quality_rounds:
        quality_rounds(results, quality_run, args.quality_rounds)

    floor_s, pipe_s = results["floor: json -> parquet"], results["pipeline: bronze+silver+gold"]
    results.update(
        floor_rows_per_s=round(args.documents / floor_s),
        pipeline_rows_per_s=round(args.documents / pipe_s),
        ratio_to_floor=round(pipe_s / floor_s, 2),
        jvm_peak_rss_mib_floor=round(floor_mem.peak_kib / 1024),
        jvm_peak_rss_mib_pipeline=round(pipe_mem.peak_kib / 1024),
        python_peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        driver_memory=args.driver_memory,
    )
    write_results(f"sessions-{args.documents}", results)


if __name__ == "__main__":
    main()
