"""Benchmark: the prediction service against `mlflow models serve`, same model versions.

Each server runs alone on 127.0.0.1 (one process each, as started by default) and is driven
by the same closed-loop client (``benchmarks/loadgen.py``) in this process, so the ratios are
meaningful on a noisy 2-core machine. Per model (``delivery_date``, ``fraud``) and server:

- single-record requests at concurrency 1 and 8: throughput, latency p50 and p99;
- one request of 1,000 records, repeated: latency p50 and max;
- the server's resident memory (now and peak, its whole process tree).

Our service gets what its clients send: raw checkout documents (as Elasticsearch exports them)
and raw transactions, and computes every feature online. The MLflow server gets the model's
ready-made input columns (Gold rows), so it does less work per request than ours does.

    .venv/bin/python benchmarks/bench_serving.py [--lake data/demo/lake] [--seconds 8]

Without ``--lake`` it uses the demo's lake when that has both champions, and otherwise
builds a small one with ``lakehouse demo`` (a few minutes, once).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
from deltalake import DeltaTable
from loadgen import LoadResult, run_load, timed_requests

from lakehouse.config import Settings, load_settings
from lakehouse.contract import CHECKOUT
from lakehouse.demo_service import HOST, free_port, stop_process, wait_until_ready
from lakehouse.features import FeatureError
from lakehouse.features.delivery_online import checkout_features, load_delivery_reference
from lakehouse.gold.delivery_online import DeliveryRules
from lakehouse.ml.catalog import task_named
from lakehouse.ml.registry import CHAMPION, alias_version
from lakehouse.ml.report import has_champions
from lakehouse.ml.tracking import client_for, tracking_uri
from lakehouse.privacy import resolve_key, reveal_py
from lakehouse.tables import (
    BRONZE_SESSIONS,
    GOLD_DELIVERY_FEATURES,
    GOLD_PAYMENTS_UNIFIED,
    SILVER_TRANSACTIONS,
)

READY_TIMEOUT_S = 300
DEMO_LAKE = Path("data/demo/lake")
BUILD_SESSIONS, BUILD_TRANSACTIONS = 40_000, 60_000
REQUEST_POOL = 2_000  # distinct records per model (cycled)
BATCH_RECORDS = 1_000
TRANSACTION_FIELDS = (
    "source_account_id", "destination_account_id", "amount", "currency", "channel",
    "merchant_category",
)  # fmt: skip
PATHS = {"delivery": "/v1/delivery/predict", "fraud": "/v1/fraud/score"}
TARGETS = {"p99_c8_ms": 10.0, "rate_c8": 1_000.0, "ratio_c8": 10.0, "batch_p50_ms": 50.0}


# --- the lake and the requests ----------------------------------------------------------------


def ensure_lake(lake: Path | None, workdir: Path) -> Settings:
    """A lake whose models both have a champion: the one given, the demo's, or a new one."""
    if lake is not None:
        settings = load_settings(lake=str(lake))
        if not has_champions(settings):
            sys.exit(f"{lake} has no champion for every model: run `make demo` or train them")
        return settings
    settings = load_settings(lake=str(DEMO_LAKE))
    if DEMO_LAKE.exists() and has_champions(settings):
        return settings
    built = workdir / "lake"
    settings = load_settings(lake=str(built))
    if built.exists() and has_champions(settings):
        return settings
    print(f"building a lake with champions in {workdir} (lakehouse demo, a few minutes)...")
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / "build.log").open("w") as log:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "lakehouse",
                "demo",
                "--workdir",
                str(workdir),
                "--sessions",
                str(BUILD_SESSIONS),
                "--transactions",
                str(BUILD_TRANSACTIONS),
            ],
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if not has_champions(settings):
        sys.exit(f"the demo in {workdir} ended without both champions: see build.log")
    return settings


