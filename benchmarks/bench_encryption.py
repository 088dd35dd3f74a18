"""Benchmark: what encrypting the raw zones costs, side by side with the same work in clear.

Two costs, each measured in alternating rounds on one Spark session (so the ratio holds on a
noisy machine):

- **ingest**: the sessions' Bronze rows (parsed from the landing files) written to a Delta
  table as they are, against the same rows with ``encrypt_raw`` applied (AES-256-GCM of the
  raw text and six personal fields per record);
- **Silver's tokens**: the three tokens Silver computes, from the clear table against from the
  encrypted one (each field decrypted once, then its HMAC), evaluated to the end with the
  ``noop`` sink.

    .venv/bin/python benchmarks/bench_encryption.py --documents 200000
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from common import timed, write_results

from lakehouse.bronze.encryption import SESSIONS, encrypt_raw
from lakehouse.bronze.sessions import to_bronze_sessions, with_ingestion_metadata
from lakehouse.generate import generate_sessions_landing
from lakehouse.io.landing import read_whole_texts
from lakehouse.silver.sessions import with_session_tokens
from lakehouse.spark import get_spark

KEY = b"benchmark-pii-key"


def tokens(df):
    """Silver's three tokens of the personal fields, computed as Silver computes them."""
    keyed, columns = with_session_tokens(df, KEY)
    return keyed.select(*(column.alias(name) for name, column in columns.items()))


def parquet_bytes(table: Path) -> int:
    """The size of a table's data files."""
    return sum(f.stat().st_size for f in table.rglob("*.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench-encryption"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args()

    landing = args.workdir / f"landing-{args.documents}"
    if not (landing / "sessions").is_dir():
        generate_sessions_landing(landing, documents=args.documents, seed=5)
    files = sorted(str(p) for p in (landing / "sessions").rglob("*") if p.is_file())
    spark = get_spark(
        app_name="bench-encryption",
        extra_conf={
            "spark.driver.memory": args.driver_memory,
            "spark.sql.shuffle.partitions": "4",
            "spark.ui.enabled": "false",
        },
    )
    rows = with_ingestion_metadata(
        read_whole_texts(spark, files).transform(to_bronze_sessions), batch_id=0
    )
    tables = {"clear": args.workdir / "clear", "encrypted": args.workdir / "encrypted"}
    writes = {"clear": lambda: rows, "encrypted": lambda: encrypt_raw(rows, SESSIONS, KEY)}
    results: dict = {"documents": args.documents, "rounds": args.rounds}
    for round_ in range(args.rounds):
        print(f"round {round_ + 1}", flush=True)
        for name, frame in writes.items():
            shutil.rmtree(tables[name], ignore_errors=True)
            timed(
                f"ingest {name} #{round_ + 1}",
                results,
                lambda frame=frame, name=name: (
                    frame().write.format("delta").save(str(tables[name]))
                ),
            )
        for name, path in tables.items():
            bronze = spark.read.format("delta").load(str(path))
            timed(
                f"tokens {name} #{round_ + 1}",
                results,
                lambda bronze=bronze: tokens(bronze).write.format("noop").mode("overwrite").save(),
            )
    for step in ("ingest", "tokens"):
        clear = min(results[f"{step} clear #{r + 1}"] for r in range(args.rounds))
        sealed = min(results[f"{step} encrypted #{r + 1}"] for r in range(args.rounds))
        results[f"{step}: clear (best)"] = clear
        results[f"{step}: encrypted (best)"] = sealed
        results[f"{step}: overhead"] = f"{(sealed / clear - 1) * 100:+.1f}%"
    sizes = {name: parquet_bytes(path) for name, path in tables.items()}
    results["bronze size: clear MiB"] = round(sizes["clear"] / 2**20, 1)
    results["bronze size: encrypted MiB"] = round(sizes["encrypted"] / 2**20, 1)
    write_results("encryption", results)


if __name__ == "__main__":
    main()
