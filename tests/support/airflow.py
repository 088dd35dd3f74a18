"""Airflow in its own environment (``.airflow-venv``, ``make airflow``), driven as a user does:
an ``AIRFLOW_HOME`` with its metadata database (SQLite), a DAGs folder, and Airflow's own test
runner (``airflow dags test``), which runs a DAG's tasks in order, retries included."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lakehouse.config import PROJECT_ROOT

AIRFLOW_VENV = PROJECT_ROOT / ".airflow-venv"
DAGS = PROJECT_ROOT / "infra" / "airflow" / "dags"
FINISHED = re.compile(r"DagRun Finished: dag_id=(\S+), .*?run_id=([^,]+),.*? state=(\w+)")
NEW_STATE = re.compile(r"new_state=(\w+)")


@dataclass
class DagRun:
    """What ``airflow dags test`` did: the run's state and each task's."""

    dag_id: str
    state: str
    tasks: dict[str, str]
    log: str = field(repr=False)


@dataclass
class Airflow:
    home: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(AIRFLOW_VENV / "bin" / "airflow"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **env},
        )

    def test_dag(self, dag_id: str, timeout: float = 1200, **env: str) -> DagRun:
        """``airflow dags test DAG_ID``, then the states of the run's tasks."""
        result = self.run("dags", "test", dag_id, timeout=timeout, **env)
        log = result.stdout + result.stderr
        finished = [m for m in FINISHED.finditer(log) if m.group(1) == dag_id]
        assert finished, log[-5000:]
        _, run_id, state = finished[-1].groups()
        states = self.run("tasks", "states-for-dag-run", dag_id, run_id, "--output", "json")
        assert states.returncode == 0, states.stderr[-3000:]
        (listed,) = [x for x in states.stdout.splitlines() if x.startswith("[{")]
        rows = json.loads(listed)
        return DagRun(dag_id, state, {row["task_id"]: row["state"] for row in rows}, log)

    def test_task(self, dag_id: str, task_id: str, timeout: float = 600, **env: str) -> str:
        """``airflow tasks test DAG_ID TASK_ID``: the task's final state (the command exits 0
        whatever the task did)."""
        result = self.run("tasks", "test", dag_id, task_id, timeout=timeout, **env)
        states = NEW_STATE.findall(result.stdout + result.stderr)
        assert states, (result.stdout + result.stderr)[-3000:]
        return states[-1]


def airflow_home(workdir: Path, *dag_files: Path, **env: str) -> Airflow:
    """An ``AIRFLOW_HOME`` in ``workdir`` whose DAGs folder holds ``dag_files`` (the project's
    DAGs by default), its database migrated; ``env`` is every command's environment on top of
    this process's."""
    airflow = AIRFLOW_VENV / "bin" / "airflow"
    if not airflow.exists():
        pytest.fail(f"{airflow} is missing: `make airflow` installs it (`make test` does)")
    dags = workdir / "dags"
    dags.mkdir(parents=True)
    for path in dag_files or tuple(DAGS.glob("*.py")):
        (dags / path.name).write_text(path.read_text())
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTHON"))
    }
    home = Airflow(
        workdir,
        {
            **base,
            "AIRFLOW_HOME": str(workdir),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            **env,
        },
    )
    migrated = home.run("db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return home
