"""Benchmark: a 1% increment, landing to Gold for both sources, against the full build.

Both landing zones are generated (default 1,000,000 session documents and 2,000,000
transactions); the newest ``--share`` of every feed's files (at least one file each) is held
back. In one process:

1. the full build: every layer of both sources on the rest (``run_all``), timed;
2. the lake is copied, the held-back files land (fresh modification times, as uploads), and
   the increment runs on the lake with incremental Gold, then on the copy with whole-table
   Gold rebuilds (``gold.incremental=false``): the two increments side by side.

Prints the seconds of each run and of each layer, the increment's share of the full build
(target: at most 10%), the Gold rows each increment rebuilt, and the driver JVM's peak RSS in
each phase. ``--scales 0.1,1`` repeats it all on a lake a tenth the size first, for the driver
memory as the lake grows tenfold.

    make bench-incremental   # or: benchmarks/bench_incremental.py --documents 100000 ...
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

from common import PeakMemory

from lakehouse.config import load_settings
from lakehouse.generate import generate_payments_landing, generate_sessions_landing
from lakehouse.pipeline import LAYERS, run_layer
from lakehouse.spark import get_spark

# the folders whose files arrive over time (reference data is loaded whole, each run)
FEEDS = (
    "sessions",
    "payments/payment_transactions",
    "payments/account_details",
    "payments/external_risk_feed",
    "payments/historical_fraud_cases",
)


def hold_back(landing: Path, held: Path, share: float) -> dict[str, int]:
    """Move the newest ``share`` of each feed's files (by name) from ``landing`` to ``held``."""
    moved = {}
    for feed in FEEDS:
        files = sorted(
            p
            for p in (landing / feed).rglob("*")
            if p.is_file() and not p.name.startswith((".", "_"))  # in flight: never ingested
        )
        late = files[-max(1, math.ceil(share * len(files))) :] if files else []
        for path in late:
            target = held / path.relative_to(landing)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
        moved[feed] = len(late)
    return moved


def put_back(held: Path, landing: Path) -> None:
    """Land the held-back files, each with a fresh modification time (an upload)."""
    for path in sorted(p for p in held.rglob("*") if p.is_file()):
        target = landing / path.relative_to(held)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def run_pipeline(spark, settings) -> tuple[float, dict[str, float], dict[str, int]]:
    """Every layer of both sources: (seconds, seconds per layer, Gold rows rebuilt)."""
    layers, rebuilt = {}, {}
    started = time.perf_counter()
    for layer in LAYERS:
        begun = time.perf_counter()
        for report in run_layer(spark, settings, layer, None, None):
            if layer == "gold" and "rebuilt_rows" in report.metrics:
                rebuilt[report.table] = int(report.metrics["rebuilt_rows"])
        layers[layer] = round(time.perf_counter() - begun, 1)
    return round(time.perf_counter() - started, 1), layers, rebuilt


def one_scale(args, scale: float) -> dict:
    documents, transactions = int(args.documents * scale), int(args.transactions * scale)
    accounts = max(1_000, int(args.accounts * scale))
    work = args.workdir / f"{documents}-{transactions}"
    landing, held = work / "landing", work / "held"
    if not (landing / "_manifest" / "payments.json").exists():
        shutil.rmtree(work, ignore_errors=True)
        print(f"generating {documents} documents, {transactions} transactions", flush=True)
        generate_sessions_landing(landing, documents=documents, days=args.days)
        generate_payments_landing(
            landing, transactions=transactions, accounts=accounts, days=args.days
        )
    if held.exists():  # an earlier run's held-back files: back where they came from
        for path in sorted(p for p in held.rglob("*") if p.is_file()):
            target = landing / path.relative_to(held)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
        shutil.rmtree(held)
    moved = hold_back(landing, held, args.share)
    lakes = {"incremental": work / "lake", "whole": work / "lake-whole"}
    for lake in lakes.values():
        shutil.rmtree(lake, ignore_errors=True)

    def settings(lake: Path, incremental: bool):
        overrides = [
            f"spark.conf.spark.driver.memory={args.driver_memory}",
            "privacy.hmac_key=bench-incremental",
            f"gold.incremental={str(incremental).lower()}",
            *args.set,
        ]
        return load_settings("local", landing=str(landing), lake=str(lake), overrides=overrides)

    spark = get_spark(settings(lakes["incremental"], True).spark, app_name="bench-incremental")
    jvm = spark.sparkContext._gateway.proc.pid
    result = {"documents": documents, "transactions": transactions, "held_back_files": moved}
    print(f"scale {scale:g}: {result}", flush=True)
    with PeakMemory(jvm) as memory:
        seconds, layers, _ = run_pipeline(spark, settings(lakes["incremental"], True))
    result["full"] = {"seconds": seconds, "layers": layers, "jvm_peak_mib": memory.peak_kib // 1024}
    print(f"  full build: {result['full']}", flush=True)
    shutil.copytree(lakes["incremental"], lakes["whole"])
    put_back(held, landing)
    for name, lake in lakes.items():
        with PeakMemory(jvm) as memory:
            seconds, layers, rebuilt = run_pipeline(spark, settings(lake, name == "incremental"))
        result[f"increment, {name} gold"] = {
            "seconds": seconds,
            "layers": layers,
            "gold_rows_rebuilt": rebuilt,
            "jvm_peak_mib": memory.peak_kib // 1024,
            "share_of_full": round(seconds / result["full"]["seconds"], 3),
        }
        print(f"  increment, {name} gold: {result[f'increment, {name} gold']}", flush=True)
    spark.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=2_000_000)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--share", type=float, default=0.01, help="of each feed's files")
    parser.add_argument("--scales", default="1", help="comma-separated multipliers of the sizes")
    parser.add_argument("--workdir", type=Path, default=Path("data/bench-incremental"))
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE, both sides")
    args = parser.parse_args()
    results = [one_scale(args, float(s)) for s in args.scales.split(",")]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
