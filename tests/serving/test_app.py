"""Every endpoint and error path, through the test client, on a real registry and lake."""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient

from lakehouse.features.delivery_online import checkout_features
from lakehouse.features.fraud_online import transaction_features
from serving.errors import NotReadyError
from serving.main import create_app
from serving.predict import round_half_up_days
from tests.support.serving import (
    DELIVERY,
    FRAUD,
    checkout,
    serving_client,
    transaction,
    wait_ready,
    with_serve,
)

FRAUD_TASK = "fraud"
PII = ("jane.doe@example.com", "Jane", "Doe", "+1-555-0100", "203.0.113.7", "12 Main St")
PII += ("4111111111111111", "198.51.100.23")


@pytest.fixture(scope="module")
def client(serving_lake):
    with serving_client(serving_lake.settings) as client:
        yield client


def _state(client: TestClient):
    return client.app.state.service


def test_health_and_ready(client, serving_lake):
    assert client.get("/health").json() == {"status": "alive"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready"
    assert ready["models"]["delivery"]["serving"] == serving_lake.delivery_champion
    assert ready["models"]["fraud"]["serving"] == serving_lake.fraud_champion
    assert ready["features"]["reference"]["tables"]["silver/zip_codes"] >= 0
    assert ready["features"]["velocity"]["held_transactions"] >= 10


def test_delivery_one_document(client, serving_lake):
    document = checkout(1)
    response = client.post("/v1/delivery/predict", json=document)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["record_id"] == "rec-00001"
    assert answer["model"] == {
        "name": DELIVERY,
        "version": serving_lake.delivery_champion,
        "alias": "champion",
        "trained_on": {"table": "gold/delivery_features", "version": 0},
    }
    order = date.fromisoformat(answer["order_date"])
    days = answer["predicted_delivery_days"]
    assert 0 < days < 20
    expected = order + timedelta(days=round_half_up_days(days))
    assert date.fromisoformat(answer["predicted_delivery_date"]) == expected
    # the answer is the champion's output on the online twin's features
    state = _state(client)
    features = checkout_features(document, state.features.reference, state.features.rules)
    values, _ = state.holder.slots["delivery"].champion.predict([features])
    assert days == values[0]


def test_delivery_list_and_hit_wrapper_keep_request_order(client):
    hit = {"_index": "sessions-2024.03.04", "_id": "hit-7", "_score": 1.0, "_source": checkout(7)}
    hit["_source"].pop("id")  # the hit's _id is the record id then
    documents = [checkout(3), hit, checkout(5, extra={"unknown": ["fields", 1]})]
    response = client.post("/v1/delivery/predict", json=documents)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["record_id"] for p in predictions] == ["rec-00003", "hit-7", "rec-00005"]
    single = client.post("/v1/delivery/predict", json=checkout(5)).json()
    assert predictions[2]["predicted_delivery_days"] == single["predicted_delivery_days"]
    assert client.post("/v1/delivery/predict", json=[]).json()["predictions"] == []


def test_unknown_categories_are_answered(client):
    document = checkout(2)
    document["shipping"].update(method="DRONE", carrier="NEW-CARRIER", warehouseId="WH-99")
    document["shipping"]["address"].update(zipCode="99999", state="ZZ")
    response = client.post("/v1/delivery/predict", json=document)
    assert response.status_code == 200, response.text
    txn = transaction(3, channel="web", currency="XYZ", merchant_category="space travel")
    txn.update(source_account_id="NOBODY", destination_account_id=None)
    response = client.post("/v1/fraud/score", json=txn)
    assert response.status_code == 200, response.text


def test_fraud_score_and_decision_at_the_threshold(client, serving_lake):
    response = client.post("/v1/fraud/score", json=transaction(1))
    assert response.status_code == 200, response.text
    answer = response.json()
    model = _state(client).holder.slots["fraud"].champion
    assert answer["transaction_id"] == "T-000001"
    assert answer["threshold"] == model.threshold
    assert answer["is_fraud"] == (answer["fraud_probability"] >= model.threshold)
    assert answer["model"]["name"] == FRAUD
    assert answer["model"]["version"] == serving_lake.fraud_champion
    assert answer["model"]["trained_on"]["table"] == "gold/payments_unified"


