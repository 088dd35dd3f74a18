"""``lakehouse stream``: the pipeline run continuously, in a process of its own.

A file that lands while the stream runs reaches Gold in a later cycle; a batch command run
beside the stream waits for the lake's lock and changes nothing it should not; SIGTERM in the
middle of a cycle ends the stream once that cycle is done (exit 0); the lake then equals a
batch run's on the same files, and a restarted stream goes on from its checkpoints and finds
nothing to do.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lakehouse.config import load_settings
from lakehouse.generate import generate_sessions_landing, holiday_years, write_reference_data
from lakehouse.io.delta import latest_version, read_table
from lakehouse.pipeline import run_all
from lakehouse.privacy import resolve_key
from lakehouse.tables import ALL_TABLES, BRONZE_SESSIONS, GOLD_DELIVERY_FEATURES, SILVER_SESSIONS
from tests.support.lake import NO_SUITES, comparable
from tests.support.sql_server import wait_for_line

pytestmark = pytest.mark.integration

START = date(2024, 1, 1)
OVERRIDES = ["privacy.hmac_key=stream-test-key", NO_SUITES]
STREAM_METRICS = "lakehouse_stream_local_all.prom"
SMALL = ["--set", "spark.master=local[1]", "--set", "spark.conf.spark.ui.enabled=false"]


def lakehouse(*args: str, lake: Path, landing: Path, wait: bool = True):
    command = [sys.executable, "-m", "lakehouse", *args, "--landing", str(landing)]
    command += ["--lake", str(lake), *SMALL, *(f"--set={o}" for o in OVERRIDES)]
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_SUBMIT_ARGS"}
    if not wait:
        return subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Reference data and sessions export files, and one more export of other sessions
    (it lands while the stream runs): the landing zone, that file, and where it lands."""
    root = tmp_path_factory.mktemp("stream")
    landing, more = root / "landing", root / "more"
    write_reference_data(landing, seed=5, years=holiday_years(START, 60))
    for folder, seed in ((landing, 5), (more, 6)):
        generate_sessions_landing(
            folder, documents=200, seed=seed, start=START, days=60, docs_per_file=100, workers=1
        )
    late = min((more / "sessions").rglob("export-000000*"))
    target = landing / late.relative_to(more).with_name(f"late-{late.name}")
    return landing, late, target


def test_a_stream_takes_new_files_lets_batch_commands_in_and_stops_after_its_cycle(
    spark, landing, tmp_path
):
    landing, late, target = landing
    lake = tmp_path / "lake"
    metrics = tmp_path / "metrics"
    stream = lakehouse(
        "stream",
        "--trigger",
        "2",
        f"--set=monitoring.textfile_dir={metrics}",
        lake=lake,
        landing=landing,
        wait=False,
    )
    beside = None
    try:
        first = "".join(wait_for_line(stream, "cycle 1:", timeout=600))
        assert "gold/delivery_features" in first, first
        settings = load_settings("local", lake=str(lake), overrides=OVERRIDES)
        silver = settings.table_path(*SILVER_SESSIONS)
        before = read_table(spark, silver).count()
        gold = latest_version(spark, settings.table_path(*GOLD_DELIVERY_FEATURES))
        assert before > 0 and gold is not None

        # a batch command beside the stream: it waits for the lake's lock while a cycle
        # holds it, and runs between two cycles; a file lands meanwhile, which one of them
        # takes into Bronze, once
        beside = lakehouse(
            "ingest", "--set=lock.wait_s=300", lake=lake, landing=landing, wait=False
        )
        shutil.copy(late, target)  # a fresh modification time, as an upload has
        wait_for_line(stream, "silver  silver/sessions", timeout=300)
        # the new rows' cycle is under way (Silver done, Gold to come): stop the stream
        stream.send_signal(signal.SIGTERM)
        rest = "".join(stream.stdout.readlines())
        assert stream.wait(timeout=300) == 0, rest
        assert "gold/delivery_features" in rest and "stream stopped after" in rest, rest
        beside.communicate(timeout=300)
        assert beside.returncode == 0
    finally:
        for process in (stream, beside):
            if process is not None and process.poll() is None:
                process.kill()
    assert read_table(spark, silver).count() > before
    gold_now = latest_version(spark, settings.table_path(*GOLD_DELIVERY_FEATURES))
    assert gold_now > gold
    # each cycle reports as a run of the job `stream`: the last one's figures are there
    reported = {
        (sample.name, sample.labels.get("table")): sample
        for family in text_string_to_metric_families((metrics / STREAM_METRICS).read_text())
        for sample in family.samples
    }
    exit_code = reported["lakehouse_job_exit_code", None]
    assert exit_code.value == 0 and exit_code.labels["job"] == "lakehouse_stream"
    assert reported["lakehouse_step_table_version", GOLD_DELIVERY_FEATURES.key].value == gold_now

    # the lake equals a batch run's on the same files
    batch = load_settings(
        "local", landing=str(landing), lake=str(tmp_path / "batch"), overrides=OVERRIDES
    )
    run_all(spark, batch)
    for table in (BRONZE_SESSIONS, SILVER_SESSIONS, GOLD_DELIVERY_FEATURES):
        key = resolve_key(settings)  # Bronze compares by its clear text
        streamed = comparable(read_table(spark, settings.table_path(*table)), key)
        assert streamed == comparable(read_table(spark, batch.table_path(*table)), key), table.key

    # a restarted stream goes on from its checkpoints: nothing new, no commit
    versions = {t: latest_version(spark, settings.table_path(*t)) for t in ALL_TABLES}
    again = lakehouse("stream", "--cycles", "1", lake=lake, landing=landing)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "cycle 1: nothing new" in again.stdout
    assert {t: latest_version(spark, settings.table_path(*t)) for t in ALL_TABLES} == versions
