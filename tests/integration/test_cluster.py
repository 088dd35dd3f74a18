"""The jobs on a real Spark standalone cluster (a master and two workers on loopback, from the
pinned PySpark), launched by ``infra/spark-submit.sh`` in client mode (Spark runs Python
applications on a standalone cluster in client mode only): the hourly Airflow DAG, run by
Airflow, builds the pipeline's Gold tables there, equal to a local run's on the same data, and
a scoring job's predictions equal a local one's."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from chispa import assert_df_equality
from click.testing import CliRunner

from lakehouse.cli import cli
from lakehouse.config import PROJECT_ROOT, load_settings
from lakehouse.io.delta import latest_version
from lakehouse.ml.scoring import score_table
from lakehouse.tables import (
    ALL_TABLES,
    GOLD_DELIVERY_FEATURES,
    GOLD_DELIVERY_PREDICTIONS,
    GOLD_PAYMENTS_UNIFIED,
)
from tests.serving.conftest import serving_lake  # noqa: F401 (the serving tests' lake)
from tests.support.airflow import airflow_home
from tests.support.lake import NO_SUITES, generate_through_cli
from tests.support.servers import spark_cluster

pytestmark = pytest.mark.integration

KEY = ["--set", "privacy.hmac_key=cluster-test"]
# the expectation suites, the drift and the tables' descriptions in the catalog (tests/catalog,
# 12-20 s of metadata commits per task here) are tested elsewhere; here they would only add
# Spark jobs
TESTED_ELSEWHERE = [
    "--set",
    NO_SUITES,
    "--set",
    "quality.schema_drift=false",
    "--set",
    "catalog.enabled=false",
]
# one core per worker
EXECUTORS = {
    "spark.ui.enabled": "false",
    "spark.executor.memory": "1g",
    "spark.executor.cores": "1",
    "spark.sql.shuffle.partitions": "4",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with spark_cluster(tmp_path_factory.mktemp("spark-cluster"), workers=2) as cluster:
        yield cluster


def submit(cluster, job: str | Path, *args: str) -> subprocess.CompletedProcess:
    """``infra/spark-submit.sh --master <cluster> jobs/<job> ...`` (or a job file given by its
    path)."""
    # (an absolute path stays itself)
    command = cluster.submit_command(PROJECT_ROOT / "jobs" / job, *args, conf=EXECUTORS)
    env = {**os.environ, **cluster.submit_env}
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def executors_used(cluster, before: set[str]) -> list[dict]:
    """The applications the cluster completed since ``before``, with their cores."""
    return [app for app in cluster.status()["completedapps"] if app["id"] not in before]


def read(spark, lake: Path, table) -> object:
    return spark.read.format("delta").load(str(lake / table[0] / table[1]))


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """A small landing zone and the lake the hourly schedule's commands build from it here, in
    local mode."""
    root = tmp_path_factory.mktemp("local-run")
    landing, lake = root / "landing", root / "l" / "lake"
    generate_through_cli(landing, sessions=400, transactions=300, seed=11)
    for command in ("ingest", "silver", "gold"):
        local = CliRunner().invoke(
            cli, [command, "--landing", str(landing), "--lake", str(lake), *KEY, *TESTED_ELSEWHERE]
        )
        assert local.exit_code == 0, local.output
    return landing, lake


def assert_same_gold(spark, lake: Path, local_lake: Path) -> None:
    for table in (GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED):
        there, here = read(spark, lake, table), read(spark, local_lake, table)
        assert here.count() > 0
        # the same rows and types
        assert_df_equality(there, here, ignore_row_order=True, ignore_nullable=True)


HOURLY = ["lakehouse-ingest", "lakehouse-silver", "lakehouse-gold", "lakehouse-check"]


def test_the_hourly_dag_runs_the_pipeline_on_the_cluster(spark, cluster, local_run, tmp_path):
    """Airflow's own test runner runs ``lakehouse_hourly`` (infra/airflow/dags) with the Spark
    provider's operator against this cluster: each task is a Spark application there named
    after it, Gold equals a local run's, and running a task again changes no table."""
    landing, local_lake = local_run
    lake = tmp_path / "a" / "lake"
    airflow = airflow_home(
        tmp_path / "airflow",
        LAKEHOUSE_HOME=str(PROJECT_ROOT),
        AIRFLOW_CONN_SPARK_DEFAULT=cluster.url,
        LAKEHOUSE_LANDING=str(landing),
        LAKEHOUSE_LAKE=str(lake),
        LAKEHOUSE_SET=json.dumps([KEY[1], *TESTED_ELSEWHERE[1::2]]),
        LAKEHOUSE_SPARK_CONF=json.dumps(EXECUTORS),
        **cluster.submit_env,
    )
    before = {app["id"] for app in cluster.status()["completedapps"]}
    first = airflow.test_dag("lakehouse_hourly")
    assert (first.state, set(first.tasks.values())) == ("success", {"success"}), first.log[-4000:]
    assert set(first.tasks) == {"ingest", "silver", "gold", "check"}
    apps = executors_used(cluster, before)
    assert sorted(app["name"] for app in apps) == sorted(HOURLY)
    assert all(app["state"] == "FINISHED" and app["cores"] == 2 for app in apps), apps
    assert "lake check passed" in first.log and f"master={cluster.url}" in first.log
    assert_same_gold(spark, lake, local_lake)

    # a task run again (as a retry or a manual clear would) changes no table (one task: each
    # is an application on the cluster; a whole rerun commits nothing: test_s3_lake.py)
    versions = {t: latest_version(spark, str(lake / t[0] / t[1])) for t in ALL_TABLES}
    assert airflow.test_task("lakehouse_hourly", "ingest") == "success"
    assert {t: latest_version(spark, str(lake / t[0] / t[1])) for t in ALL_TABLES} == versions