def checkout_documents(settings: Settings, count: int) -> list[dict]:
    """Checkout documents as exported (Bronze's raw text) that the service accepts."""
    raw = (
        DeltaTable(settings.table_path(*BRONZE_SESSIONS))
        .to_pandas(columns=["raw_record", "is_malformed"])
        .query("~is_malformed")["raw_record"]
    )
    reference = load_delivery_reference(settings)
    rules = DeliveryRules.from_settings(settings)
    key = resolve_key(settings)  # Bronze keeps the raw text encrypted
    documents = []
    for sealed in raw:
        text = reveal_py(sealed, key)
        if f'"{CHECKOUT}"' not in text:
            continue
        document = json.loads(text)
        try:
            checkout_features(document, reference, rules)
        except FeatureError:
            continue
        documents.append(document)  # a hit wrapper as exported, or a bare document
        if len(documents) == count:
            break
    return documents


class TransactionStream:
    """New transactions between known accounts, each a little after the previous one.

    The service adds every transaction it scores to its velocity state, so a load run sends
    a live stream (increasing timestamps, fresh ids) rather than one transaction again.
    """

    def __init__(self, settings: Settings, pool: int) -> None:
        rows = DeltaTable(settings.table_path(*SILVER_TRANSACTIONS)).to_pandas(
            columns=["transaction_ts", *TRANSACTION_FIELDS]
        )
        rows = rows.sort_values("transaction_ts").tail(pool)
        self.templates = [
            {k: (None if pd.isna(v) else str(v)) for k, v in row.items()}
            for row in rows[list(TRANSACTION_FIELDS)].to_dict("records")
        ]
        newest = pd.Timestamp(rows["transaction_ts"].max()).to_pydatetime()
        self.next_ts = newest.replace(tzinfo=UTC) + timedelta(minutes=1)
        self.sent = 0

    def take(self, count: int) -> list[dict]:
        """The next ``count`` transactions, 50 ms apart."""
        out = []
        for _ in range(count):
            template = self.templates[self.sent % len(self.templates)]
            self.sent += 1
            self.next_ts += timedelta(milliseconds=50)
            out.append(
                {
                    **template,
                    "transaction_id": f"bench-{self.sent}",
                    "transaction_ts": self.next_ts.isoformat().replace("+00:00", "Z"),
                }
            )
        return out


def model_inputs(settings: Settings, task: str, count: int) -> list[dict]:
    """The model's input columns for Gold rows, as `mlflow models serve` takes them."""
    table = GOLD_DELIVERY_FEATURES if task == "delivery" else GOLD_PAYMENTS_UNIFIED
    model_task = task_named(task)
    rows = DeltaTable(settings.table_path(*table)).to_pandas()
    inputs = model_task.inputs(rows, settings)
    text_columns = [c for c in inputs.columns if inputs[c].dtype == object]
    # a signature inferred from complete rows marks its string columns as required
    inputs = inputs.dropna(subset=text_columns).tail(count)
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()}
        for record in inputs.to_dict("records")
    ]


# --- servers ----------------------------------------------------------------------------------


