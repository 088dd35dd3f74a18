"""Benchmark: the scheduled pipeline on a Spark standalone cluster, 1 worker against 2.

One landing zone; for each cluster size a master and N workers (one core each) start on
127.0.0.1 from the pinned PySpark, and the hourly schedule's jobs run on it as the Airflow DAG
runs them, each a ``infra/spark-submit.sh`` application (client mode) on a fresh lake:
``ingest``, ``silver``, ``gold``. Prints each job's wall time, the totals and the 1/2 ratio
(and writes them to bench-results/cluster.json). On a machine with two cores, two one-core
workers use every core the driver does not, so the ratio bounds from below what a second
machine would give.

    .venv/bin/python benchmarks/bench_cluster.py --documents 200000 --transactions 200000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import write_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.servers import SparkCluster, spark_cluster

ROOT = Path(__file__).resolve().parents[1]
JOBS = ("ingest", "silver", "gold")
KEY = "privacy.hmac_key=bench-cluster"


def submit(
    cluster: SparkCluster, job: str, landing: Path, lake: Path, executor_memory: str
) -> float:
    """One job on the cluster; its wall time in seconds (JVM start and submit included)."""
    conf = {
        "spark.ui.enabled": "false",
        "spark.executor.cores": "1",
        "spark.executor.memory": executor_memory,
        "spark.sql.shuffle.partitions": "8",
    }
    options = ["--landing", str(landing), "--lake", str(lake), "--set", KEY]
    command = cluster.submit_command(ROOT / "jobs" / f"{job}.py", *options, conf=conf)
    started = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **cluster.submit_env}
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{job} failed ({result.returncode}):\n{result.stdout[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench-cluster"))
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--worker-memory", default="4g")
    args = parser.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    landing = args.workdir / "landing"
    generate = [str(Path(sys.executable).parent / "lakehouse"), "generate", "--out", str(landing)]
    generate += ["--sessions", str(args.documents), "--transactions", str(args.transactions)]
    generated = subprocess.run(
        [*generate, "--seed", str(args.seed)],
        capture_output=True,
        text=True,
    )
    if generated.returncode != 0:
        raise SystemExit(generated.stderr[-3000:])

    results: dict[str, float | int] = {
        "documents": args.documents,
        "transactions": args.transactions,
    }
    for workers in (1, 2):
        folder = args.workdir / f"workers-{workers}"
        (folder / "cluster").mkdir(parents=True)
        with spark_cluster(
            folder / "cluster", workers=workers, cores=1, memory=args.worker_memory
        ) as cluster:
            total = 0.0
            for job in JOBS:
                seconds = submit(cluster, job, landing, folder / "lake", args.worker_memory)
                results[f"{workers} worker(s) {job} s"] = round(seconds, 1)
                total += seconds
                print(f"{workers} worker(s)  {job:<7} {seconds:7.1f} s", flush=True)
            results[f"{workers} worker(s) total s"] = round(total, 1)
    ratio = results["1 worker(s) total s"] / results["2 worker(s) total s"]
    results["speed-up 2 vs 1 worker"] = round(ratio, 2)
    print(
        f"total: 1 worker {results['1 worker(s) total s']} s, "
        f"2 workers {results['2 worker(s) total s']} s, speed-up {ratio:.2f}x"
    )
    write_results("cluster", results)


if __name__ == "__main__":
    main()
