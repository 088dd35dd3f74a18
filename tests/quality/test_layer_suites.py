"""The Bronze and Silver suites: each micro-batch is checked as a whole by Great Expectations,
the result recorded in ``audit/expectations`` and rendered as a Data Docs page; a failed
``fail`` check fails the gate, a failed ``warn`` check is reported, and the data goes on."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse.config import load_settings
from lakehouse.contract import example_session_document
from lakehouse.io.delta import read_table
from lakehouse.pipeline.gates import gate_failures
from lakehouse.pipeline.report import StepReport
from lakehouse.pipeline.sessions import build_silver_sessions, ingest_sessions
from lakehouse.quality.audit import BatchCheck, read_expectations
from lakehouse.quality.data_docs import docs_root, write_index
from lakehouse.quality.layers import (
    BRONZE_SUITES,
    SILVER_SUITES,
    build_checks,
    check_names,
    validate_batch,
)
from lakehouse.reporting import print_expectations
from lakehouse.silver.schemas import ZIP_CODES_SCHEMA
from lakehouse.tables import (
    BRONZE_SESSIONS,
    SILVER_RISK_EVENTS,
    SILVER_SESSIONS,
    SILVER_TRANSACTIONS,
    SILVER_ZIP_CODES,
)
from tests.support.payments_twins import TX_SCHEMA

SESSIONS = SILVER_SUITES[SILVER_SESSIONS]


def quality(*overrides: str):
    return load_settings("local", overrides=list(overrides)).quality


def test_severity_settings_and_thresholds_shape_a_suite():
    columns = ["record_id"]
    checks = {c.name: c for c in build_checks(SESSIONS, quality(), columns)}
    assert checks["zip_code_in_zip_codes"].severity == "warn"
    assert checks["record_id_unique"].severity == "fail"
    assert checks["delivered_ts_not_before_event_ts"].severity == "warn"
    assert set(checks) == check_names(SESSIONS)
    # a reference table that does not exist yet is not checked against
    present = {c.name for c in build_checks(SESSIONS, quality(), columns, references=set())}
    assert "zip_code_in_zip_codes" not in present and "record_id_unique" in present

    changed = quality(
        "quality.severity={silver/sessions:zip_code_in_zip_codes: fail, "
        "silver/sessions:warehouse_id_in_warehouses: ignore}"
    )
    checks = {c.name: c for c in build_checks(SESSIONS, changed, columns)}
    assert checks["zip_code_in_zip_codes"].severity == "fail"
    assert "warehouse_id_in_warehouses" not in checks

    off = quality("quality.min_reference_share=0", "quality.max_malformed_share=1")
    assert not {"zip_code_in_zip_codes", "warehouse_id_in_warehouses"} & {
        c.name for c in build_checks(SESSIONS, off, columns)
    }
    bronze = BRONZE_SUITES[BRONZE_SESSIONS]
    assert "parse_rate" in {c.name for c in build_checks(bronze, quality(), columns)}
    assert "parse_rate" not in {c.name for c in build_checks(bronze, off, columns)}

    with pytest.raises(ValueError, match=r"unknown check\(s\) of silver/sessions: \['zip_range'\]"):
        build_checks(SESSIONS, quality("quality.severity={silver/sessions:zip_range: warn}"), [])


def test_a_silver_batch_wrong_as_a_whole_fails_the_named_checks(spark, tmp_path):
    """Rows that no per-row rule should ever let through (a bug upstream of the MERGE): each
    invariant is its own named check."""
    settings = load_settings("local", lake=str(tmp_path / "lake"))
    t0 = datetime(2024, 1, 1)
    rows = [
        ("t1", t0, "a1", "a2", Decimal("10.00"), "USD", "web", "grocery"),
        ("t1", t0, "a1", "a2", Decimal("11.00"), "USD", "web", "grocery"),  # key twice
        ("t2", t0, None, "a2", Decimal("-5.00"), "USD", "web", "grocery"),
        ("t3", None, "a3", "a2", Decimal("7.00"), "USD", "web", "grocery"),
    ]
    batch = spark.createDataFrame(rows, TX_SCHEMA)
    suite = SILVER_SUITES[SILVER_TRANSACTIONS]
    # no reference table exists: one validation, the table's own checks
    (validation,) = validate_batch(spark, settings, suite, batch, batch.columns)
    failed = {o.name: o for o in validation.outcomes if not o.success}
    assert set(failed) == {
        "transaction_id_unique",
        "amount_range",
        "source_account_id_not_null",
        "transaction_ts_not_null",
    }
    assert failed["amount_range"].unexpected_count == 1
    assert all(o.severity == "fail" for o in failed.values())
    # silver/account_changes does not exist: its referential check is left out, not failed
    assert "source_account_id_in_account_changes" not in {o.name for o in validation.outcomes}

    events = spark.createDataFrame(
        [("a1", t0, 1), ("a1", t0, 0), ("a2", t0, 2)],
        "account_id string, effective_ts timestamp, risk_flag int",
    )
    (validation,) = validate_batch(
        spark, settings, SILVER_SUITES[SILVER_RISK_EVENTS], events, events.columns
    )
    assert {o.name for o in validation.outcomes if not o.success} == {
        "key_unique",
        "risk_flag_in_set",
    }


def test_a_validation_leaves_its_frame_uncached(spark, tmp_path):
    """GX's Spark source would persist each frame it validates and never release it: a Bronze
    batch read back from its table would be cached whole (raw records and all) for checks that
    read two narrow columns. The suites cache nothing of their own beyond their run."""
    settings = load_settings("local", lake=str(tmp_path / "lake"))
    path = str(tmp_path / "bronze")
    spark.createDataFrame(
        [("r1", "{}", False, "a.jsonl", 0), ("r2", "{x", True, "a.jsonl", 0)],
        "record_id string, raw_record string, is_malformed boolean, _source_file string, "
        "_batch_id long",
    ).write.format("delta").save(path)
    batch = read_table(spark, path).where(F.col("_batch_id") == 0)
    (validation,) = validate_batch(
        spark, settings, BRONZE_SUITES[BRONZE_SESSIONS], batch, ["record_id"]
    )
    assert {o.name for o in validation.outcomes} == {
        "columns",
        "_source_file_not_null",
        "_batch_id_not_null",
        "parse_rate",
    }
    level = batch.storageLevel
    assert not (level.useMemory or level.useDisk), level


def test_a_batch_is_validated_on_its_own_thread_and_recorded_at_finish(
    spark, tmp_path, monkeypatch
):
    """``BatchCheck`` validates while the caller goes on, records nothing until ``finish``
    (then with the version it is given), and raises there what the validation raised."""
    settings = load_settings("local", lake=str(tmp_path / "lake"))
    t0 = datetime(2024, 1, 1)
    rows = [("t1", t0, "a1", "a2", Decimal("10.00"), "USD", "web", "grocery")] * 2
    batch = spark.createDataFrame(rows, TX_SCHEMA)
    suite = SILVER_SUITES[SILVER_TRANSACTIONS]
    threads, release = [], threading.Event()

    def validate(*args):
        threads.append(threading.current_thread().name)
        assert release.wait(60), "the caller never went on"
        return validate_batch(*args)

    monkeypatch.setattr("lakehouse.quality.audit.validate_batch", validate)
    report = StepReport("silver", "payments", SILVER_TRANSACTIONS.key)
    check = BatchCheck(spark, settings, report, suite, batch, batch.columns, batch_id=7)
    # the caller's own work runs while the validation waits for it
    assert batch.count() == 2 and read_expectations(spark, settings) is None
    release.set()
    audit = check.finish(lambda: 5)
    assert threads and threads[0].startswith("quality") and threads[0] != "MainThread"
    recorded = read_expectations(spark, settings).where(~F.col("success")).collect()
    assert {(r["check"], r["table_version"], r["batch_id"]) for r in recorded} == {
        ("transaction_id_unique", 5, 7)
    }
    assert [line.split(" [")[0] for line in report.quality_failures] == [
        "batch 7: transaction_id_unique"
    ]
    assert audit is not None and not audit.passed

    def broken(*args):
        raise RuntimeError("validation broke")

    monkeypatch.setattr("lakehouse.quality.audit.validate_batch", broken)
    check = BatchCheck(spark, settings, report, suite, batch, batch.columns, batch_id=8)
    check.wait()  # waits without raising: the caller's own error comes first
    with pytest.raises(RuntimeError, match="validation broke"):
        check.finish(lambda: 6)
    off = load_settings("local", lake=str(tmp_path / "lake"), overrides=["quality.suites=false"])
    assert BatchCheck(spark, off, report, suite, batch, [], batch_id=9).finish(lambda: 7) is None


def land(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")


def docs(prefix: str, n: int, zip_code: str) -> list[str]:
    out = []
    for i in range(n):
        doc = example_session_document(changes={"id": f"{prefix}-{i}"})
        doc["shipping"]["address"]["zipCode"] = zip_code
        out.append(json.dumps(doc))
    return out


@pytest.mark.integration
def test_bronze_and_silver_batches_are_checked_recorded_and_rendered(spark, tmp_path, capsys):
    settings = load_settings(
        "local",
        landing=str(tmp_path / "landing"),
        lake=str(tmp_path / "lake"),
        overrides=[
            "privacy.hmac_key=layer-suites-key",
            # a feed half garbage is worth stopping the schedule for, here
            "quality.severity={bronze/sessions:parse_rate: fail}",
        ],
    )
    known = example_session_document()["shipping"]["address"]["zipCode"]
    spark.createDataFrame(
        [(known, "Portland", "OR", 45.5, -122.7, False)], ZIP_CODES_SCHEMA
    ).write.format("delta").save(settings.table_path(*SILVER_ZIP_CODES))
    folder = tmp_path / "landing" / "sessions"

    # a harmless batch: every check passes
    land(folder, "a.jsonl", docs("a", 10, known))
    first = [ingest_sessions(spark, settings), build_silver_sessions(spark, settings)]
    assert [(r.quality_failures, r.quality_warnings) for r in first] == [([], []), ([], [])]
    assert gate_failures(first, settings.quality) == []

    # a batch with a third of its lines unparsable and zip codes the reference does not know
    land(folder, "b.jsonl", [*docs("b", 8, "00000"), "{not json", "<html>", "{}}"])
    second = [ingest_sessions(spark, settings), build_silver_sessions(spark, settings)]
    bronze, silver = second
    assert len(bronze.quality_failures) == 1
    assert bronze.quality_failures[0].startswith("batch 1: parse_rate")
    assert [w.split(" [")[0] for w in silver.quality_warnings] == ["batch 1: zip_code_in_zip_codes"]
    (failure,) = gate_failures(second, settings.quality)
    assert failure.startswith("bronze/sessions: expectation suite failed: batch 1: parse_rate")
    # the data went on: every record is in Bronze, the valid ones in Silver
    assert read_table(spark, settings.table_path(*BRONZE_SESSIONS)).count() == 21
    assert read_table(spark, settings.table_path(*SILVER_SESSIONS)).count() == 18

    results = read_expectations(spark, settings)
    by_batch = (
        results.where(F.col("table").isin(BRONZE_SESSIONS.key, SILVER_SESSIONS.key))
        .groupBy("table", "batch_id")
        .agg(
            F.sum((~F.col("success")).cast("int")).alias("failed"),
            F.first("page").alias("page"),
            F.first("rows").alias("rows"),
        )
        .orderBy("table", "batch_id")
        .collect()
    )
    assert [(r["table"], r["batch_id"], r["failed"], r["rows"]) for r in by_batch] == [
        ("bronze/sessions", 0, 0, "batch"),
        ("bronze/sessions", 1, 1, "batch"),
        ("silver/sessions", 0, 0, "batch"),
        ("silver/sessions", 1, 1, "batch"),
    ]
    parse = results.where(F.col("check") == "parse_rate").orderBy("batch_id").collect()
    assert [(r["unexpected_count"], r["element_count"]) for r in parse] == [(0, 10), (3, 11)]

    # Data Docs: a GX page per validation, and an index that links each one
    root = Path(docs_root(settings))
    for row in by_batch:
        page = (root / row["page"]).read_text()
        assert "Expectation Validation Result" in page and "values must never be null" in page
    index_uri = write_index(spark, settings)
    index = Path(index_uri).read_text()
    assert all(f'href="{r["page"]}"' in index for r in by_batch)
    assert index.count('class="failed"') == 1 and index.count('class="warnings"') == 1
    print_expectations(spark, settings)
    shown = capsys.readouterr().out
    assert "bronze/sessions              3/4 passed, batch 1" in shown
    assert f"Data Docs (every validation, with its page): {index_uri}" in shown


def test_a_page_shows_a_numpy_observed_value(spark, tmp_path, caplog):
    """GX's renderer formats an observed value through its repr, which NumPy 2 writes as
    ``np.float64(55.22)``: the page shows the number, and no rendering error is logged."""
    import numpy as np
    from great_expectations.core import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    from lakehouse.quality.data_docs import write_validation_pages
    from lakehouse.quality.expectations import Validation

    config = ExpectationConfiguration(
        type="expect_column_mean_to_be_between",
        kwargs={"column": "amount", "min_value": 1, "max_value": 100},
    )
    check = ExpectationValidationResult(
        success=True, expectation_config=config, result={"observed_value": np.float64(55.22)}
    )
    result = ExpectationSuiteValidationResult(
        success=True,
        results=[check],
        suite_name="silver_payment_transactions",
        statistics={"evaluated_expectations": 1, "successful_expectations": 1},
        meta={},
    )
    settings = load_settings("local", lake=str(tmp_path / "lake"))
    validation = Validation(suite="silver_payment_transactions", outcomes=[], result=result)
    with caplog.at_level(logging.ERROR):
        (page,) = write_validation_pages(
            spark, settings, SILVER_SESSIONS, "v" * 32, datetime.now(UTC), [validation]
        )
    text = (Path(docs_root(settings)) / page).read_text()
    assert "55.22" in text and "np.float64" not in text
    assert "data docs rendering" not in caplog.text
