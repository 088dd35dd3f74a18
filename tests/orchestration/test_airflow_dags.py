"""The Airflow DAGs (infra/airflow/dags), loaded and run by Airflow itself in its own
environment: what each schedule runs and in which order, and how a job's exit code becomes a
task's outcome (fail at once, retry with backoff, or skip). The hourly DAG runs end to end on
a Spark cluster in tests/integration/test_cluster.py."""

from __future__ import annotations

import ast
import json
import subprocess

import pytest

from lakehouse import errors
from lakehouse.config import PROJECT_ROOT
from tests.support.airflow import AIRFLOW_VENV, DAGS, airflow_home

MODELS = ("delivery", "fraud")

DAG_FILE = DAGS / "lakehouse_dags.py"

# prints each DAG as Airflow loaded it (run by .airflow-venv's Python)
DESCRIBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(sys.argv[1])
dags = {}
for dag_id, dag in bag.dags.items():
    tasks = {}
    for task in dag.tasks:
        tasks[task.task_id] = {
            "upstream": sorted(task.upstream_task_ids),
            "application": task.application,
            "args": task.application_args,
            "spark_binary": task._spark_binary,
            "conn_id": task._conn_id,
            "retries": task.retries,
            "backoff": task.retry_exponential_backoff,
            "timeout_s": task.execution_timeout.total_seconds(),
            "trigger_rule": getattr(task.trigger_rule, "value", task.trigger_rule),
            "conf": task.conf,
        }
    dags[dag_id] = {
        "schedule": str(dag.schedule),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "dagrun_timeout_s": dag.dagrun_timeout.total_seconds(),
        "tasks": tasks,
    }
errors = {path: str(error) for path, error in bag.import_errors.items()}
print("DAGS", json.dumps({"errors": errors, "dags": dags}))
"""


def describe(airflow_home, **env: str) -> dict:
    """The DAG folder as Airflow's DagBag loads it, with ``env`` in the environment."""
    result = subprocess.run(
        [str(AIRFLOW_VENV / "bin" / "python"), "-c", DESCRIBE, str(DAGS)],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": "/usr/bin:/bin",
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "LAKEHOUSE_HOME": str(PROJECT_ROOT),
            **env,
        },
    )
    described = [x for x in result.stdout.splitlines() if x.startswith("DAGS ")]
    assert len(described) == 1, result.stderr[-3000:]
    (line,) = described
    return json.loads(line.removeprefix("DAGS "))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return describe(tmp_path_factory.mktemp("airflow-home"))


def test_the_dags_load_without_errors(loaded):
    assert loaded["errors"] == {}
    assert set(loaded["dags"]) == {"lakehouse_hourly", "lakehouse_daily", "lakehouse_weekly"}


def test_each_schedule_runs_its_jobs_in_order(loaded):
    dags = loaded["dags"]
    hourly = dags["lakehouse_hourly"]["tasks"]
    assert {t: v["upstream"] for t, v in hourly.items()} == {
        "ingest": [],
        "silver": ["ingest"],
        "gold": ["silver"],
        "check": ["gold"],
    }
    daily = dags["lakehouse_daily"]["tasks"]
    assert sorted(daily) == sorted(f"{j}_{m}" for j in ("retrain", "score") for m in MODELS)
    for model in MODELS:
        assert daily[f"retrain_{model}"]["upstream"] == []
        assert daily[f"score_{model}"]["upstream"] == [f"retrain_{model}"]
        # a refused promotion (skipped) still scores with the champion; a failure does not
        assert daily[f"score_{model}"]["trigger_rule"] == "none_failed"
    assert list(dags["lakehouse_weekly"]["tasks"]) == ["maintain"]


def test_every_task_is_a_job_of_the_project_through_its_spark_submit(loaded):
    for dag in loaded["dags"].values():
        for task_id, task in dag["tasks"].items():
            assert task["application"] == str(PROJECT_ROOT / "jobs" / f"{task_id}.py")
            # a job queues behind another DAG's writer for a while before exit 75 and a retry
            assert task["args"][:2] == ["--set", "lock.wait_s=600"], task_id
            assert (PROJECT_ROOT / "jobs" / f"{task_id}.py").is_file(), task_id
            assert task["spark_binary"] == str(PROJECT_ROOT / "infra" / "spark-submit.sh")
            assert task["conn_id"] == "spark_default"
            assert task["retries"] >= 2 and task["backoff"], task_id
            assert 0 < task["timeout_s"] <= dag["dagrun_timeout_s"], task_id


def test_every_job_gets_the_spark_settings_of_lakehouse_spark_conf(tmp_path):
    conf = {"spark.executor.memory": "2g", "spark.sql.shuffle.partitions": 8}
    conf["spark.sql.adaptive.enabled"] = False
    found = describe(tmp_path, LAKEHOUSE_SPARK_CONF=json.dumps(conf))
    assert found["errors"] == {}
    expected = {
        "spark.executor.memory": "2g",
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.adaptive.enabled": "false",
    }
    for dag in found["dags"].values():
        assert all(task["conf"] == expected for task in dag["tasks"].values())


@pytest.mark.parametrize(
    "value, message",
    [
        ("{'spark.executor.memory': '2g'}", "is not JSON"),
        ('["spark.executor.memory=2g"]', "must be a JSON object"),
        ('{"spark.executor.memory": {"size": "2g"}}', "must be a JSON object"),
    ],
    ids=["python-dict", "list", "nested"],
)
def test_a_bad_lakehouse_spark_conf_is_an_import_error_that_names_it(tmp_path, value, message):
    found = describe(tmp_path, LAKEHOUSE_SPARK_CONF=value)
    assert found["dags"] == {}
    ((path, error),) = found["errors"].items()
    assert path.endswith("lakehouse_dags.py")
    assert f"LAKEHOUSE_SPARK_CONF {message}" in error, error


