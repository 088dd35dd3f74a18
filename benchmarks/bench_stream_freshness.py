"""Benchmark: freshness in streaming mode, from a file landing to its rows in Gold.

A payments landing zone is generated (no anomalies, so that every transaction reaches Gold);
its last ``--files`` days of transaction files are held back. ``lakehouse stream --trigger T``
starts on the rest and builds the lake; then the held-back files land one at a time, every
``--interval`` seconds, each copied into the landing zone with a fresh modification time (as
an upload is). For each file: the time from its landing to the moment every transaction in it
is in ``gold/payments_unified``, read with the JVM-free ``deltalake`` reader whenever the
table has a new version (polled every 0.2 s). Prints p50, p99 and max over the files, the
trigger, and the stream's cycle times.

    make bench-stream   # or: benchmarks/bench_stream_freshness.py --files 20 --trigger 10
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from deltalake import DeltaTable

from lakehouse.generate import generate_payments_landing

TRANSACTIONS = "payments/payment_transactions"


def transaction_ids(path: Path) -> set[str]:
    with path.open(newline="") as handle:
        return {row["transaction_id"] for row in csv.DictReader(handle)}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between files")
    parser.add_argument("--trigger", type=float, default=10.0, help="stream.trigger_s")
    parser.add_argument("--transactions", type=int, default=4000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-stream-"))
    landing, held, lake = work / "landing", work / "held", work / "lake"
    generate_payments_landing(
        landing,
        transactions=args.transactions,
        seed=7,
        start=date(2024, 1, 1),
        days=90,
        anomaly_rate=0.0,
        workers=1,
    )
    days = sorted((landing / TRANSACTIONS).glob("transactions-*.csv"))
    if len(days) <= args.files:
        sys.exit(f"only {len(days)} transaction files: generate more transactions")
    held.mkdir(parents=True)
    late = []
    for path in days[-args.files :]:
        late.append(held / path.name)
        shutil.move(path, late[-1])

    command = [sys.executable, "-m", "lakehouse", "stream", "--trigger", str(args.trigger)]
    command += ["--landing", str(landing), "--lake", str(lake)]
    command += ["--set", "privacy.hmac_key=bench-stream-key"]
    env = {**os.environ, "LAKEHOUSE_SET": os.environ.get("LAKEHOUSE_SET", "[]")}
    stream = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    cycles: list[str] = []
    first_cycle = threading.Event()

    def read_stdout() -> None:
        for line in stream.stdout:
            if line.startswith("cycle "):
                cycles.append(line.strip())
                first_cycle.set()

    threading.Thread(target=read_stdout, daemon=True).start()
    gold = lake / "gold" / "payments_unified"
    try:
        if not first_cycle.wait(timeout=900):
            sys.exit("the stream's first cycle did not end within 900 s")
        print(f"first cycle: {cycles[0]}")
        pending: dict[Path, tuple[float, set[str]]] = {}
        fresh: dict[Path, float] = {}
        seen_version, in_gold = -1, set()
        next_file = time.monotonic()
        while len(fresh) < len(late):
            now = time.monotonic()
            if len(pending) + len(fresh) < len(late) and now >= next_file:
                source = late[len(pending) + len(fresh)]
                shutil.copy(source, landing / TRANSACTIONS / source.name)
                pending[source] = (time.monotonic(), transaction_ids(source))
                next_file += args.interval
            table = DeltaTable(str(gold))
            if table.version() != seen_version:
                seen_version = table.version()
                ids = table.to_pyarrow_table(columns=["transaction_id"]).column(0)
                in_gold = set(ids.to_pylist())
                seen = time.monotonic()
                for source, (landed, wanted) in list(pending.items()):
                    if wanted <= in_gold:
                        fresh[source] = seen - landed
                        del pending[source]
            if stream.poll() is not None:
                sys.exit(f"the stream ended with {stream.returncode}")
            if pending and time.monotonic() - min(t for t, _ in pending.values()) > 900:
                sys.exit("a file did not reach Gold within 900 s")
            time.sleep(0.2)
    finally:
        stream.send_signal(signal.SIGTERM)
        stream.wait(timeout=600)
    seconds = list(fresh.values())
    print(
        f"\nfreshness, landing -> gold/payments_unified, {len(seconds)} files, one every "
        f"{args.interval:g} s, trigger {args.trigger:g} s:"
    )
    print(
        f"  p50 {percentile(seconds, 0.5):.1f} s   p99 {percentile(seconds, 0.99):.1f} s   "
        f"max {max(seconds):.1f} s   mean {statistics.mean(seconds):.1f} s"
    )
    busy = [c for c in cycles[1:] if "nothing new" not in c]
    print(f"  cycles after the first: {len(cycles) - 1} ({len(busy)} with new data)")
    for line in cycles[1:]:
        print(f"    {line}")
    print(f"workdir: {work}")


if __name__ == "__main__":
    main()