def tree_memory_mib(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of a process and its descendants (MiB)."""
    rss = peak = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text().splitlines()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        for line in status:
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak += int(line.split()[1])
        pending.extend(int(child) for child in children)
    return round(rss / 1024, 1), round(peak / 1024, 1)


@contextmanager
def server(command: list[str], ready_path: str, port: int, log_path: Path, env: dict):
    """Start a server, wait until ``ready_path`` answers 200, yield its pid, stop it."""
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10) as client:
                try:
                    wait_until_ready(client, process, ready_path, READY_TIMEOUT_S)
                except (RuntimeError, TimeoutError) as exc:
                    raise RuntimeError(f"{command[:3]}: {exc}: see {log_path}") from exc
            yield process.pid
        finally:
            stop_process(process)


# --- measuring --------------------------------------------------------------------------------


def load(port: int, path: str, bodies: list[bytes], concurrency: int, seconds: float):
    return asyncio.run(
        run_load(port, [(path, b) for b in bodies], concurrency=concurrency, seconds=seconds)
    )


def figures(result: LoadResult) -> dict:
    if result.errors:
        first = result.errors[0]
        raise RuntimeError(f"{len(result.errors)} error answers (first: {first.status})")
    return {
        "requests": len(result.samples),
        "rate": round(result.rate, 1),
        "p50_ms": round(result.quantile(0.5), 2),
        "p99_ms": round(result.quantile(0.99), 2),
    }


def batch_figures(port: int, path: str, batch, repeat: int) -> dict:
    """``batch()`` gives each request's body: ``repeat`` of them, after one to warm up."""
    bodies = [batch() for _ in range(repeat + 1)]
    seconds, statuses = asyncio.run(timed_requests(port, path, bodies))
    if any(s != 200 for s in statuses):
        raise RuntimeError(f"a batch request failed: {sorted(set(statuses))}")
    ms = np.array(seconds[1:]) * 1e3  # the first one warms the path up
    return {"p50_ms": round(float(np.median(ms)), 2), "max_ms": round(float(ms.max()), 2)}


def measure(port: int, path: str, single, batch, args) -> dict:
    """Warm-up, then concurrency 1 and 8, then the batch. ``single(n)`` gives n bodies,
    ``batch()`` one body of ``BATCH_RECORDS`` records."""
    load(port, path, single(2_000), 8, args.warmup)
    out = {}
    for concurrency in (1, 8):
        bodies = single(int(args.seconds * 4_000))
        out[f"c{concurrency}"] = figures(load(port, path, bodies, concurrency, args.seconds))
        print(f"    concurrency {concurrency}: {out[f'c{concurrency}']}", flush=True)
    out["batch"] = batch_figures(port, path, batch, args.batch_repeat)
    print(f"    {BATCH_RECORDS} records in one request: {out['batch']}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench-serving"))
    parser.add_argument("--seconds", type=float, default=8.0, help="per load run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--batch-repeat", type=int, default=20)
    parser.add_argument("--mlflow-seconds", type=float, default=None, help="default --seconds")
    args = parser.parse_args()

    settings = ensure_lake(args.lake, args.workdir)
    args.workdir.mkdir(parents=True, exist_ok=True)
    client = client_for(settings)
    names = {task: task_named(task).task_settings(settings).registered_name for task in PATHS}
    champions = {task: alias_version(client, name, CHAMPION) for task, name in names.items()}
    print(f"lake {settings.lake_root}")
    for task, version in champions.items():
        print(f"  {task}: {version.name} v{version.version} (@champion)")

    documents = [orjson.dumps(d) for d in checkout_documents(settings, REQUEST_POOL)]
    stream = TransactionStream(settings, REQUEST_POOL)
    inputs = {task: model_inputs(settings, task, REQUEST_POOL) for task in PATHS}
    if not documents or not inputs["delivery"] or not inputs["fraud"]:
        sys.exit("the lake has too few valid records to benchmark with")
    # `mlflow models serve --env-manager local` runs `uvicorn` from PATH: this venv's
    bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri(settings),
        "PATH": f"{bin}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    results: dict = {
        "lake": settings.lake_root,
        "models": {t: f"{v.name} v{v.version}" for t, v in champions.items()},
        "ours": {},
        "mlflow": {},
    }

    def cycle(items: list[bytes]):
        return lambda n: [items[i % len(items)] for i in range(n)]

    port = free_port()
    command = [
        sys.executable, "-m", "lakehouse", "serve", "--lake", settings.lake_root,
        "--host", HOST, "--port", str(port),
    ]  # fmt: skip
    print("\nlakehouse serve (raw documents and transactions in, features online)")
    with server(command, "/ready", port, args.workdir / "service.log", env) as pid:
        results["ours"]["memory_after_start_mib"] = tree_memory_mib(pid)[0]
        print("  delivery", flush=True)
        batch = orjson.dumps(
            [orjson.loads(documents[i % len(documents)]) for i in range(BATCH_RECORDS)]
        )
        results["ours"]["delivery"] = measure(
            port, PATHS["delivery"], cycle(documents), lambda: batch, args
        )
        print("  fraud", flush=True)
        results["ours"]["fraud"] = measure(
            port,
            PATHS["fraud"],
            lambda n: [orjson.dumps(t) for t in stream.take(n)],
            lambda: orjson.dumps(stream.take(BATCH_RECORDS)),  # new ones each time
            args,
        )
        rss, peak = tree_memory_mib(pid)
        results["ours"]["memory_mib"], results["ours"]["peak_memory_mib"] = rss, peak

    mlflow_args = argparse.Namespace(**vars(args))
    mlflow_args.seconds = args.mlflow_seconds or args.seconds
    for task, version in champions.items():
        port = free_port()
        uri = f"models:/{version.name}/{version.version}"
        command = [
            str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", uri,
            "--env-manager", "local", "-h", HOST, "-p", str(port), "-w", "1",
        ]  # fmt: skip
        print(f"\nmlflow models serve -m {uri} (model input columns in)")
        log_path = args.workdir / f"mlflow-{task}.log"
        with server(command, "/ping", port, log_path, env) as pid:
            records = inputs[task]
            single = [orjson.dumps({"dataframe_records": [r]}) for r in records]
            batch = orjson.dumps(
                {"dataframe_records": [records[i % len(records)] for i in range(BATCH_RECORDS)]}
            )
            results["mlflow"][task] = measure(
                port, "/invocations", cycle(single), lambda batch=batch: batch, mlflow_args
            )
            rss, peak = tree_memory_mib(pid)
            results["mlflow"][task]["memory_mib"] = rss
            results["mlflow"][task]["peak_memory_mib"] = peak

    report(results)
    out = args.workdir / "results.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {out}")


