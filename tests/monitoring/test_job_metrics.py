"""Batch-job metrics (lakehouse.monitoring.jobs): what a scheduled command reports, pushed to a
real Pushgateway and scraped back, or written for node-exporter's textfile collector."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterable

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lakehouse.cli import main
from lakehouse.config import load_settings
from lakehouse.errors import (
    EXIT_CRASH,
    EXIT_DATA_QUALITY,
    EXIT_FAILED,
    EXIT_LAKE_LOCKED,
    EXIT_PROMOTION_REFUSED,
    EXIT_SECRET,
    LakehouseError,
)
from lakehouse.io.lake_lock import LakeLockedError, lake_lock
from lakehouse.monitoring import jobs
from lakehouse.pipeline.report import StepReport
from tests.support.lake import generate_through_cli

KEY = ["--set", "privacy.hmac_key=metrics-test"]


def samples(text: str, **labels: str) -> dict[tuple, float]:
    """(metric name, the sample's other labels sorted) -> value, for samples carrying ``labels``
    (an empty label, such as the Pushgateway's ``instance=""``, is no label, as in Prometheus)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                rest = tuple(
                    sorted((k, v) for k, v in sample.labels.items() if k not in labels and v)
                )
                found[(sample.name, rest)] = sample.value
    return found


def value(found: dict[tuple, float], name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def exit_code(*args: str) -> int:
    """``lakehouse ARGS`` in this process, as the console script runs it: its exit code."""
    try:
        main(list(args))
    except SystemExit as exc:
        return jobs.exit_code_of(exc)
    return 0


# --- the metrics themselves, without Spark ---------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (None, 0),
        (SystemExit(EXIT_DATA_QUALITY), EXIT_DATA_QUALITY),
        (SystemExit(None), 0),
        (LakehouseError("bad"), EXIT_FAILED),
        (LakeLockedError("held"), EXIT_LAKE_LOCKED),
        (RuntimeError("a bug"), EXIT_CRASH),
    ],
)
def test_exit_codes_as_the_command_line_gives_them(exc, code):
    assert jobs.exit_code_of(exc) == code


def a_run(job: str = "silver", scope: str = "sessions") -> jobs.JobRun:
    run = jobs.JobRun(job, "local", scope, started=1000.0)
    report = StepReport("silver", "sessions", "silver/sessions", seconds=2.5, version=4)
    report.batches = [0, 1]
    report.metrics.update({"bronze_rows": 10, "silver_rows": 7, "quarantined": 3})
    report.quality_warnings = ["batch 1: a warning"]
    run.add_step(report)
    run.gate_failures = ["silver/sessions: 3 of 10 rows quarantined"]
    return run


def test_a_run_s_metrics_carry_its_steps_gate_and_outcome():
    found = samples(generate_latest(a_run().registry(EXIT_DATA_QUALITY, 1012.0)).decode())
    assert value(found, "lakehouse_job_duration_seconds") == 12.0
    assert value(found, "lakehouse_job_exit_code") == EXIT_DATA_QUALITY
    assert value(found, "lakehouse_job_outcome", outcome="data_quality_failure") == 1
    assert value(found, "lakehouse_job_outcome", outcome="success") == 0
    # a failed run says nothing about the last success
    assert not any(name == jobs.LAST_SUCCESS for name, _ in found)
    assert value(found, "lakehouse_job_gate_passed") == 0
    assert value(found, "lakehouse_job_gate_failures") == 1
    step = {"step": "silver", "source": "sessions", "table": "silver/sessions"}
    assert value(found, "lakehouse_step_count", **step, measure="quarantined") == 3
    assert value(found, "lakehouse_step_count", **step, measure="silver_rows") == 7
    assert value(found, "lakehouse_step_batches", **step) == 2
    assert value(found, "lakehouse_step_duration_seconds", **step) == 2.5
    assert value(found, "lakehouse_step_table_version", **step) == 4
    assert value(found, "lakehouse_step_failed_expectations", **step, severity="warn") == 1
    assert value(found, "lakehouse_step_failed_expectations", **step, severity="fail") == 0


