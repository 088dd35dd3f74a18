"""The service with authentication on: who may call what, the error shape, per-key metrics,
keys never logged, and a changed keys file read again without a restart."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from click.testing import CliRunner

from lakehouse.api_keys import ADMIN, PREDICT, entry, new_key
from lakehouse.cli import cli
from lakehouse.config import ApiAuthSettings
from tests.support.serving import checkout, serving_client, transaction, with_serve

PREDICT_KEY, ADMIN_KEY = new_key(), new_key()


@pytest.fixture(scope="module")
def keys_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "keys.json"
    document = {
        "keys": [entry("checkout", PREDICT_KEY, [PREDICT]), entry("ops", ADMIN_KEY, [ADMIN])]
    }
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="module")
def client(serving_lake, keys_path):
    auth = ApiAuthSettings(enabled=True, keys_file=str(keys_path))
    with serving_client(with_serve(serving_lake.settings, auth=auth)) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{name}(?:\{{{re.escape(wanted)}\}})? (\S+)$" if wanted else rf"^{name} (\S+)$"
    found = re.findall(pattern, text, flags=re.MULTILINE)
    return float(found[0]) if found else 0.0


def test_open_routes_need_no_key(client):
    assert client.get("/health").status_code == 200
    assert client.get("/ready").json()["status"] == "ready"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/fraud/score", transaction(1)),
        ("post", "/v1/delivery/predict", checkout(1)),
        ("get", "/v1/models", None),
        ("get", "/metrics", None),
    ],
)
def test_no_key_or_an_unknown_one_is_401_in_the_error_shape(client, method, path, body):
    for headers, detail in [
        ({}, "an API key is required"),
        (bearer(new_key()), "invalid API key"),
        ({"X-API-Key": "lh_guess"}, "invalid API key"),
        ({"Authorization": f"Basic {PREDICT_KEY}"}, "an API key is required"),
    ]:
        answer = client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 401, (path, headers)
        assert set(answer.json()) == {"detail", "request_id"}
        assert answer.json()["detail"].startswith(detail)
        assert answer.headers["www-authenticate"].startswith("Bearer")


def test_predict_key_predicts_and_admin_routes_are_403(client):
    scored = client.post("/v1/fraud/score", json=transaction(2), headers=bearer(PREDICT_KEY))
    assert scored.status_code == 200, scored.text
    assert 0 <= scored.json()["fraud_probability"] <= 1
    header = {"X-API-Key": PREDICT_KEY}
    predicted = client.post("/v1/delivery/predict", json=checkout(2), headers=header)
    assert predicted.status_code == 200, predicted.text
    for path in ("/v1/models", "/metrics"):
        answer = client.get(path, headers=bearer(PREDICT_KEY))
        assert answer.status_code == 403
        assert answer.json()["detail"] == "API key 'checkout' does not have the 'admin' role"
        assert set(answer.json()) == {"detail", "request_id"}


def test_admin_key_may_do_everything_and_metrics_count_per_key(client):
    assert client.get("/v1/models", headers=bearer(ADMIN_KEY)).status_code == 200
    route = "/v1/fraud/score"
    before = client.get("/metrics", headers=bearer(ADMIN_KEY)).text
    for i in range(3):
        answer = client.post(route, json=transaction(10 + i), headers=bearer(PREDICT_KEY))
        assert answer.status_code == 200
    assert client.post(route, json=transaction(20), headers=bearer(ADMIN_KEY)).status_code == 200
    client.post(route, json=transaction(21))
    client.get("/metrics", headers=bearer(PREDICT_KEY))
    after = client.get("/metrics", headers=bearer(ADMIN_KEY)).text

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    requests = "lakehouse_api_key_requests_total"
    assert delta(requests, key_id="checkout", route=route, status="200") == 3
    assert delta(requests, key_id="ops", route=route, status="200") == 1
    assert delta(requests, key_id="checkout", route="/metrics", status="403") == 1
    assert delta("lakehouse_api_auth_failures_total", reason="missing") == 1
    assert delta("lakehouse_api_auth_failures_total", reason="forbidden") == 1
    assert metric(after, "lakehouse_api_auth_enabled") == 1
    assert PREDICT_KEY not in after and ADMIN_KEY not in after


def test_keys_are_never_logged(client, caplog):
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/fraud/score", json=transaction(30), headers=bearer(PREDICT_KEY))
        client.post("/v1/fraud/score", json=transaction(31), headers=bearer("lh_wrong-key"))
        client.get("/metrics", headers={"X-API-Key": PREDICT_KEY})
    assert caplog.records
    for secret in (PREDICT_KEY, ADMIN_KEY, "lh_wrong-key"):
        assert secret not in caplog.text


def test_openapi_declares_both_ways_to_send_a_key(client):
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    operation = client.get("/openapi.json").json()["paths"]["/v1/fraud/score"]["post"]
    assert {"401", "403"} <= set(operation["responses"])


def test_a_changed_keys_file_is_read_again_without_restart(client, keys_path):
    runner = CliRunner()
    made = runner.invoke(
        cli, ["api-key", "create", "batch", "--role", "predict", "--keys-file", str(keys_path)]
    )
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    revoked = runner.invoke(cli, ["api-key", "revoke", "checkout", "--keys-file", str(keys_path)])
    assert revoked.exit_code == 0, revoked.output

    def status(k):
        return client.post("/v1/fraud/score", json=transaction(40), headers=bearer(k)).status_code

    deadline = time.monotonic() + 30
    while (status(key), status(PREDICT_KEY)) != (200, 401):
        assert time.monotonic() < deadline, "the new keys file was not read again"
        time.sleep(0.1)

    # a broken file leaves the last good keys in place
    keys_path.write_text("{broken")
    time.sleep(1.0)  # several watcher polls (serve.registry_poll_s is 0.2 s here)
    assert status(key) == 200