def report(results: dict) -> None:
    """The side-by-side table and the targets."""
    print(f"\n== {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, one process per server ==")
    header = (
        f"{'model':<9} {'server':<8} {'c1 req/s':>9} {'c1 p50':>7} {'c1 p99':>7} "
        f"{'c8 req/s':>9} {'c8 p50':>7} {'c8 p99':>7} {'1000 rec':>9}"
    )
    print(header)
    for task in PATHS:
        for name in ("ours", "mlflow"):
            r = results[name][task]
            print(
                f"{task:<9} {name:<8} {r['c1']['rate']:>9.0f} {r['c1']['p50_ms']:>7.2f} "
                f"{r['c1']['p99_ms']:>7.2f} {r['c8']['rate']:>9.0f} {r['c8']['p50_ms']:>7.2f} "
                f"{r['c8']['p99_ms']:>7.2f} {r['batch']['p50_ms']:>7.1f}ms"
            )
    ours = results["ours"]
    print(
        f"memory: ours {ours['memory_mib']} MiB resident ({ours['peak_memory_mib']} peak, "
        f"{ours['memory_after_start_mib']} after start, both models and all state); "
        + ", ".join(f"mlflow {task} {results['mlflow'][task]['memory_mib']} MiB" for task in PATHS)
    )
    print("targets (latency in ms):")
    for task in PATHS:
        mine, theirs = ours[task], results["mlflow"][task]
        ratio = mine["c8"]["rate"] / max(theirs["c8"]["rate"], 1e-9)
        results.setdefault("ratios", {})[task] = round(ratio, 1)
        checks = [
            ("p99 at c8", mine["c8"]["p99_ms"], "<=", TARGETS["p99_c8_ms"]),
            ("req/s at c8", mine["c8"]["rate"], ">=", TARGETS["rate_c8"]),
            ("x mlflow at c8", round(ratio, 1), ">=", TARGETS["ratio_c8"]),
            ("1000 records", mine["batch"]["p50_ms"], "<=", TARGETS["batch_p50_ms"]),
        ]
        for label, value, op, target in checks:
            met = value <= target if op == "<=" else value >= target
            verdict = "met" if met else "MISSED"
            print(f"  {task:<9} {label:<15} {value:>9} {op} {target:<6} {verdict}")


if __name__ == "__main__":
    main()
