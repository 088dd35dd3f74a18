"""``infra/spark-submit.sh``'s options, with a stand-in ``spark-submit`` that prints what it was
given (the real one runs in tests/test_cli.py and tests/integration/test_cluster.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lakehouse.config import PROJECT_ROOT
from lakehouse.spark import local_jars

SCRIPT = PROJECT_ROOT / "infra" / "spark-submit.sh"
ECHO = '#!/bin/sh\nfor arg in "$@"; do printf \'%s\\n\' "$arg"; done\n'


def submitted(tmp_path, *args: str, **env: str) -> list[str]:
    """The arguments spark-submit.sh passes on, one per list item."""
    fake = tmp_path / "spark-submit"
    fake.write_text(ECHO)
    fake.chmod(0o755)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")},
        "SPARK_SUBMIT": str(fake),
        "PYSPARK_PYTHON": sys.executable,
        "LAKEHOUSE_PYFILES_DIR": str(tmp_path / "py"),
        **env,
    }
    result = subprocess.run(
        [str(SCRIPT), *args, "jobs/run.py", "--lake", "x"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def option(arguments: list[str], name: str) -> str | None:
    return arguments[arguments.index(name) + 1] if name in arguments else None


def conf(arguments: list[str], key: str) -> str | None:
    values = [a for a in arguments if a.startswith(f"{key}=")]
    return values[-1].split("=", 1)[1] if values else None


JARS = local_jars(PROJECT_ROOT / ".jars")


@pytest.mark.parametrize(
    "master",
    [[], ["--master", "local[2]"], ["--master=local[*]"], ["--conf", "spark.master=local"]],
    ids=["default", "local", "local-equals", "local-conf"],
)
def test_local_mode_reads_the_jars_in_place(tmp_path, master):
    arguments = submitted(tmp_path, *master)
    assert option(arguments, "--driver-class-path") == ":".join(JARS)
    assert "--jars" not in arguments
    assert arguments[-3:] == ["jobs/run.py", "--lake", "x"]


@pytest.mark.parametrize(
    "master, env",
    [
        (["--master", "spark://m:7077"], {}),
        (["-c", "spark.master=spark://m:7077"], {}),
        (["--conf=spark.master=k8s://https://api:6443"], {}),
        ([], {"MASTER": "spark://m:7077"}),
        (["--master", "local-cluster[2,1,1024]"], {}),  # executors of their own
    ],
    ids=["master", "c", "conf-equals", "MASTER", "local-cluster"],
)
def test_a_cluster_gets_the_jars_shipped(tmp_path, master, env):
    shipped = submitted(tmp_path, *master, **env)
    assert option(shipped, "--jars") == ",".join(JARS)
    assert conf(shipped, "spark.executor.extraClassPath") is None


def test_a_clusters_nodes_can_hold_the_jars(tmp_path):
    in_place = submitted(tmp_path, "--master", "spark://m:7077", LAKEHOUSE_NODE_JARS="/app/.jars/")
    assert "--jars" not in in_place
    assert option(in_place, "--driver-class-path") == ":".join(JARS)
    assert conf(in_place, "spark.executor.extraClassPath") == "/app/.jars/*"


def test_the_driver_heap_follows_the_containers_memory_limit(tmp_path):
    assert "--driver-memory" not in submitted(tmp_path)  # no limit known: Spark's default
    sized = submitted(tmp_path, LAKEHOUSE_MEMORY_LIMIT_MIB="8192")
    assert option(sized, "--driver-memory") == "4096m"
    # the command's own setting wins, either way it is written
    own = submitted(tmp_path, "--driver-memory", "2g", LAKEHOUSE_MEMORY_LIMIT_MIB="8192")
    assert own.count("--driver-memory") == 1 and option(own, "--driver-memory") == "2g"
    by_conf = submitted(
        tmp_path, "--conf", "spark.driver.memory=3g", LAKEHOUSE_MEMORY_LIMIT_MIB="8192"
    )
    assert "--driver-memory" not in by_conf


@pytest.mark.parametrize("limit", ["8Gi", "0", "08"])
def test_a_bad_memory_limit_is_refused(tmp_path, limit):
    fake = tmp_path / "spark-submit"
    fake.write_text(ECHO)
    fake.chmod(0o755)
    result = subprocess.run(
        [str(SCRIPT), "jobs/run.py"],
        capture_output=True,
        text=True,
        env={**os.environ, "SPARK_SUBMIT": str(fake), "LAKEHOUSE_MEMORY_LIMIT_MIB": limit},
        timeout=120,
    )
    assert result.returncode == 2
    assert "LAKEHOUSE_MEMORY_LIMIT_MIB must be a whole number of MiB" in result.stderr
