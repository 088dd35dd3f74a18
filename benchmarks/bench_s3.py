"""Benchmark: the sessions pipeline on an S3 server against the local file system.

Same landing zone, same session, one process: first on local folders, then with landing and
lake on ``s3a://`` (a moto server on 127.0.0.1, started here, the files uploaded to it
first), each step timed. Prints the figures and the S3/local ratio per step (and writes them
as JSON). moto is an in-memory Python server, so the ratio bounds what the S3 code path (the
s3a client, Delta's S3 log store, listing instead of a directory walk) costs on top of the
storage itself; a real bucket adds network latency.

    .venv/bin/python benchmarks/bench_s3.py --documents 200000
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import date
from pathlib import Path

from common import timed, write_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lakehouse.config import load_settings
from lakehouse.generate import (
    generate_sessions_landing,
    holiday_years,
    write_reference_data,
)
from lakehouse.io.files import s3_client, upload_folder
from lakehouse.pipeline.reference import load_reference_data
from lakehouse.pipeline.sessions import (
    build_delivery_features,
    build_silver_sessions,
    ingest_sessions,
)
from lakehouse.spark import get_spark
from tests.support.servers import moto_server

STEPS = ("bronze", "reference", "silver", "gold")


def run_pipeline(spark, settings, label: str, results: dict) -> None:
    timed(f"{label} bronze", results, lambda: ingest_sessions(spark, settings))
    timed(f"{label} reference", results, lambda: load_reference_data(spark, settings))
    timed(f"{label} silver", results, lambda: build_silver_sessions(spark, settings))
    timed(f"{label} gold", results, lambda: build_delivery_features(spark, settings))
    results[f"{label} total"] = round(sum(results[f"{label} {s}"] for s in STEPS), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench-s3"))
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args()

    landing = args.workdir / f"landing-{args.documents}-{args.seed}"
    results: dict = {"documents": args.documents}
    print(f"S3 benchmark: {args.documents:,} documents", flush=True)
    if not (landing / "_manifest" / "sessions.json").exists():
        shutil.rmtree(landing, ignore_errors=True)
        write_reference_data(landing, seed=args.seed, years=holiday_years(date(2024, 1, 1), 365))
        generate_sessions_landing(landing, documents=args.documents, seed=args.seed)
    overrides = [f"spark.conf.spark.driver.memory={args.driver_memory}"]

    with moto_server() as moto:
        # the whole process, and the JVM it starts, sees moto as "S3" (fake keys, loopback)
        os.environ.update(moto.env)
        local = load_settings(
            "local", landing=str(landing), lake=str(args.workdir / "lake"), overrides=overrides
        )
        s3 = load_settings(
            "local", landing="s3a://bench/landing", lake="s3a://bench/lake", overrides=overrides
        )
        client = s3_client(s3.storage)
        client.create_bucket(Bucket="bench")
        results["files_uploaded"] = timed(
            "upload (not measured)", {}, lambda: upload_folder(client, landing, "bench", "landing")
        )
        spark = get_spark(local.spark, app_name="bench-s3", storage=s3.storage)
        # warm the JVM (class loading, Delta, the s3a client) so neither side pays for it
        for root in (str(args.workdir / "warmup"), "s3a://bench/warmup"):
            spark.range(10).write.format("delta").mode("overwrite").save(root)
        shutil.rmtree(args.workdir / "lake", ignore_errors=True)
        run_pipeline(spark, local, "local", results)
        run_pipeline(spark, s3, "s3", results)
        for step in (*STEPS, "total"):
            results[f"ratio {step}"] = round(results[f"s3 {step}"] / results[f"local {step}"], 2)
        spark.stop()
    write_results(f"s3-{args.documents}", results)


if __name__ == "__main__":
    main()
