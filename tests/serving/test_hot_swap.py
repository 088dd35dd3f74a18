"""The service follows the registry under load: hot swap, rollback, failed loads, canary,
shadow, and a short load run with zero errors. A real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from benchmarks.loadgen import body, model_version, run_load
from lakehouse.ml.promotion import rollback
from lakehouse.ml.registry import CHAMPION, set_alias
from lakehouse.ml.tracking import client_for
from serving import holder as holder_module
from tests.support.serving import (
    DELIVERY,
    checkout,
    restore_aliases,
    run_async,
    running_server,
    serving_client,
    transaction,
    with_serve,
)

DELIVERY_PATH = "/v1/delivery/predict"
FRAUD_PATH = "/v1/fraud/score"


@pytest.fixture
def lake(serving_lake):
    """The session lake; its aliases are put back after the test."""
    yield serving_lake
    restore_aliases(serving_lake)


def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def _delivery_requests(n: int = 20) -> list[tuple[str, bytes]]:
    return [(DELIVERY_PATH, body(checkout(i))) for i in range(n)]


def test_hot_swap_under_load_then_rollback(lake):
    champion, challenger = lake.delivery_champion, lake.delivery_challenger
    client = client_for(lake.settings)
    with running_server(lake.settings) as (app, port):
        slot = app.state.service.holder.slots["delivery"]
        moved = threading.Event()

        def promote_challenger():
            time.sleep(1.0)
            set_alias(client, DELIVERY, CHAMPION, challenger)
            moved.set()

        mover = threading.Thread(target=promote_challenger)
        mover.start()
        result = run_async(
            run_load(port, _delivery_requests(), concurrency=8, seconds=6.0, pick=model_version)
        )
        mover.join()
        print("hot swap:", result.summary())
        assert moved.is_set() and not result.errors
        versions = [s.answer for s in result.samples]
        assert versions[0] == champion and versions[-1] == challenger
        # once the new version answered, the old one only finishes requests already in flight
        first_new = versions.index(challenger)
        stragglers = [v for v in versions[first_new:] if v == champion]
        assert len(stragglers) <= 8, stragglers
        assert slot.champion.version == challenger and slot.previous.version == champion

        # rollback: the alias moves back; the previous champion is still loaded, so it is instant
        assert rollback(lake.settings, DELIVERY) == (challenger, champion)
        _until(lambda: slot.champion.version == champion, timeout=10)
        result = run_async(
            run_load(port, _delivery_requests(), concurrency=4, seconds=1.0, pick=model_version)
        )
        assert not result.errors and {s.answer for s in result.samples} == {champion}
        registry = app.state.service.metrics.registry
        swaps = registry.get_sample_value(
            "lakehouse_model_swaps_total", {"model": DELIVERY, "alias": CHAMPION}
        )
        assert swaps == 3  # first load, promotion, rollback


def test_a_version_that_fails_to_load_keeps_the_old_one_serving(lake, monkeypatch, caplog):
    champion, challenger = lake.delivery_champion, lake.delivery_challenger
    real_load = holder_module.load_version

    def failing(task, settings, version):
        if str(version.version) == challenger:
            raise OSError("artifact store unreachable")
        return real_load(task, settings, version)

    monkeypatch.setattr(holder_module, "load_version", failing)
    with serving_client(lake.settings) as client:
        set_alias(client_for(lake.settings), DELIVERY, CHAMPION, challenger)
        _until(lambda: client.get("/ready").json()["status"] == "degraded")
        ready = client.get("/ready")
        assert ready.status_code == 200  # still serving
        status = ready.json()["models"]["delivery"]
        assert status["serving"] == champion and status["registry_champion"] == challenger
        assert status["load_error"]["version"] == challenger
        assert "artifact store unreachable" in status["load_error"]["error"]
        answer = client.post(DELIVERY_PATH, json=checkout(1)).json()
        assert answer["model"]["version"] == champion
        assert any("failed to load" in r.getMessage() for r in caplog.records)
        # the store is back: the retry (serve.load_retry_s) loads the new champion
        monkeypatch.setattr(holder_module, "load_version", real_load)
        _until(lambda: client.get("/ready").json()["status"] == "ready")
        answer = client.post(DELIVERY_PATH, json=checkout(1)).json()
        assert answer["model"]["version"] == challenger
        metrics = client.get("/metrics").text
        assert 'lakehouse_model_loads_total{model="delivery_date",outcome="failed"}' in metrics


def test_canary_share_goes_to_the_challenger(lake):
    settings = with_serve(lake.settings, canary_share=1.0)
    with serving_client(settings) as client:
        _until(lambda: client.app.state.service.holder.slots["delivery"].challenger is not None)
        answer = client.post(DELIVERY_PATH, json=checkout(2)).json()
        assert answer["model"]["alias"] == "challenger"
        assert answer["model"]["version"] == lake.delivery_challenger
        # fraud has no challenger: its champion answers whatever the share
        fraud = client.post(FRAUD_PATH, json=transaction(2)).json()
        assert fraud["model"]["alias"] == "champion"


def test_a_partial_canary_splits_traffic(lake):
    settings = with_serve(lake.settings, canary_share=0.5)
    with serving_client(settings) as client:
        _until(lambda: client.app.state.service.holder.slots["delivery"].challenger is not None)
        aliases = [
            client.post(DELIVERY_PATH, json=checkout(i)).json()["model"]["alias"] for i in range(60)
        ]
        assert 5 < aliases.count("challenger") < 55


def test_shadow_scores_the_challenger_on_the_side(lake, caplog):
    caplog.set_level(logging.INFO)
    settings = with_serve(lake.settings, shadow=True)
    with serving_client(settings) as client:
        _until(lambda: client.app.state.service.holder.slots["delivery"].challenger is not None)
        answer = client.post(DELIVERY_PATH, json=[checkout(i) for i in range(10)]).json()
        assert answer["model"]["alias"] == "champion"
        _until(lambda: any("shadow delivery_date" in r.getMessage() for r in caplog.records))
        metrics = client.get("/metrics").text
        shadow = (
            'lakehouse_predictions_total{alias="shadow",model="delivery_date",'
            f'version="{lake.delivery_challenger}"}} 10.0'
        )
        assert shadow in metrics
        assert 'lakehouse_shadow_abs_difference_count{model="delivery_date"} 10.0' in metrics


def test_short_load_run_has_zero_errors(lake):
    requests = [
        *_delivery_requests(10),
        (DELIVERY_PATH, body([checkout(i) for i in range(25)])),
        *[(FRAUD_PATH, body(transaction(5000 + i))) for i in range(10)],
    ]
    with running_server(lake.settings) as (app, port):
        result = run_async(run_load(port, requests, concurrency=8, seconds=4.0))
        print("load run:", result.summary())
        assert len(result.samples) > 200
        assert not result.errors, result.errors[:3]
        registry = app.state.service.metrics.registry
        calls = registry.get_sample_value("lakehouse_model_batch_rows_count", {"model": DELIVERY})
        answered = registry.get_sample_value(
            "lakehouse_http_requests_total",
            {"method": "POST", "route": DELIVERY_PATH, "status": "200"},
        )
        # concurrent requests were coalesced: fewer model calls than delivery requests
        assert 0 < calls < answered
