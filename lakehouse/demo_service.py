"""The demo's last act: start the prediction service, ask it one delivery and one fraud
question with records taken from the lake, print the answers, stop it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import httpx
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.bronze.encryption import SESSIONS, reveal_raw
from lakehouse.config import Settings
from lakehouse.contract import CHECKOUT, TRANSACTION_COLUMNS, TRANSACTIONS
from lakehouse.io.delta import read_table
from lakehouse.privacy import resolve_key
from lakehouse.tables import BRONZE_SESSIONS, GOLD_DELIVERY_FEATURES, SILVER_TRANSACTIONS, Table

TRANSACTION_FIELDS = TRANSACTION_COLUMNS
READY_TIMEOUT_S = 180
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout_s: float = 30) -> None:
    """Ask a server process to stop (SIGTERM: a graceful shutdown), kill it if it hangs."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def sample_checkout(spark: SparkSession, settings: Settings) -> dict:
    """One checkout document exactly as Elasticsearch exported it (from Bronze), of a record
    that made it to Gold (so not one Silver quarantined)."""
    gold_ids = read_table(spark, settings.table_path(*GOLD_DELIVERY_FEATURES)).select("record_id")
    bronze = read_table(spark, settings.table_path(*BRONZE_SESSIONS))
    row = (
        reveal_raw(bronze, SESSIONS, resolve_key(settings))
        .where(~F.col("is_malformed") & (F.col("source.eventType") == CHECKOUT))
        .join(gold_ids, "record_id", how="left_semi")
        .orderBy(F.col("_ingested_at").desc(), "record_id")
        .select("raw_record")
        .first()
    )
    if row is None:
        raise RuntimeError("gold/delivery_features holds no checkout to ask the service about")
    return json.loads(row["raw_record"])


def sample_transaction(spark: SparkSession, settings: Settings) -> dict:
    """A new payment from the newest valid transaction's accounts, a minute after it."""
    bronze = reveal_raw(
        read_table(spark, settings.table_path(*Table("bronze", TRANSACTIONS))),
        TRANSACTIONS,
        resolve_key(settings),
    )
    newest = (
        read_table(spark, settings.table_path(*SILVER_TRANSACTIONS))
        .orderBy(F.col("transaction_ts").desc())
        .select("transaction_id", "transaction_ts")
        .first()
    )
    row = bronze.where(F.col("transaction_id") == newest["transaction_id"]).first().asDict()
    transaction = {name: row.get(name) for name in TRANSACTION_FIELDS}
    when = newest["transaction_ts"].replace(tzinfo=UTC) + timedelta(minutes=1)
    transaction["transaction_id"] = f"demo-{int(time.time())}"
    transaction["transaction_ts"] = when.isoformat().replace("+00:00", "Z")
    return transaction


def wait_until_ready(
    client: httpx.Client,
    process: subprocess.Popen,
    path: str = "/ready",
    timeout_s: float = READY_TIMEOUT_S,
) -> httpx.Response:
    """Poll ``path`` until it answers 200 (its answer), failing if ``process`` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            answer = client.get(path)
            if answer.status_code == 200:
                return answer
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the server was not ready within {timeout_s} s")


def call_service(spark: SparkSession, settings: Settings) -> bool:
    """Start ``lakehouse serve`` on the demo lake, call both endpoints, print the answers."""
    checkout = sample_checkout(spark, settings)
    transaction = sample_transaction(spark, settings)
    port = free_port()
    command = [
        sys.executable, "-m", "lakehouse", "serve", "--env", settings.env,
        "--lake", settings.lake_root, "--host", HOST, "--port", str(port),
    ]  # fmt: skip
    started = datetime.now(UTC)
    log_path = Path(settings.lake_root).parent / "service.log"
    log_file = log_path.open("w")
    process = subprocess.Popen(command, env=dict(os.environ), stdout=log_file, stderr=log_file)
    click.echo(f"lakehouse serve --port {port} (log: {log_path})")
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=30) as client:
            readiness = wait_until_ready(client, process).json()
            took = (datetime.now(UTC) - started).total_seconds()
            click.echo(f"service ready on port {port} in {took:.1f} s: {readiness['status']}")
            for path, body in (
                ("/v1/delivery/predict", checkout),
                ("/v1/fraud/score", transaction),
            ):
                answer = client.post(path, json=body)
                click.echo(f"POST {path} -> {answer.status_code}")
                click.echo(json.dumps(answer.json(), indent=2, default=str))
                if answer.status_code != 200:
                    return False
        return True
    finally:
        stop_process(process)
        log_file.close()