def test_fraud_velocity_counts_scored_transactions(client):
    state = _state(client)
    velocity, accounts = state.features.velocity, state.features.accounts
    windows = state.settings.payments.velocity_windows_s
    first = transaction(100, source_account_id="A-0011", transaction_ts="2024-03-05T10:00:00Z")
    later = dict(first, transaction_id="T-later", transaction_ts="2024-03-05T10:30:00Z")
    third = dict(first, transaction_id="T-third", transaction_ts="2024-03-05T10:45:00Z")
    before = transaction_features(third, accounts, velocity, windows)
    response = client.post("/v1/fraud/score", json=[first, later])
    assert response.status_code == 200, response.text
    assert [s["transaction_id"] for s in response.json()["scores"]] == ["T-000100", "T-later"]
    after = transaction_features(third, accounts, velocity, windows)
    assert after["src_txn_count_1h"] == before["src_txn_count_1h"] + 2
    assert after["src_account_type"] == "business" and after["src_risk_flag"] == 0


def test_an_invalid_record_rejects_the_list_and_leaves_the_state_alone(client):
    velocity = _state(client).features.velocity
    held = velocity.held_transactions
    good = transaction(200, transaction_ts="2024-03-06T10:00:00Z")
    bad = transaction(201, amount="-5.00")
    response = client.post("/v1/fraud/score", json=[good, bad])
    assert response.status_code == 422
    answer = response.json()
    assert answer["detail"] == [
        {"loc": ["body", 1, "amount"], "msg": "negative_amount", "type": "negative_amount"}
    ]
    assert answer["request_id"] == response.headers["x-request-id"]
    assert velocity.held_transactions == held


def test_a_fraud_request_without_a_model_leaves_the_state_alone(client, monkeypatch):
    # data loaded but no champion (yet): the 503 must not count the transaction in velocity
    velocity = _state(client).features.velocity
    held = velocity.held_transactions
    fraud = _state(client).fraud

    def no_model():
        raise NotReadyError("no fraud model loaded yet: see /ready")

    monkeypatch.setattr(fraud, "choose", no_model)  # the watcher would reload a cleared slot
    response = client.post("/v1/fraud/score", json=transaction(350))
    assert response.status_code == 503
    assert velocity.held_transactions == held
    monkeypatch.undo()
    assert client.post("/v1/fraud/score", json=transaction(350)).is_success
    assert velocity.held_transactions == held + 1


@pytest.mark.parametrize(
    ("change", "loc", "reason"),
    [
        ({"createdDateTime": "not a time"}, ["body", "createdDateTime"], "invalid_created_ts"),
        ({"eventType": "PRODUCT_VIEW"}, ["body", "eventType"], "not_a_checkout"),
        ({"cart": "not an object"}, ["body", "cart"], "malformed_json"),
    ],
)
def test_delivery_field_level_422(client, change, loc, reason):
    response = client.post("/v1/delivery/predict", json=checkout(4, **change))
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert (item["loc"], item["type"]) == (loc, reason)


def test_delivery_422_names_nested_fields_and_list_positions(client):
    bad = checkout(6)
    bad["shipping"]["address"]["zipCode"] = "ABCDE"
    bad["cart"]["items"][0]["weightKg"] = "heavy"
    response = client.post("/v1/delivery/predict", json=[checkout(5), bad])
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    # the unreadable zip only warns (scored without it); the bad weight is the error
    assert item["loc"][:2] == ["body", 1] and item["type"] == "invalid_cart_item"


@pytest.mark.parametrize("path", ["/v1/delivery/predict", "/v1/fraud/score"])
def test_bodies_that_are_not_documents_are_422_without_echoing_input(client, path):
    for content in (b'"just a string"', b"42", b"[1, 2]", b"{not json"):
        response = client.post(path, content=content, headers={"content-type": "application/json"})
        assert response.status_code == 422, (content, response.text)
        for item in response.json()["detail"]:
            assert set(item) == {"loc", "msg", "type"}


def test_oversize_body_and_too_many_records_are_413(serving_lake):
    settings = with_serve(serving_lake.settings, max_body_bytes=20_000, max_records=5)
    with serving_client(settings) as client:
        big = [checkout(i) for i in range(40)]  # ~40 kB
        response = client.post("/v1/delivery/predict", json=big)
        assert response.status_code == 413
        assert response.json()["request_id"] == response.headers["x-request-id"]
        response = client.post("/v1/fraud/score", json=[transaction(i) for i in range(6)])
        assert response.status_code == 413
        assert "at most 5" in response.json()["detail"]
        assert client.post("/v1/fraud/score", json=[transaction(i) for i in range(5)]).is_success


