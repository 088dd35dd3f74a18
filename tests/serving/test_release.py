"""The release checks against real ``lakehouse serve`` processes: the smoke test, and the
canary judge reading what a real Prometheus scraped from a stable service and three canaries
(a healthy one, one that lost a model and answers 503, one that answers slowly)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading

import httpx
import pytest
from click.testing import CliRunner

from lakehouse.cli import cli
from lakehouse.release.canary import Prometheus, Thresholds, judge
from tests.support.servers import prometheus_server
from tests.support.serving import checkout, serve_process, transaction

RATE_PER_S = 40  # per service, open loop: a slow service does not slow the arrivals
WINDOW_S = 8
# the healthy services' p99 on a busy 2-core machine stays far below this (and the limit also
# scales with the baseline's p99); the slow canary's micro-batches wait a whole second
P99_FLOOR = "300ms"
LIMITS = ["--window", f"{WINDOW_S}s", "--interval", "2s", "--min-requests", "60"]
LIMITS += ["--p99-floor", P99_FLOOR]


@pytest.fixture(scope="module")
def fleet(serving_lake, tmp_path_factory):
    """job name -> base URL of four services on one lake, and Prometheus scraping them."""
    lake = serving_lake.settings.lake_root
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)  # the lake's own tracking store
    variants = {
        "stable": [],
        "canary_ok": [],
        # a release that lost its fraud model: ready (delivery answers), fraud answers 503
        "canary_errors": ["--set", "ml.fraud.registered_name=fraud_missing"],
        "canary_slow": ["--set", "serve.micro_batch_wait_ms=1000"],
    }
    with contextlib.ExitStack() as stack:
        urls = {
            job: stack.enter_context(serve_process(["--lake", lake, *args], env)).url
            for job, args in variants.items()
        }
        targets = {job: url.removeprefix("http://") for job, url in urls.items()}
        workdir = tmp_path_factory.mktemp("prometheus")
        prometheus = stack.enter_context(prometheus_server(targets, workdir))
        yield urls, prometheus


async def _drive(urls: list[str], seconds: float) -> None:
    """Fixed-rate arrivals to each URL, half checkouts, half transactions."""
    async with httpx.AsyncClient(timeout=10) as client:
        loop = asyncio.get_running_loop()
        start, sent, pending = loop.time(), 0, set()
        while (now := loop.time() - start) < seconds:
            for url in urls:
                if sent % 2:
                    call = client.post(f"{url}/v1/delivery/predict", json=checkout(sent))
                else:
                    call = client.post(f"{url}/v1/fraud/score", json=transaction(sent))
                pending.add(asyncio.ensure_future(call))
            sent += 1
            pending = {p for p in pending if not p.done()}
            await asyncio.sleep(max(0.0, sent / RATE_PER_S - now))
        await asyncio.gather(*pending, return_exceptions=True)


@contextlib.contextmanager
def traffic(*urls: str, seconds: float = WINDOW_S + 4):
    thread = threading.Thread(target=lambda: asyncio.run(_drive(list(urls), seconds)))
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _judge(prometheus: str, canary: str):
    args = ["canary-judge", "--prometheus", prometheus, *LIMITS]
    args += ["--baseline", '{job="stable"}', "--canary", f'{{job="{canary}"}}']
    return CliRunner().invoke(cli, args)


def test_the_judge_promotes_a_healthy_canary(fleet):
    urls, prometheus = fleet
    with traffic(urls["stable"], urls["canary_ok"]):
        result = _judge(prometheus, "canary_ok")
    assert result.exit_code == 0, result.output
    assert "PROMOTE" in result.output and "0.00% 5xx" in result.output


def test_the_judge_rolls_back_a_canary_that_answers_errors(fleet):
    urls, prometheus = fleet
    with traffic(urls["stable"], urls["canary_errors"]):
        result = _judge(prometheus, "canary_errors")
    assert result.exit_code == 1, result.output
    assert "ROLL BACK: 5xx rate" in result.output
    # it did not wait for the end of the window to say so
    assert f"{WINDOW_S:>5}s canary" not in result.output


def test_the_judge_rolls_back_a_slow_canary(fleet):
    urls, prometheus = fleet
    with traffic(urls["stable"], urls["canary_slow"]):
        result = _judge(prometheus, "canary_slow")
    assert result.exit_code == 1, result.output
    assert "ROLL BACK" in result.output and "p99" in result.output
    assert "5xx rate" not in result.output  # slow, not failing


def test_no_traffic_proves_nothing(fleet):
    _, prometheus = fleet
    client = Prometheus(prometheus)
    try:
        verdict = judge(
            client,
            '{job="stable"}',
            '{job="no_such_canary"}',
            window_s=2,
            interval_s=1,
            limits=Thresholds(min_requests=10),
            report=lambda line: None,
        )
    finally:
        client.close()
    assert not verdict.promote
    assert "nothing to judge" in verdict.reasons[0]


def test_the_judge_without_prometheus_rolls_back():
    args = ["canary-judge", "--prometheus", "http://127.0.0.1:9", "--window", "1s"]
    args += ["--interval", "1s", "--baseline", '{job="a"}', "--canary", '{job="b"}']
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "Prometheus unreachable" in result.output


def test_smoke_passes_against_a_service_and_fails_against_nothing(fleet, tmp_path):
    urls, _ = fleet
    (tmp_path / "checkout.json").write_text(json.dumps(checkout(5)))
    (tmp_path / "transaction.json").write_text(json.dumps(transaction(5)))
    records = ["--record", "delivery", str(tmp_path / "checkout.json")]
    records += ["--record", "fraud", str(tmp_path / "transaction.json")]
    result = CliRunner().invoke(cli, ["smoke", "--url", urls["stable"], *records])
    assert result.exit_code == 0, result.output
    for route in ("/v1/delivery/predict", "/v1/fraud/score"):
        assert f"ok   POST {route} " in result.output
        assert f"ok   POST {route} (malformed)" in result.output
    # the release that lost fraud: it is ready, fraud is not claimed, delivery still checked
    partial = CliRunner().invoke(cli, ["smoke", "--url", urls["canary_errors"], *records])
    assert partial.exit_code == 0, partial.output
    assert "/v1/fraud/score" not in partial.output and "answering ['delivery']" in partial.output

    dead = CliRunner().invoke(cli, ["smoke", "--url", "http://127.0.0.1:9", "--wait-ready", "1"])
    assert dead.exit_code == 1 and "FAIL GET /health" in dead.output
    assert "smoke test FAILED" in dead.output
