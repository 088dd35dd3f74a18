"""The inference log: every answer written off the hot path, then appended to a Delta table."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime

import numpy as np
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from lakehouse.inference_log import COLUMN_NAMES, INFERENCE_LOG_SCHEMA
from lakehouse.io.delta import latest_version, read_table
from lakehouse.pipeline.inference_log import REFUSED_FOLDER, ingest_inference_log
from lakehouse.tables import INFERENCE_LOG
from serving.inference_log import Entry, InferenceLog, features_hash
from serving.main import create_app
from serving.metrics import Metrics
from tests.support.serving import checkout, transaction, wait_ready, with_serve


def entry(n: int, *, threshold: float | None = 0.5, request_id: str = "req-1") -> Entry:
    return Entry(
        request_id=request_id,
        logged_at=datetime(2024, 3, 5, 10, tzinfo=UTC),
        task="fraud" if threshold is not None else "delivery",
        model_name="fraud",
        model_version=3,
        model_alias="champion",
        record_ids=[f"T-{i}" for i in range(n)],
        event_times=[datetime(2024, 3, 5, 9, i % 60, tzinfo=UTC) for i in range(n)],
        features=[{"zip": "97001", "amount": 12.5 + i} for i in range(n)],
        values=np.linspace(0.0, 1.0, n),
        threshold=threshold,
    )


def files_in(folder) -> list:
    return sorted(p for p in folder.iterdir() if p.is_file())


def test_a_flush_writes_one_parquet_file_of_hashes_and_answers(tmp_path):
    log = InferenceLog(str(tmp_path), None, flush_s=60, max_rows=1_000, max_buffered_rows=10_000)
    log.add(entry(4))
    log.add(entry(2, threshold=None, request_id="req-2"))
    assert files_in(tmp_path) == []  # nothing is written on the caller's side
    assert log.flush() == 6
    (written,) = files_in(tmp_path)
    assert written.suffix == ".parquet" and not written.name.startswith(".")
    table = pq.read_table(written)
    assert table.schema.equals(INFERENCE_LOG_SCHEMA)
    rows = table.to_pylist()
    assert [r["request_id"] for r in rows] == ["req-1"] * 4 + ["req-2"] * 2
    assert [r["decision"] for r in rows[:4]] == [False, False, True, True]  # 0, 1/3, 2/3, 1
    assert rows[4]["decision"] is None and rows[4]["threshold"] is None
    assert rows[0]["features_hash"] == features_hash({"amount": 12.5, "zip": "97001"})
    assert len({r["features_hash"] for r in rows[:4]}) == 4
    assert rows[0]["day"].isoformat() == "2024-03-05" and rows[0]["source"] == "online"
    # no raw feature value in the file: only their hash
    assert b"97001" not in written.read_bytes()
    assert log.flush() == 0 and len(files_in(tmp_path)) == 1


def test_enough_rows_wake_the_writer_before_its_interval(tmp_path):
    log = InferenceLog(str(tmp_path), None, flush_s=3600, max_rows=5, max_buffered_rows=100)
    log.start()
    try:
        log.add(entry(6))
        for _ in range(100):
            if files_in(tmp_path):
                break
            time.sleep(0.05)
        assert len(files_in(tmp_path)) == 1
    finally:
        log.stop()


def test_a_failed_write_keeps_the_rows_and_a_full_buffer_drops_the_oldest(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    metrics = Metrics()

    def sample(name: str) -> float:
        return metrics.registry.get_sample_value(f"lakehouse_inference_log_{name}")

    log = InferenceLog(
        str(blocked), None, flush_s=60, max_rows=1_000, max_buffered_rows=5, metrics=metrics
    )
    log.add(entry(3, request_id="old"))
    assert log.flush() == 0 and log.rows_dropped == 0  # kept for the next flush
    assert (sample("buffered_rows"), sample("write_errors_total")) == (3, 1)
    log.add(entry(3, request_id="new"))
    assert log.flush() == 0
    assert log.rows_dropped == 3  # over 5 rows held: the oldest request went
    assert (sample("buffered_rows"), sample("dropped_rows_total")) == (3, 3)
    blocked.unlink()
    assert log.flush() == 3
    assert (sample("buffered_rows"), sample("rows_total")) == (0, 3)
    (written,) = files_in(blocked)
    assert set(pq.read_table(written).column("request_id").to_pylist()) == {"new"}


def test_the_service_logs_every_answer_with_its_request_and_model(serving_lake, tmp_path):
    folder = tmp_path / "incoming"
    logging_conf = serving_lake.settings.serve.inference_log.model_copy(
        update={"folder": str(folder), "flush_s": 3600}
    )
    settings = with_serve(serving_lake.settings, inference_log=logging_conf)
    with TestClient(create_app(settings=settings)) as client:
        wait_ready(client)
        one = client.post(
            "/v1/delivery/predict", json=checkout(7), headers={"x-request-id": "req-delivery"}
        ).json()
        many = client.post(
            "/v1/fraud/score",
            json=[transaction(501), transaction(502)],
            headers={"x-request-id": "req-fraud"},
        ).json()
        refused = client.post("/v1/fraud/score", json=[{"transaction_id": "T-bad"}])
        assert refused.status_code == 422
        assert not folder.exists() or files_in(folder) == []  # not on the request's path
    rows = {r["record_id"]: r for f in files_in(folder) for r in pq.read_table(f).to_pylist()}
    assert set(rows) == {"rec-00007", "T-000501", "T-000502"}  # the 422 logged nothing
    delivery = rows["rec-00007"]
    assert delivery["request_id"] == "req-delivery" and delivery["task"] == "delivery"
    assert str(delivery["model_version"]) == one["model"]["version"]
    assert delivery["model_alias"] == "champion"
    assert delivery["prediction"] == pytest.approx(one["predicted_delivery_days"])
    for score in many["scores"]:
        row = rows[score["transaction_id"]]
        assert row["request_id"] == "req-fraud"
        assert row["prediction"] == pytest.approx(score["fraud_probability"])
        assert row["decision"] == score["is_fraud"] and row["threshold"] == score["threshold"]
    raw = b"".join(f.read_bytes() for f in files_in(folder))
    for value in ("jane.doe@example.com", "A-00", "WH-0"):
        assert value.encode() not in raw


def test_ingest_appends_the_files_once_and_keeps_a_broken_one(spark, serving_lake, tmp_path):
    folder = tmp_path / "incoming"
    settings = serving_lake.settings.model_copy(update={"lake_root": str(tmp_path / "lake")})
    logging_conf = settings.serve.inference_log.model_copy(update={"folder": str(folder)})
    settings = with_serve(settings, inference_log=logging_conf)
    log = InferenceLog(str(folder), None, flush_s=60, max_rows=1_000, max_buffered_rows=100)
    for n in (3, 4):
        log.add(entry(n, request_id=f"req-{n}"))
        log.flush()
    first, second = files_in(folder)
    kept = tmp_path / "kept.parquet"
    shutil.copy(first, kept)
    (folder / "truncated.parquet").write_bytes(second.read_bytes()[:100])

    report = ingest_inference_log(spark, settings)
    assert report.metrics["records_written"] == 7 and report.metrics["files_read"] == 2
    table_path = settings.table_path(*INFERENCE_LOG)
    rows = read_table(spark, table_path)
    assert rows.count() == 7
    assert set(rows.columns) == {*COLUMN_NAMES, "source_file"}
    assert [p.name for p in files_in(folder)] == []  # ingested files are deleted
    assert (folder / REFUSED_FOLDER / "truncated.parquet").exists()  # kept, not retried
    version = latest_version(spark, table_path)

    assert ingest_inference_log(spark, settings).skipped_reason  # nothing new: no version
    assert latest_version(spark, table_path) == version
    # a crash after the append, before the delete: the file is there again, not appended twice
    shutil.copy(kept, first)
    report = ingest_inference_log(spark, settings)
    assert report.metrics["records_written"] == 0
    assert read_table(spark, table_path).count() == 7
    assert latest_version(spark, table_path) == version and files_in(folder) == []