def test_a_scoring_job_on_the_cluster_equals_a_local_one(spark, cluster, serving_lake, tmp_path):  # noqa: F811
    """mapInPandas scoring: the model runs in Python workers on the cluster's executors."""
    source = Path(serving_lake.settings.lake_root).parent
    for copy in ("c", "l"):  # the registry's artifacts stay where they are, read-only
        shutil.copytree(source, tmp_path / copy)
    submit(cluster, "score_delivery.py", "--lake", str(tmp_path / "c" / "lake"))

    settings = load_settings("local", lake=str(tmp_path / "l" / "lake"))
    result = score_table(spark, settings, "delivery")
    assert result.rows == 1500
    on_cluster = read(spark, tmp_path / "c" / "lake", GOLD_DELIVERY_PREDICTIONS)
    here = read(spark, tmp_path / "l" / "lake", GOLD_DELIVERY_PREDICTIONS)
    assert_df_equality(on_cluster.drop("scored_at"), here.drop("scored_at"), ignore_row_order=True)


# a Delta write (its tasks run Delta's commit protocol on the executors), and where the
# executors found the package (their cwd is a worker's folder, not this checkout)
SHIPPED = """
import sys
from lakehouse.spark import get_spark

spark = get_spark()
spark.range(4).repartition(2).write.format("delta").save(sys.argv[1])
print("ROWS", spark.read.format("delta").load(sys.argv[1]).count())
found = spark.sparkContext.parallelize([0, 1], 2).map(
    lambda _: __import__("lakehouse").__file__
).collect()
print("EXECUTORS_IMPORTED", sorted(set(found)))
"""


def test_the_executors_use_the_package_shipped_and_the_jars_in_place(cluster, tmp_path):
    """One application (each costs its driver and two executors' start-up):
    - spark-submit.sh ships the package as build/py/lakehouse.zip (--py-files): executors
      import it from their copy of the zip, ahead of anything installed on the worker;
    - with LAKEHOUSE_NODE_JARS the jars are on the executors' class path: a Delta write works,
      and no application copied the jars into its executor's folder (about 690 MB each time:
      a suite's runs filled the disk)."""
    job = tmp_path / "shipped.py"
    job.write_text(SHIPPED)
    result = submit(cluster, job, str(tmp_path / "t"))
    assert "ROWS 4" in result.stdout
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("EXECUTORS_IMPORTED")]
    found = ast.literal_eval(line.removeprefix("EXECUTORS_IMPORTED "))
    assert found and all("lakehouse.zip" in path for path in found), found
    assert all(not path.startswith(str(PROJECT_ROOT / "lakehouse")) for path in found)
    shipped = PROJECT_ROOT / "build" / "py" / "lakehouse.zip"
    names = zipfile.ZipFile(shipped).namelist()
    assert "lakehouse/ml/scoring.py" in names and not [n for n in names if "__pycache__" in n]
    assert list(cluster.workdir.glob("worker-*/app-*/*")), "no executor ran"
    assert not list(cluster.workdir.rglob("*.jar"))
