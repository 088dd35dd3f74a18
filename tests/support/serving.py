"""The serving tests' lake data, clients and request records (the fixture is in the conftest).

The lake holds Gold tables with signal (the ML tests' synthetic rows), Silver reference data,
accounts and transactions for the online features, and three registered versions:
``delivery_date`` v1 (champion, gradient boosting), v2 (challenger, a heavily regularised
linear model, so it answers differently) and ``fraud`` v1 (champion).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pandas as pd
import pyarrow as pa
from deltalake import write_deltalake
from fastapi.testclient import TestClient

from lakehouse.config import Settings
from lakehouse.ml.registry import CHALLENGER, CHAMPION, set_alias
from lakehouse.ml.tracking import client_for
from lakehouse.tables import (
    SILVER_ACCOUNTS,
    SILVER_HOLIDAYS,
    SILVER_RISK_INTERVALS,
    SILVER_TRANSACTIONS,
    SILVER_WAREHOUSES,
    SILVER_ZIP_CODES,
)
from serving.main import create_app
from serving.schemas.examples import example_checkout, example_transaction
from tests.support.gold import FAST_OVERRIDES

# batch scoring runs the model in Spark's Python workers: they must use this interpreter
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

SERVE_OVERRIDES = [
    *FAST_OVERRIDES,
    "serve.registry_poll_s=0.2",
    "serve.load_retry_s=0.5",
    "serve.data_refresh_s=0.5",
]
ZIPS = [f"{97000 + r * 7:05d}" for r in range(40)]
WAREHOUSES = [f"WH-{i:02d}" for i in range(5)]
ACCOUNTS = [f"A-{i:04d}" for i in range(20)]
DELIVERY = "delivery_date"
FRAUD = "fraud"
READY_TIMEOUT_S = 120


@dataclass(frozen=True)
class ServingLake:
    """The session's lake and its registered versions."""

    settings: Settings
    delivery_champion: str
    delivery_challenger: str
    fraud_champion: str


def with_serve(settings: Settings, **serve) -> Settings:
    """``settings`` with some ``serve`` values changed."""
    return settings.model_copy(update={"serve": settings.serve.model_copy(update=serve)})


def _write(settings: Settings, table, frame: pd.DataFrame, schema: pa.Schema | None = None):
    data = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    write_deltalake(settings.table_path(*table), data, mode="overwrite")


def write_silver(settings: Settings) -> None:
    """Reference data, account versions, risk intervals and transactions, without Spark."""
    _write(
        settings,
        SILVER_ZIP_CODES,
        pd.DataFrame(
            {
                "zip_code": ZIPS,
                "city": "Portland",
                "state": "OR",
                "latitude": [45.0 + i * 0.1 for i in range(len(ZIPS))],
                "longitude": [-122.0 - i * 0.2 for i in range(len(ZIPS))],
                "is_remote_area": [i % 9 == 0 for i in range(len(ZIPS))],
            }
        ),
    )
    _write(
        settings,
        SILVER_WAREHOUSES,
        pd.DataFrame(
            {
                "warehouse_id": WAREHOUSES,
                "zip_code": ZIPS[:5],
                "latitude": [40.0, 41.0, 42.0, 43.0, 44.0],
                "longitude": [-100.0, -105.0, -110.0, -115.0, -120.0],
            }
        ),
    )
    _write(
        settings,
        SILVER_HOLIDAYS,
        pd.DataFrame(
            {
                "date": [dt.date(2024, 1, 1), dt.date(2024, 5, 27), dt.date(2024, 11, 28)],
                "name": ["New Year", "Memorial Day", "Thanksgiving"],
                "country": "US",
            }
        ),
    )
    utc = pa.timestamp("us", tz="UTC")
    start = pd.Timestamp("2023-01-01", tz="UTC")
    _write(
        settings,
        SILVER_ACCOUNTS,
        pd.DataFrame(
            {
                "account_id": ACCOUNTS,
                "account_type": ["personal", "business"] * 10,
                "country": ["US", "DE", "FR", "US"] * 5,
                "kyc_status": ["verified", "pending"] * 10,
                "created_date": [
                    dt.date(2020, 1, 1) + dt.timedelta(days=30 * i) for i in range(20)
                ],
                "valid_from": [start] * 20,
                "valid_to": [None] * 20,
            }
        ),
        pa.schema(
            [
                ("account_id", pa.string()),
                ("account_type", pa.string()),
                ("country", pa.string()),
                ("kyc_status", pa.string()),
                ("created_date", pa.date32()),
                ("valid_from", utc),
                ("valid_to", utc),
            ]
        ),
    )
    _write(
        settings,
        SILVER_RISK_INTERVALS,
        pd.DataFrame(
            {
                "account_id": ACCOUNTS[:3],
                "risk_flag": [1, 0, 1],
                "valid_from": [start] * 3,
                "valid_to": [None] * 3,
            }
        ),
        pa.schema(
            [
                ("account_id", pa.string()),
                ("risk_flag", pa.int32()),
                ("valid_from", utc),
                ("valid_to", utc),
            ]
        ),
    )
    _write(
        settings,
        SILVER_TRANSACTIONS,
        pd.DataFrame(
            {
                "transaction_id": [f"S-{i}" for i in range(10)],
                "transaction_ts": [
                    pd.Timestamp("2024-03-01T10:00:00Z") + pd.Timedelta(minutes=5 * i)
                    for i in range(10)
                ],
                "source_account_id": [ACCOUNTS[i % 4] for i in range(10)],
                "destination_account_id": [ACCOUNTS[4 + i % 3] for i in range(10)],
                "amount": [Decimal(f"{10 + i}.50") for i in range(10)],
            }
        ),
        pa.schema(
            [
                ("transaction_id", pa.string()),
                ("transaction_ts", utc),
                ("source_account_id", pa.string()),
                ("destination_account_id", pa.string()),
                ("amount", pa.decimal128(18, 2)),
            ]
        ),
    )


