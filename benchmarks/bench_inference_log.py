"""Benchmark: what the inference log costs the service, measured open-loop with vegeta.

The same service runs with ``serve.inference_log.enabled`` off and on, alternately (off, on,
off, on: the machine is noisy, so each figure is the better of two runs and the ratio compares
neighbours). vegeta sends requests at a fixed arrival rate whatever the answers' latency (open
loop: a slow answer does not slow the senders down, so queueing shows in the tail, which a
closed loop hides). Per mode:

- single fraud transactions (new ids and times: each one moves the velocity state, and each
  is logged) at ``--rate`` per second: latency p50, p99 and max, and the share of 200s;
- single checkout documents at the same rate;
- requests of 1,000 transactions at ``--batch-rate`` per second: p50 and p99.

With the log on, the files it wrote are counted, so the run shows that every answer was
logged. vegeta is built from the Go module proxy by ``make bench-inference-log``.

    .venv/bin/python benchmarks/bench_inference_log.py --lake data/demo/lake [--rate 400]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq
from bench_serving import TransactionStream, checkout_documents, ensure_lake, server

from lakehouse.demo_service import HOST, free_port
from lakehouse.ml.tracking import tracking_uri

VEGETA = Path(".tools/bin/vegeta")
PATHS = {"fraud": "/v1/fraud/score", "delivery": "/v1/delivery/predict"}
BATCH_RECORDS = 1_000
MODES = ("off", "on", "off", "on")


def targets_file(path: Path, port: int, route: str, bodies: list[bytes]) -> Path:
    """vegeta's JSON targets, one request per line (it goes through them in order)."""
    url = f"http://{HOST}:{port}{route}"
    header = {"Content-Type": ["application/json"]}
    with path.open("wb") as out:
        for body in bodies:
            target = {"method": "POST", "url": url, "header": header}
            target["body"] = base64.b64encode(body).decode()
            out.write(orjson.dumps(target) + b"\n")
    return path


def attack(targets: Path, rate: float, seconds: float) -> dict:
    """One open-loop run: vegeta's JSON report, latencies in ms."""
    attack_cmd = [
        str(VEGETA), "attack", "-format=json", f"-targets={targets}", f"-rate={rate:g}/s",
        f"-duration={seconds:g}s", "-timeout=30s", "-keepalive=true",
    ]  # fmt: skip
    attacking = subprocess.Popen(attack_cmd, stdout=subprocess.PIPE)
    report = subprocess.run(
        [str(VEGETA), "report", "-type=json"],
        stdin=attacking.stdout,
        capture_output=True,
        check=True,
    )
    attacking.wait()
    data = json.loads(report.stdout)
    latencies = {k: v / 1e6 for k, v in data["latencies"].items()}
    return {
        "requests": data["requests"],
        "rate": round(data["rate"], 1),
        "success": data["success"],
        "p50_ms": round(latencies["50th"], 2),
        "p99_ms": round(latencies["99th"], 2),
        "max_ms": round(latencies["max"], 2),
    }


def logged_rows(folder: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in folder.glob("*.parquet"))


def run_mode(mode: str, settings, args, stream, documents, workdir: Path) -> dict:
    folder = workdir / f"incoming-{mode}"
    shutil.rmtree(folder, ignore_errors=True)
    port = free_port()
    command = [
        sys.executable, "-m", "lakehouse", "serve", "--lake", settings.lake_root,
        "--host", HOST, "--port", str(port),
        "--set", f"serve.inference_log.enabled={'true' if mode == 'on' else 'false'}",
        "--set", f"serve.inference_log.folder={folder}",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(settings)}
    singles = int(args.rate * (args.seconds + args.warmup)) + 10
    batches = int(args.batch_rate * args.seconds) + 2
    out: dict = {}
    with server(command, "/ready", port, workdir / f"service-{mode}.log", env):
        fraud = [orjson.dumps(t) for t in stream.take(singles)]
        fraud_targets = targets_file(workdir / "fraud.targets", port, PATHS["fraud"], fraud)
        # warm-up (models, caches, connections): its answers are logged too
        warm = attack(fraud_targets, args.rate, args.warmup)
        fraud = [orjson.dumps(t) for t in stream.take(singles)]
        fraud_targets = targets_file(workdir / "fraud.targets", port, PATHS["fraud"], fraud)
        out["fraud"] = attack(fraud_targets, args.rate, args.seconds)
        delivery_targets = targets_file(
            workdir / "delivery.targets", port, PATHS["delivery"], documents
        )
        out["delivery"] = attack(delivery_targets, args.rate, args.seconds)
        batch_bodies = [orjson.dumps(stream.take(BATCH_RECORDS)) for _ in range(batches)]
        batch_targets = targets_file(workdir / "batch.targets", port, PATHS["fraud"], batch_bodies)
        out["fraud_batch"] = attack(batch_targets, args.batch_rate, args.seconds)
    # the service wrote what it held on shutdown
    answered = sum(
        round(r["requests"] * r["success"]) * (BATCH_RECORDS if name == "fraud_batch" else 1)
        for name, r in out.items()
    )
    out["answered_records"] = answered + round(warm["requests"] * warm["success"])
    out["logged_records"] = logged_rows(folder) if folder.exists() else 0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench-inference-log"))
    parser.add_argument("--rate", type=float, default=400.0, help="single requests per second")
    parser.add_argument("--batch-rate", type=float, default=5.0, help="1,000-record requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="per attack")
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args()
    if not VEGETA.exists():
        sys.exit(f"{VEGETA} is missing: run `make bench-inference-log` (it builds it)")
    settings = ensure_lake(args.lake, args.workdir)
    args.workdir.mkdir(parents=True, exist_ok=True)
    stream = TransactionStream(settings, 2_000)
    documents = [orjson.dumps(d) for d in checkout_documents(settings, 2_000)]
    print(f"lake {settings.lake_root}; {args.rate:g} req/s single, {args.batch_rate:g}/s batches")
    runs: dict[str, list[dict]] = {"off": [], "on": []}
    for mode in MODES:
        print(f"  inference log {mode}", flush=True)
        runs[mode].append(run_mode(mode, settings, args, stream, documents, args.workdir))
    report(runs)
    out = args.workdir / "results.json"
    out.write_text(json.dumps(runs, indent=2))
    print(f"\nwritten to {out}")


def best(runs: list[dict], kind: str, figure: str) -> float:
    return min(run[kind][figure] for run in runs)


def report(runs: dict[str, list[dict]]) -> None:
    print(f"\n{'requests':<12} {'log':<4} {'rate/s':>7} {'ok':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for kind in ("fraud", "delivery", "fraud_batch"):
        for mode in ("off", "on"):
            for run in runs[mode]:
                r = run[kind]
                print(
                    f"{kind:<12} {mode:<4} {r['rate']:>7.1f} {r['success']:>6.1%} "
                    f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}"
                )
    print("\nbest of two, log on / log off:")
    for kind in ("fraud", "delivery", "fraud_batch"):
        ratios = [
            f"{figure} {best(runs['on'], kind, figure) / best(runs['off'], kind, figure):.2f}"
            for figure in ("p50_ms", "p99_ms")
        ]
        print(f"  {kind:<12} " + ", ".join(ratios))
    for run in runs["on"]:
        print(
            f"  log on: {run['logged_records']} records logged of {run['answered_records']} "
            "answered"
        )


if __name__ == "__main__":
    main()