def test_the_textfile_keeps_the_last_success_through_a_failure(tmp_path):
    run = a_run()
    ok = jobs.write_textfile(tmp_path, run, run.registry(0, 2000.0), ok=True)
    assert ok == tmp_path / "lakehouse_silver_local_sessions.prom"
    labels = {"job": "lakehouse_silver", "env": "local", "scope": "sessions"}
    first = samples(ok.read_text(), **labels)
    assert value(first, jobs.LAST_SUCCESS) == 2000.0
    assert value(first, "lakehouse_job_outcome", outcome="success") == 1

    failed = jobs.write_textfile(tmp_path, run, run.registry(EXIT_CRASH, 3000.0), ok=False)
    then = samples(failed.read_text(), **labels)
    assert value(then, jobs.LAST_SUCCESS) == 2000.0
    assert value(then, "lakehouse_job_last_run_timestamp_seconds") == 3000.0
    assert value(then, "lakehouse_job_outcome", outcome="crash") == 1
    # written atomically: nothing else is left in the folder
    assert [p.name for p in tmp_path.iterdir()] == [ok.name]


def test_a_refused_command_still_reports_its_failure(tmp_path, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_HMAC_KEY", raising=False)
    metrics = tmp_path / "metrics"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lakehouse",
            "ingest",
            "--env",
            "staging",
            "--lake",
            str(tmp_path / "lake"),
            "--landing",
            str(tmp_path / "landing"),
            "--set",
            "secrets.hmac_key=null",
            "--set",
            f"monitoring.textfile_dir={metrics}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == EXIT_SECRET, result.stderr
    (written,) = metrics.iterdir()
    found = samples(written.read_text(), job="lakehouse_ingest", env="staging", scope="all")
    assert value(found, "lakehouse_job_outcome", outcome="secret_error") == 1
    assert value(found, "lakehouse_job_exit_code") == EXIT_SECRET


def test_an_unreachable_pushgateway_never_changes_how_a_command_ends(caplog):
    settings = load_settings(
        "local",
        overrides=["monitoring.pushgateway=http://127.0.0.1:9", "monitoring.push_timeout_s=2"],
    )
    run = jobs.start("maintain", settings, None)
    assert jobs.current() is run
    jobs.finish(run, settings, None)  # no exception
    assert jobs.current() is None
    assert "job metrics not reported" in caplog.text
    assert jobs.start("report", settings, None) is None  # not a scheduled command


# --- a real run, pushed to a real Pushgateway ------------------------------------------------


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    generate_through_cli(root / "landing", sessions=400, transactions=100, seed=11)
    return root


def ledger_sums(lake_root: str, step_sources: Iterable[tuple[str, str]]) -> Counter:
    """audit/batch_ledger's metrics summed per (step, source, measure)."""
    from lakehouse.io.delta_reader import read_delta

    frame = read_delta(f"{lake_root}/audit/batch_ledger").frame
    sums: Counter = Counter()
    wanted = set(step_sources)
    for row in frame.itertuples():
        if (row.step, row.source) in wanted:
            for measure, count in dict(row.metrics).items():
                sums[(row.step, row.source, measure)] += count
    return sums


def test_a_run_pushes_what_its_ledger_records_and_a_failed_run_keeps_the_last_success(
    spark, pushgateway, lake
):
    from deltalake import DeltaTable

    roots = ["--landing", str(lake / "landing"), "--lake", str(lake / "lake")]
    push = ["--set", f"monitoring.pushgateway={pushgateway.url}"]
    # Gold needs the reference data's Silver tables: that run is a group of its own
    assert exit_code("run", "--source", "reference", *roots, *KEY, *push) == 0
    assert exit_code("run", "--source", "sessions", *roots, *KEY, *push) == 0

    group = {"job": "lakehouse_run", "env": "local", "scope": "sessions"}
    found = samples(pushgateway.scrape(), **group)
    assert value(found, "lakehouse_job_exit_code") == 0
    assert value(found, "lakehouse_job_outcome", outcome="success") == 1
    assert value(found, "lakehouse_job_gate_passed") == 1
    succeeded = value(found, jobs.LAST_SUCCESS)
    assert value(found, "lakehouse_job_duration_seconds") > 0

    # every step's counts equal what the ledger recorded for its batches
    steps = {
        (dict(labels)["step"], dict(labels)["source"], dict(labels)["table"])
        for name, labels in found
        if name == "lakehouse_step_batches"
    }
    assert {step for step, _, _ in steps} >= {"bronze", "silver", "gold"}
    ledger = ledger_sums(str(lake / "lake"), {(s, src) for s, src, _ in steps})
    assert ledger and ledger[("bronze", "sessions", "records_read")] > 0
    pushed = Counter()
    for name, labels in found:
        if name == "lakehouse_step_count":
            label = dict(labels)
            pushed[(label["step"], label["source"], label["measure"])] += value(
                found, name, **label
            )
    for key, count in ledger.items():
        assert pushed[key] == count, key

    # Gold's versions and commit times, as the Delta log has them
    gold = DeltaTable(str(lake / "lake" / "gold" / "delivery_features"))
    assert value(found, "lakehouse_table_version", table="gold/delivery_features") == (
        gold.version()
    )
    committed = value(
        found, "lakehouse_table_last_commit_timestamp_seconds", table="gold/delivery_features"
    )
    assert committed == pytest.approx(gold.history(1)[0]["timestamp"] / 1000)

    # the same job, refused by a held lake: its failure is pushed, its last success stays
    settings = load_settings("local", lake=str(lake / "lake"))
    with lake_lock(settings.lake_root, "holder", settings.lock, settings.storage):
        refused = exit_code("run", "--source", "sessions", *roots, *KEY, *push)
    assert refused == EXIT_LAKE_LOCKED
    after = samples(pushgateway.scrape(), **group)
    assert value(after, "lakehouse_job_exit_code") == EXIT_LAKE_LOCKED
    assert value(after, "lakehouse_job_outcome", outcome="lake_locked") == 1
    assert value(after, "lakehouse_job_outcome", outcome="success") == 0
    assert value(after, jobs.LAST_SUCCESS) == succeeded
    assert value(after, "lakehouse_job_last_run_timestamp_seconds") > succeeded
    # another source's run is its own group: it replaces nothing of this one
    assert exit_code("ingest", "--source", "payments", *roots, *KEY, *push) == 0
    assert value(samples(pushgateway.scrape(), **group), jobs.LAST_SUCCESS) == succeeded
    ingest = {"job": "lakehouse_ingest", "env": "local", "scope": "payments"}
    assert value(samples(pushgateway.scrape(), **ingest), "lakehouse_job_exit_code") == 0


def test_a_refused_promotion_is_a_finished_run_not_a_missing_one():
    """Exit code 3: the gate refused the challenger. Its outcome is its own, and it counts as
    the job's last success, so that days of refusals page no one (LakehouseJobMissing) and
    LakehousePromotionRefusals tickets them instead."""
    run = jobs.JobRun(job="promote", env="prod", scope="fraud")
    run.promoted = False
    refused = run.registry(EXIT_PROMOTION_REFUSED, 1234.0)
    assert refused.get_sample_value(jobs.LAST_SUCCESS) == 1234.0
    assert refused.get_sample_value("lakehouse_job_outcome", {"outcome": "promotion_refused"}) == 1
    assert refused.get_sample_value("lakehouse_promotion_gate_passed") == 0
    failed = run.registry(EXIT_FAILED, 1234.0)
    assert failed.get_sample_value(jobs.LAST_SUCCESS) is None
