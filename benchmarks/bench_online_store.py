"""Benchmark: the fraud velocity state in the process against the one shared in Redis,
measured open-loop with vegeta.

Four set-ups, in turn, twice (the machine is noisy, so each figure is the better of two
runs and the ratios compare neighbours):

- ``process``: one service process, its velocity state its own (``serve.online_store.url``
  unset);
- ``redis-1``: one service process, the state in a Redis server (Debian's ``redis-server``,
  on loopback): what the store itself costs;
- ``redis-1-nocache``: the same, but the replica keeps no accounts between requests
  (``serve.online_store.cache_accounts=0``): each request reads its accounts whole;
- ``redis-2``: two service processes sharing the state in Redis; vegeta sends the requests
  to the two in turn (round robin, as a load balancer would). On a 2-core machine the two
  processes, Redis and vegeta share two cores.

vegeta sends requests at a fixed arrival rate whatever the answers' latency (open loop: queueing
shows in the tail, which a closed loop hides). Per set-up:

- single fraud transactions (new ids and times: each one reads and moves the velocity state)
  at ``--rate`` per second: latency p50, p99 and max, and the share of 200s;
- requests of 1,000 transactions at ``--batch-rate`` per second: p50 and p99.

The targets: p99 at most 10 ms for single transactions, at most 50 ms for 1,000-record
requests. vegeta is built from the Go module proxy by ``make bench-online-store``.

``--state-only`` measures the shared state alone, in this process, without HTTP or load:
``RedisVelocityState.batch`` (read, features, observations, write) warm-started from the
lake's Silver, with the replica's account cache and without it, alternating, twice.

    .venv/bin/python benchmarks/bench_online_store.py --lake data/demo/lake [--rate 400]
    .venv/bin/python benchmarks/bench_online_store.py --lake data/demo/lake --state-only
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import redis
from bench_inference_log import VEGETA, attack
from bench_serving import TransactionStream, ensure_lake, server

from lakehouse.demo_service import HOST, free_port, stop_process
from lakehouse.ml.tracking import tracking_uri

ROUTE = "/v1/fraud/score"
BATCH_RECORDS = 1_000
SETUPS = ("process", "redis-1", "redis-1-nocache", "redis-2") * 2


def targets_file(path: Path, ports: list[int], bodies: list[bytes]) -> Path:
    """vegeta's JSON targets, one request per line, the servers taken in turn."""
    header = {"Content-Type": ["application/json"]}
    with path.open("wb") as out:
        for i, body in enumerate(bodies):
            url = f"http://{HOST}:{ports[i % len(ports)]}{ROUTE}"
            target = {"method": "POST", "url": url, "header": header}
            target["body"] = base64.b64encode(body).decode()
            out.write(orjson.dumps(target) + b"\n")
    return path