def test_an_oversize_body_without_content_length_is_413(serving_lake):
    # a chunked upload declares no length: the body is counted as it arrives
    settings = with_serve(serving_lake.settings, max_body_bytes=20_000)
    chunk = b" " * 4_096

    def chunks():
        yield b"["
        for _ in range(10):
            yield chunk
        yield b"]"

    with serving_client(settings) as client:
        response = client.post(
            "/v1/delivery/predict", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["request_id"] == response.headers["x-request-id"]
        small = client.post(
            "/v1/delivery/predict",
            content=iter([orjson.dumps(checkout(1))]),
            headers={"content-type": "application/json"},
        )
        assert small.status_code == 200


def test_request_id_is_echoed_or_made(client):
    response = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    made = client.get("/health", headers={"X-Request-ID": "no spaces or\nnewlines"})
    assert made.headers["x-request-id"] != "no spaces or\nnewlines"
    assert len(made.headers["x-request-id"]) == 32


def test_an_internal_error_is_a_500_without_stack_trace(client, monkeypatch, caplog):
    model = _state(client).holder.slots["delivery"].champion

    def broken(rows):
        raise RuntimeError("boom in the model")

    monkeypatch.setattr(model, "predict", broken)
    with caplog.at_level(logging.INFO):
        response = client.post(
            "/v1/delivery/predict", json=checkout(9), headers={"X-Request-ID": "req-500"}
        )
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "request_id": "req-500"}
    assert "Traceback" not in response.text and "boom" not in response.text
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    # the operators get the traceback (formatted, and masked, by the log scrubber)
    assert failures and "RuntimeError: boom in the model" in (failures[0].exc_text or "")
    assert "Traceback" in caplog.text


def test_no_pii_in_logs(client, caplog):
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/delivery/predict", json=checkout(11))
        client.post("/v1/delivery/predict", json=checkout(12, createdDateTime="bad"))
        client.post("/v1/fraud/score", json=transaction(12))
        client.post("/v1/fraud/score", json=transaction(13, channel="carrier pigeon"))
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "invalid_created_ts" in text  # the reason codes are logged...
    for value in PII:  # ...never the values
        assert value not in text


def test_models_endpoint_shows_versions_aliases_and_lineage(client, serving_lake):
    answer = client.get("/v1/models").json()
    by_task = {m["task"]: m for m in answer["models"]}
    delivery = by_task["delivery"]
    assert delivery["aliases"] == {
        "champion": serving_lake.delivery_champion,
        "challenger": serving_lake.delivery_challenger,
    }
    served = delivery["serving"]["champion"]
    assert served["version"] == serving_lake.delivery_champion
    assert served["trained_on"]["table"] == "gold/delivery_features"
    assert served["trained_on"]["sources"] == {"silver/synthetic": 3}
    assert served["fast_path"] is True and served["fast_path_max_abs_diff"] == 0.0
    assert served["has_training_profile"] is True
    assert "challenger" not in delivery["serving"]  # no canary, no shadow: not loaded
    assert by_task["fraud"]["serving"]["champion"]["decision_threshold"] > 0
    assert answer["canary_share"] == 0 and answer["shadow"] is False


def test_metrics_expose_requests_latency_predictions_and_drift(client, serving_lake):
    client.post("/v1/delivery/predict", json=[checkout(i) for i in range(30)])
    client.post("/v1/fraud/score", json=[transaction(300 + i) for i in range(30)])
    rejected = client.post("/v1/fraud/score", json=transaction(399, amount="-5.00"))
    assert rejected.status_code == 422  # (counted by reason)
    _state(client).drift.refresh()  # PSI is computed off the loop, every serve.drift_refresh_s
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    champion, fraud = serving_lake.delivery_champion, serving_lake.fraud_champion
    expected = [
        'lakehouse_http_requests_total{method="POST",route="/v1/delivery/predict",status="200"}',
        'lakehouse_http_request_duration_seconds_bucket{le="0.01",route="/v1/delivery/predict"}',
        f'lakehouse_delivery_prediction_bucket{{le="5.0",version="{champion}"}}',
        f'lakehouse_fraud_prediction_count{{version="{fraud}"}}',
        f'lakehouse_predictions_total{{alias="champion",model="delivery_date",version="{champion}"}}',
        'lakehouse_model_batch_rows_count{model="delivery_date"}',
        f'lakehouse_feature_psi{{feature="distance_km",model="delivery_date",version="{champion}"}}',
        f'lakehouse_feature_psi{{feature="channel",model="fraud",version="{fraud}"}}',
        f'lakehouse_prediction_psi{{model="fraud",version="{fraud}"}}',
        'lakehouse_model_info{alias="champion",fast_path="true",model="fraud"',
        'lakehouse_model_champion_held{model="fraud"} 1.0',
        'lakehouse_model_champion_held{model="delivery_date"} 1.0',
        'lakehouse_model_loads_total{model="fraud",outcome="loaded"}',
        'lakehouse_invalid_records_total{reason="negative_amount",task="fraud"}',
    ]
    for series in expected:
        assert series in text, series
    psi = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("lakehouse_feature_psi{")
    ]
    assert psi and all(value >= 0 for value in psi)