def test_the_lock_wait_comes_from_the_environment(tmp_path):
    found = describe(tmp_path / "a", LAKEHOUSE_LOCK_WAIT_S="90")
    tasks = [t for dag in found["dags"].values() for t in dag["tasks"].values()]
    assert tasks and all(t["args"][:2] == ["--set", "lock.wait_s=90"] for t in tasks)
    bad = describe(tmp_path / "b", LAKEHOUSE_LOCK_WAIT_S="10m")
    assert "LAKEHOUSE_LOCK_WAIT_S must be a whole number of seconds" in str(bad["errors"])


def test_no_catch_up_storms_and_one_run_at_a_time(loaded):
    for dag_id, dag in loaded["dags"].items():
        assert dag["catchup"] is False and dag["max_active_runs"] == 1, dag_id
    hourly = loaded["dags"]["lakehouse_hourly"]
    assert hourly["schedule"] == "5 * * * *"
    assert hourly["dagrun_timeout_s"] < 3600  # over before the next hour's run is due


def test_the_dags_know_the_commands_exit_codes():
    """The DAG file cannot import the project (Airflow's environment does not hold it), so it
    repeats the exit codes it acts on: they must stay the CLI's."""
    tree = ast.parse(DAG_FILE.read_text())
    constants = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.startswith("EXIT_")
    }
    assert constants and constants == {name: getattr(errors, name) for name in constants}


# one DAG per exit code, each a single task of the project's operator; the job is a stand-in
# spark-submit.sh in a fake LAKEHOUSE_HOME that counts its attempts and exits with the code
PROBES = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from lakehouse_dags import LakehouseJob

for code in (0, 3, 65, 75, 78):
    with DAG(f"probe_{code}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
        LakehouseJob(
            job="promote_probe",  # a promotion (or a retrain): exit code 3 is a skip
            retries=2,
            retry_delay=timedelta(0),
            retry_exponential_backoff=False,
            env_vars={"PROBE_EXIT": str(code)},
        )
"""
FAKE_SUBMIT = r"""#!/bin/sh
# the job's name (jobs/<name>.py among the arguments) and its exit code: PROBE_EXIT_<name>, or
# PROBE_EXIT, or 0
job=""
for arg in "$@"; do
  case "$arg" in */jobs/*.py) job=$(basename "$arg" .py) ;; esac
done
eval "code=\${PROBE_EXIT_$job:-\${PROBE_EXIT:-0}}"
echo "$job $code $*" >> "$PROBE_ATTEMPTS"
exit "$code"
"""


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    work = tmp_path_factory.mktemp("airflow-probes")
    fake = work / "fake-home"
    (fake / "infra").mkdir(parents=True)
    (fake / "infra" / "spark-submit.sh").write_text(FAKE_SUBMIT)
    (fake / "infra" / "spark-submit.sh").chmod(0o755)
    (work / "probe_dags.py").write_text(PROBES)
    return airflow_home(
        work / "airflow",
        DAG_FILE,
        work / "probe_dags.py",
        LAKEHOUSE_HOME=str(fake),
        AIRFLOW_CONN_SPARK_DEFAULT='{"conn_type": "spark", "host": "local[1]"}',
    )


@pytest.mark.parametrize(
    ("code", "attempts", "task", "run"),
    [
        (0, 1, "success", "success"),
        (3, 1, "skipped", "success"),  # the gate refused: the champion stays, not a failure
        (65, 1, "failed", "failed"),  # the data failed a gate: a retry reads the same data
        (78, 1, "failed", "failed"),  # a secret is missing: so it is on the next try
        (75, 3, "failed", "failed"),  # the lake was held: retried (retries=2), then failed
    ],
)
def test_an_exit_code_becomes_the_tasks_outcome(probes, tmp_path, code, attempts, task, run):
    counter = tmp_path / "attempts"
    dag_run = probes.test_dag(f"probe_{code}", PROBE_ATTEMPTS=str(counter))
    assert (dag_run.state, dag_run.tasks) == (run, {"promote_probe": task}), dag_run.log[-3000:]
    lines = counter.read_text().splitlines()
    assert len(lines) == attempts
    # the operator ran the fake home's spark-submit.sh on its master with jobs/probe.py
    job, exited, *argv = lines[0].split()
    assert (job, exited, argv[:2]) == ("promote_probe", str(code), ["--master", "local[1]"])
    assert "--deploy-mode client" in " ".join(argv)
    assert argv[-3].endswith("/jobs/promote_probe.py") and argv[-2:] == ["--set", "lock.wait_s=600"]


def test_a_refused_promotion_still_scores_and_a_failed_training_stops_its_model(probes, tmp_path):
    """The daily DAG as it is, its jobs stand-ins: delivery's gate refuses the challenger (3),
    fraud's retraining fails on its data (65); the other model's chain is not held back."""
    counter = tmp_path / "attempts"
    dag_run = probes.test_dag(
        "lakehouse_daily",
        PROBE_ATTEMPTS=str(counter),
        PROBE_EXIT_retrain_delivery="3",
        PROBE_EXIT_retrain_fraud="65",
    )
    assert dag_run.tasks == {
        "retrain_delivery": "skipped",
        "score_delivery": "success",  # with the champion that stayed
        "retrain_fraud": "failed",  # at once: no retry of a data-quality failure
        "score_fraud": "upstream_failed",
    }, dag_run.log[-3000:]
    assert dag_run.state == "failed"
    ran = sorted(line.split()[0] for line in counter.read_text().splitlines())
    assert ran == ["retrain_delivery", "retrain_fraud", "score_delivery"]
