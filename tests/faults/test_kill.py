"""Crashes: ``lakehouse run`` killed with SIGKILL at chosen writes, then run again.

Each killed run dies at a failpoint (``lakehouse.io.faults``): at the start of a layer's
write, after a new table's first commit was written but before it was put in place, or after
a batch's commit but before its ledger row. The
failpoints follow the run's order, so each killed run first recovers from the previous kill.
Between two runs every table of the lake that exists opens with an independent reader (the
``deltalake`` package); after a last clean rerun the lake equals a clean run's, table by
table, and the ledger's totals match.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from lakehouse.config import load_settings
from lakehouse.generate import (
    generate_payments_landing,
    generate_sessions_landing,
    holiday_years,
    write_reference_data,
)
from lakehouse.io.delta import is_delta_table, read_table
from lakehouse.io.faults import FAILPOINT_ENV
from lakehouse.pipeline import run_all
from lakehouse.privacy import resolve_key
from lakehouse.tables import ALL_TABLES, BATCH_LEDGER, EXPECTATIONS
from tests.support.lake import NO_SUITES, comparable

pytestmark = pytest.mark.integration

START = date(2024, 1, 1)
OVERRIDES = [
    "privacy.hmac_key=faults-key",
    "payments.label_cutoff=2024-06-01T00:00:00Z",
    # crash consistency, not data quality (tests/quality): each killed run is a new process,
    # which would pay the suites' start-up again
    NO_SUITES,
]
# in the order a run reaches them
KILL_POINTS = (
    "write:bronze/sessions",  # the run's first table, before anything exists
    # the first Bronze batch committed, its ledger row and checkpoint not: the replayed batch
    # writes nothing and takes its counts and schema drift from the table
    "committed:bronze/sessions",
    "commit:silver/sessions",  # a new table's first commit, inside a streaming micro-batch
    # the first Silver batch committed (pass 1 is the empty table's creation), its ledger row
    # not: the replayed batch finds its tagged commit and records that commit's counts
    "committed:silver/sessions@2",
    "commit:gold/payments_unified",  # the last table's first build written, not in place
)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults") / "landing"
    write_reference_data(root, seed=3, years=holiday_years(START, 60))
    generate_sessions_landing(
        root, documents=500, seed=3, start=START, days=60, docs_per_file=100, workers=1
    )
    generate_payments_landing(root, transactions=400, seed=3, start=START, days=60, workers=1)
    return root


def killed_run(landing: Path, lake: Path, point: str) -> subprocess.CompletedProcess:
    """``lakehouse run`` in a fresh process that dies at ``point``."""
    env = {**os.environ, "LAKEHOUSE_ENV": "local", FAILPOINT_ENV: point}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "lakehouse", "run", "--landing", str(landing)]
    command += ["--lake", str(lake), "--set=spark.conf.spark.driver.memory=1g"]
    # small data: few shuffle partitions, no web UI (as the suite's own session)
    command += ["--set=spark.conf.spark.sql.shuffle.partitions=2"]
    command += ["--set=spark.conf.spark.ui.enabled=false"]
    command += [f"--set={item}" for item in OVERRIDES]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def unreadable_tables(lake: Path) -> dict[str, str]:
    """Every table folder of the lake that an independent reader cannot open, with why."""
    from deltalake import DeltaTable

    failed = {}
    for table in ALL_TABLES:
        folder = lake / table.layer / table.name
        if not folder.exists():
            continue
        try:
            DeltaTable(str(folder)).to_pyarrow_table()
        except Exception as exc:  # any failure is the finding
            failed[table.key] = f"{type(exc).__name__}: {exc}"
    return failed


@pytest.fixture(scope="module")
def lakes(spark, landing, tmp_path_factory):
    root = tmp_path_factory.mktemp("lakes")
    clean = load_settings(
        "local", landing=str(landing), lake=str(root / "clean"), overrides=OVERRIDES
    )
    run_all(spark, clean)
    crashed = root / "crashed"
    kills = {}
    for point in KILL_POINTS:
        result = killed_run(landing, crashed, point)
        said = f"failpoint {point.partition('@')[0]}: killing process" in result.stderr
        kills[point] = (result.returncode, said, result.stderr[-2000:], unreadable_tables(crashed))
    rerun = load_settings("local", landing=str(landing), lake=str(crashed), overrides=OVERRIDES)
    run_all(spark, rerun)
    return {"clean": clean, "rerun": rerun, "kills": kills}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_the_run_died_there_and_left_every_table_readable(lakes, point):
    code, said, err, unreadable = lakes["kills"][point]
    assert code == -signal.SIGKILL, err
    assert said, err
    assert unreadable == {}


def test_the_rerun_gives_the_lake_a_clean_run_gives(spark, lakes):
    clean, rerun = lakes["clean"], lakes["rerun"]
    compared = 0
    for table in ALL_TABLES:
        if table in (BATCH_LEDGER, EXPECTATIONS):  # logs of what each run did
            continue
        path, expected = rerun.table_path(*table), clean.table_path(*table)
        assert is_delta_table(spark, path) == is_delta_table(spark, expected), table.key
        if is_delta_table(spark, expected):
            key = resolve_key(clean)  # the raw zones compare by their clear text
            rows = comparable(read_table(spark, path), key)
            assert rows == comparable(read_table(spark, expected), key), table.key
            compared += 1
    assert compared >= 15


def test_the_ledger_counts_every_record_once(spark, lakes):
    def totals(settings) -> dict:
        rows = read_table(spark, settings.table_path(*BATCH_LEDGER)).collect()
        summed: dict = {}
        for row in rows:
            for metric, value in row["metrics"].items():
                key = (row["step"], row["source"], metric)
                summed[key] = summed.get(key, 0) + value
        return summed

    assert totals(lakes["rerun"]) == totals(lakes["clean"])


def test_no_half_made_table_is_left_behind(lakes):
    lake = Path(lakes["rerun"].lake_root)
    creating = sorted(str(p.relative_to(lake)) for p in lake.glob("*/.*.creating"))
    assert creating == []