def test_not_ready_without_models_answers_503(tmp_path):
    from lakehouse.config import load_settings

    settings = load_settings("local", lake=str(tmp_path / "empty"))
    with TestClient(create_app(settings=settings)) as client:
        client.app.state.service.watcher.first_pass_done.wait(60)
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
        # no model has a champion: none holds the others back, but nothing answers either
        assert ready.json()["answering"] == [] and ready.json()["waiting_for"] == []
        assert ready.json()["models"]["delivery"]["state"] == "no_champion"
        assert "does not exist" in ready.json()["features"]["reference"]["error"]
        response = client.post("/v1/delivery/predict", json=checkout(1))
        assert response.status_code == 503
        assert "has no 'champion' alias" in response.json()["detail"]
        assert response.json()["request_id"] == response.headers["x-request-id"]
        assert client.post("/v1/fraud/score", json=transaction(1)).status_code == 503
        # what LakehouseNoChampion alerts on
        metrics = client.get("/metrics").text
        assert 'lakehouse_model_champion_held{model="delivery_date"} 0.0' in metrics
        assert 'lakehouse_model_champion_held{model="fraud"} 0.0' in metrics


def test_each_model_is_ready_on_its_own(serving_lake):
    """A lake where only delivery has a champion (a fresh lake with too few mature fraud
    labels): the service is ready, delivery answers, fraud answers 503 with what to do."""
    absent = "fraud_never_trained"
    settings = serving_lake.settings.model_copy(deep=True)
    settings.ml.fraud.registered_name = absent
    with TestClient(create_app(settings=settings)) as client:
        ready = wait_ready(client)
        assert ready["answering"] == ["delivery"] and ready["waiting_for"] == []
        fraud = ready["models"]["fraud"]
        assert fraud["state"] == "no_champion" and fraud["serving"] is None
        assert absent in fraud["message"] and "lakehouse train fraud" in fraud["message"]
        assert ready["models"]["delivery"]["state"] == "ready"
        assert client.post("/v1/delivery/predict", json=checkout(1)).status_code == 200
        refused = client.post("/v1/fraud/score", json=transaction(1))
        assert refused.status_code == 503
        assert refused.json()["detail"] == fraud["message"]
        models = {m["task"]: m for m in client.get("/v1/models").json()["models"]}
        assert models["fraud"]["status"]["state"] == "no_champion"
        assert models["delivery"]["status"]["state"] == "ready"

    # a deployment that cannot go without fraud says so: the same lake is not ready
    required = with_serve(settings, require_models=[FRAUD_TASK])
    with TestClient(create_app(settings=required)) as client:
        client.app.state.service.watcher.first_pass_done.wait(60)
        ready = client.get("/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["waiting_for"] == [FRAUD_TASK]
        assert ready.json()["answering"] == ["delivery"]
        assert ready.json()["models"]["fraud"]["required"] is True


def test_wait_ready_helper_sees_a_ready_service(client):
    assert wait_ready(client)["status"] == "ready"


def test_reference_data_is_reloaded_when_its_table_moves(client, serving_lake):
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from lakehouse.tables import SILVER_ZIP_CODES

    path = serving_lake.settings.table_path(*SILVER_ZIP_CODES)
    state = _state(client)
    held = state.features.reference
    before = held.table_versions["silver/zip_codes"]
    zips = DeltaTable(path).to_pandas()
    zips.loc[0, "is_remote_area"] = not zips.loc[0, "is_remote_area"]
    write_deltalake(path, pa.Table.from_pandas(zips, preserve_index=False), mode="overwrite")
    deadline = time.monotonic() + 30
    while state.features.reference is held:  # serve.data_refresh_s is 0.5 s here
        assert time.monotonic() < deadline, "reference data not reloaded"
        time.sleep(0.05)
    assert state.features.reference.table_versions["silver/zip_codes"] == before + 1
    ready = client.get("/ready").json()
    assert ready["features"]["reference"]["tables"]["silver/zip_codes"] == before + 1
    zip_code = zips.loc[0, "zip_code"]
    assert state.features.reference.zip_codes[zip_code][2] == zips.loc[0, "is_remote_area"]


@pytest.mark.parametrize(
    ("path", "field"), [("/v1/delivery/predict", "createdDateTime"), ("/v1/fraud/score", "amount")]
)
def test_openapi_declares_a_body_of_one_record_or_a_list(client, path, field):
    # the route reads its body itself (the twin validates it), so OpenAPI is told explicitly
    body = client.get("/openapi.json").json()["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    one, many = body["content"]["application/json"]["schema"]["anyOf"]
    assert field in one["properties"] and many == {"type": "array", "items": one}