@contextlib.contextmanager
def redis_server(workdir: Path):
    """Debian's redis-server on a free loopback port, in memory only; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is missing: run `make services-deps`")
    port = free_port()
    log = (workdir / "redis.log").open("w")
    process = subprocess.Popen(
        [binary, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://{HOST}:{port}/0"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        stop_process(process)
        log.close()


def run_setup(setup: str, settings, args, stream, workdir: Path) -> dict:
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(settings)}
    singles = int(args.rate * (args.seconds + args.warmup)) + 10
    batches = int(args.batch_rate * args.seconds) + 2
    out: dict = {}
    with contextlib.ExitStack() as stack:
        options = ["--set", "serve.tasks=[fraud]", "--set", "serve.inference_log.enabled=false"]
        replicas = 1
        if setup.startswith("redis"):
            url = stack.enter_context(redis_server(workdir))
            options += ["--set", f"serve.online_store.url={url}"]
            options += ["--set", f"serve.online_store.prefix=bench-{uuid.uuid4().hex[:8]}"]
            replicas = int(setup.split("-")[1])
            if setup.endswith("nocache"):
                options += ["--set", "serve.online_store.cache_accounts=0"]
        ports = []
        for replica in range(replicas):
            port = free_port()
            command = [
                sys.executable, "-m", "lakehouse", "serve", "--lake", settings.lake_root,
                "--host", HOST, "--port", str(port), *options,
            ]  # fmt: skip
            log = workdir / f"service-{setup}-{replica}.log"
            stack.enter_context(server(command, "/ready", port, log, env))
            ports.append(port)
        fraud = [orjson.dumps(t) for t in stream.take(singles)]
        warm = attack(targets_file(workdir / "fraud.targets", ports, fraud), args.rate, args.warmup)
        out["warmup_success"] = warm["success"]
        fraud = [orjson.dumps(t) for t in stream.take(singles)]
        targets = targets_file(workdir / "fraud.targets", ports, fraud)
        out["fraud"] = attack(targets, args.rate, args.seconds)
        bodies = [orjson.dumps(stream.take(BATCH_RECORDS)) for _ in range(batches)]
        targets = targets_file(workdir / "batch.targets", ports, bodies)
        out["fraud_batch"] = attack(targets, args.batch_rate, args.seconds)
    return out


def state_only(settings, workdir: Path, stream) -> None:
    """The shared state's own cost per request, with and without the replica's cache."""
    from lakehouse.features.velocity_store import RedisVelocityState
    from lakehouse.gold.payments_online import VELOCITY_COLUMNS
    from lakehouse.io.delta_reader import read_lake_table
    from lakehouse.silver.payments_online import parse_transaction
    from lakehouse.tables import SILVER_TRANSACTIONS

    windows = settings.payments.velocity_windows_s
    silver, version = read_lake_table(settings, SILVER_TRANSACTIONS, VELOCITY_COLUMNS)
    accounts = silver["source_account_id"].nunique()
    print(f"Silver: {len(silver):,} transactions of {accounts:,} accounts")
    print(f"{'cache':<8} {'requests':<10} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'hits':>7}")
    with redis_server(workdir) as url:
        for cache in (100_000, 0) * 2:
            state = RedisVelocityState(
                redis.Redis.from_url(url),
                f"bench-{uuid.uuid4().hex[:8]}",
                windows,
                cache_accounts=cache,
            )
            state.feed_once(silver, version, 60)
            for label, size, count in (("single", 1, 600), ("batch", BATCH_RECORDS, 10)):
                times = []
                for _ in range(count):
                    records = [parse_transaction(t) for t in stream.take(size)]
                    start = time.perf_counter()
                    with state.batch(records) as view:
                        for record in records:
                            view.features(record)
                            view.observe(record)
                    times.append((time.perf_counter() - start) * 1000)
                times.sort()
                p50, p99 = times[len(times) // 2], times[max(0, int(len(times) * 0.99) - 1)]
                print(
                    f"{'on' if cache else 'off':<8} {label:<10} {count:>5} {p50:>8.2f} "
                    f"{p99:>8.2f} {state.cache_hits:>7}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench-online-store"))
    parser.add_argument("--rate", type=float, default=400.0, help="single requests per second")
    parser.add_argument("--batch-rate", type=float, default=5.0, help="1,000-record requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="per attack")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--state-only", action="store_true", help="the shared state alone, without HTTP"
    )
    parser.add_argument(
        "--setups", nargs="+", choices=sorted(set(SETUPS)), default=None,
        help="run only these set-ups (each twice); default: all four",
    )  # fmt: skip
    args = parser.parse_args()
    if args.state_only:
        settings = ensure_lake(args.lake, args.workdir)
        args.workdir.mkdir(parents=True, exist_ok=True)
        state_only(settings, args.workdir, TransactionStream(settings, 2_000))
        return
    if not VEGETA.exists():
        sys.exit(f"{VEGETA} is missing: run `make bench-online-store` (it builds it)")
    settings = ensure_lake(args.lake, args.workdir)
    args.workdir.mkdir(parents=True, exist_ok=True)
    stream = TransactionStream(settings, 2_000)
    print(f"lake {settings.lake_root}; {args.rate:g} req/s single, {args.batch_rate:g}/s batches")
    setups = SETUPS if args.setups is None else tuple(args.setups) * 2
    runs: dict[str, list[dict]] = {setup: [] for setup in setups}
    for setup in setups:
        print(f"  velocity state: {setup}", flush=True)
        runs[setup].append(run_setup(setup, settings, args, stream, args.workdir))
    report(runs, setups)
    out = args.workdir / "results.json"
    out.write_text(json.dumps(runs, indent=2))
    print(f"\nwritten to {out}")


def best(runs: list[dict], kind: str, figure: str) -> float:
    return min(run[kind][figure] for run in runs)


def report(runs: dict[str, list[dict]], setups: tuple[str, ...]) -> None:
    print(f"\n{'requests':<12} {'state':<15} {'rate/s':>7} {'ok':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for kind in ("fraud", "fraud_batch"):
        for setup in dict.fromkeys(setups):
            for run in runs[setup]:
                r = run[kind]
                print(
                    f"{kind:<12} {setup:<15} {r['rate']:>7.1f} {r['success']:>7.1%} "
                    f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}"
                )
    print("\nbest of two, p99 (and against the state in the process):")
    for kind, target in (("fraud", 10.0), ("fraud_batch", 50.0)):
        alone = best(runs["process"], kind, "p99_ms") if "process" in runs else None
        for setup in dict.fromkeys(setups):
            p99 = best(runs[setup], kind, "p99_ms")
            verdict = "within" if p99 <= target else "OVER"
            ratio = "" if alone is None else f" ({p99 / alone:.2f}x)"
            print(f"  {kind:<12} {setup}: {p99:.2f} ms{ratio}, {verdict} the {target:g} ms target")


if __name__ == "__main__":
    main()