def restore_aliases(lake: ServingLake) -> None:
    """Put the session's aliases back (tests that move them call this when done)."""
    client = client_for(lake.settings)
    set_alias(client, DELIVERY, CHAMPION, lake.delivery_champion)
    set_alias(client, DELIVERY, CHALLENGER, lake.delivery_challenger)
    set_alias(client, FRAUD, CHAMPION, lake.fraud_champion)


def wait_ready(client: TestClient, timeout: float = READY_TIMEOUT_S) -> dict:
    """Poll ``/ready`` until it answers 200; its body."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/ready")
        if response.status_code == 200 and response.json()["status"] == "ready":
            return response.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"service not ready after {timeout}s: {response.json()}")
        time.sleep(0.1)


@contextlib.contextmanager
def serving_client(settings: Settings):
    """A test client around a fresh app, once its models and features are loaded."""
    with TestClient(create_app(settings=settings)) as client:
        wait_ready(client)
        yield client


@contextlib.contextmanager
def running_server(settings: Settings):
    """A real uvicorn server on 127.0.0.1 and a free port, in a thread; yields (app, port)."""
    import uvicorn

    app = create_app(settings=settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise AssertionError("uvicorn did not start")
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        state = app.state.service
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (
            state.watcher.first_pass_done.is_set()
            and all(slot.champion for slot in state.holder.slots.values())
            and all(state.features.is_ready(task) for task in state.holder.slots)
        ):
            if time.monotonic() > deadline:
                raise AssertionError("models not loaded")
            time.sleep(0.1)
        yield app, port
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class ServeProcess:
    """A ``lakehouse serve`` process: its URL and the log lines it wrote so far."""

    url: str
    pid: int
    lines: list[str]

    @property
    def log(self) -> str:
        return "".join(self.lines)


LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def serve_process(args: list[str], env: dict[str, str], timeout: float = READY_TIMEOUT_S):
    """Run ``lakehouse serve ARGS --port 0`` as a user would, wait until ``/ready`` is 200,
    yield where it listens; terminate it on exit."""
    command = [sys.executable, "-m", "lakehouse", "serve", *args, "--port", "0"]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env={**env, "PYTHONUNBUFFERED": "1"}
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    try:
        port = None
        deadline = time.monotonic() + timeout
        while port is None and time.monotonic() < deadline and process.poll() is None:
            port = next((m.group(1) for m in map(LISTENING.search, list(lines)) if m), None)
            time.sleep(0.1)
        assert port, "".join(lines)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=10) as client:
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, client.get("/ready").text + "".join(lines)
                time.sleep(0.2)
        yield ServeProcess(url=url, pid=process.pid, lines=lines)
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=5)


def checkout(i: int = 0, **changes) -> dict:
    """The example checkout (``serving.schemas.examples``) moved into the synthetic data's
    domain: accounts, warehouses and zip codes of this lake, and PII the logs must not show."""
    created = int(dt.datetime(2024, 3, 4, 10, tzinfo=dt.UTC).timestamp() * 1000) + i * 3_600_000
    document = example_checkout()
    document.update(id=f"rec-{i:05d}", sessionId=f"s-{i}", createdDateTime=created)
    document["customer"].update(
        customerId=f"C-{i}",
        email="jane.doe@example.com",
        firstName="Jane",
        lastName="Doe",
        phone="+1-555-0100",
    )
    document["device"]["ipAddress"] = "203.0.113.7"
    document["cart"]["items"][0].update(sku="SKU-1", quantity=1 + i % 3)
    document["shipping"].update(
        method=["STANDARD", "EXPRESS", "OVERNIGHT"][i % 3],
        carrier=["UPS", "FEDEX", "USPS"][i % 3],
        warehouseId=WAREHOUSES[i % 5],
        promisedDeliveryDate="2024-03-09",
    )
    document["shipping"]["address"].update(line1="12 Main St", zipCode=ZIPS[i % len(ZIPS)])
    document.update(changes)
    return document


def transaction(i: int = 0, **changes) -> dict:
    """The example transaction (``serving.schemas.examples``) between this lake's accounts,
    PII included."""
    txn = example_transaction()
    txn.update(
        transaction_id=f"T-{i:06d}",
        transaction_ts=f"2024-03-02T{10 + i % 10:02d}:{i % 60:02d}:00Z",
        source_account_id=ACCOUNTS[i % 10],
        destination_account_id=ACCOUNTS[10 + i % 10],
        amount=f"{20 + i}.90",
        channel=["web", "mobile", "pos", "api"][i % 4],
        card_number="4111111111111111",
        ip_address="198.51.100.23",
        device_id="dev-1",
    )
    txn.update(changes)
    return txn


def run_async(coroutine):
    """Run a coroutine to completion on a fresh loop (tests are synchronous)."""
    return asyncio.run(coroutine)
