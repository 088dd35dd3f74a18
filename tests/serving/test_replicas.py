"""Two ``lakehouse serve`` processes sharing the fraud velocity state in a real Redis server,
behind a round-robin client: every transaction is scored on the features one process with the
in-process state computes (that state equals Gold's replay, tests/gold/test_payments_online.py),
and a replica restarted in the middle of the stream has lost nothing. Without the shared store
the same round robin gives other features: the check can tell.

The features are compared by the hash the inference log keeps of each row the model saw."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from tests.support.servers import redis_server as start_redis
from tests.support.serving import serve_process, transaction

pytestmark = pytest.mark.integration

# three source accounts, a transaction every seven minutes: the velocity windows fill up
ACCOUNTS = ("A-0001", "A-0002", "A-0003")
FIRST, SECOND = 24, 16  # transactions before and after the restart


def stream(start: int, n: int) -> list[list[dict]]:
    """Requests of one or three transactions, in time order."""
    records = [
        transaction(
            i,
            transaction_id=f"R-{i:05d}",
            transaction_ts=f"2024-03-03T{(i * 7) // 60:02d}:{(i * 7) % 60:02d}:00Z",
            source_account_id=ACCOUNTS[i % len(ACCOUNTS)],
        )
        for i in range(start, start + n)
    ]
    requests, i = [], 0
    while i < len(records):
        size = 3 if len(requests) % 3 == 2 else 1
        requests.append(records[i : i + size])
        i += size
    return requests


def score(client: httpx.Client, request: list[dict]) -> None:
    response = client.post("/v1/fraud/score", json=request if len(request) > 1 else request[0])
    assert response.status_code == 200, response.text


def logged(folders: list[Path], expected: int, timeout: float = 60) -> dict[str, str]:
    """transaction_id -> features hash, from the Parquet files the services' logs wrote."""
    deadline = time.monotonic() + timeout
    while True:
        files = sorted(f for folder in folders for f in folder.rglob("*.parquet"))
        rows = [r for f in files for r in pq.read_table(f).to_pylist() if r["task"] == "fraud"]
        if len(rows) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    hashes = {r["record_id"]: r["features_hash"] for r in rows}
    assert len(hashes) == len(rows) == expected, (len(rows), expected)
    return hashes


@pytest.fixture
def services(serving_lake, redis_server, tmp_path):
    """start(name, shared[, url]) -> a started ``lakehouse serve``, its inference log in its own
    folder; shared ones keep their velocity state in Redis (the session's, or ``url``) under one
    fresh prefix."""
    lake = serving_lake.settings.lake_root
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)  # the lake's own tracking store
    prefix = f"test-replicas:{uuid.uuid4().hex}"
    with contextlib.ExitStack() as stack:

        def start(name: str, shared: bool, url: str | None = None):
            args = ["--lake", lake, "--set", "serve.inference_log.flush_s=0.2"]
            args += ["--set", f"serve.inference_log.folder={tmp_path / name}"]
            if shared:
                args += ["--set", f"serve.online_store.url={url or redis_server.url}"]
                args += ["--set", f"serve.online_store.prefix={prefix}"]
            process = stack.enter_context(contextlib.ExitStack())
            service = process.enter_context(serve_process(args, env))
            client = process.enter_context(httpx.Client(base_url=service.url, timeout=30))
            return process, client, tmp_path / name

        yield start


def round_robin(clients: list[httpx.Client], requests: list[list[dict]]) -> list[int]:
    """Each request to the next client in turn; the records each client scored."""
    counts = [0] * len(clients)
    for turn, request in enumerate(requests):
        score(clients[turn % len(clients)], request)
        counts[turn % len(clients)] += len(request)
    return counts


def test_two_replicas_sharing_redis_score_what_one_process_scores(services):
    first, second = stream(0, FIRST), stream(FIRST, SECOND)
    _, one, one_log = services("one", shared=False)
    a, a_client, a_log = services("a", shared=True)
    _, b_client, b_log = services("b", shared=True)
    # two replicas with a state each, as without the shared store
    _, c_client, c_log = services("c", shared=False)
    _, d_client, d_log = services("d", shared=False)

    for request in first + second:
        score(one, request)
    scored_by_a, _ = round_robin([a_client, b_client], first)
    round_robin([c_client, d_client], first + second)
    # a replica goes away (its answers logged) and a new one starts: the shared state still
    # holds everything the stream scored
    logged([a_log], scored_by_a)
    a.close()
    _, a2_client, a2_log = services("a2", shared=True)
    round_robin([b_client, a2_client], second)

    expected = logged([one_log], FIRST + SECOND)
    assert logged([a_log, b_log, a2_log], FIRST + SECOND) == expected
    apart = logged([c_log, d_log], FIRST + SECOND)
    assert apart.keys() == expected.keys()
    assert [k for k in expected if apart[k] != expected[k]], "the round robin changed nothing"


def test_a_replica_whose_store_went_away_answers_503(services, tmp_path):
    """The shared state's server stops: a fraud request gets a 503 that says why (a retry is
    safe: an id counts once), not a 500, and the service stays up."""
    (tmp_path / "redis").mkdir()
    with start_redis(tmp_path / "redis") as store:
        _, client, _ = services("lost", shared=True, url=store.url)
        score(client, stream(0, 1)[0])
    response = client.post("/v1/fraud/score", json=stream(1, 1)[0][0])
    assert response.status_code == 503, response.text
    assert "serve.online_store" in response.json()["detail"]
    assert client.get("/health").status_code == 200
