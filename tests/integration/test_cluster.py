"""The jobs on a real Spark standalone cluster (a master and two workers on loopback, from the
pinned PySpark), launched by ``infra/spark-submit.sh`` in client mode (Spark runs Python
applications on a standalone cluster in client mode only): the whole pipeline's Gold tables and
a scoring job's predictions equal a local run's on the same data."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from chispa import assert_df_equality
from click.testing import CliRunner

from lakehouse.cli import cli
from lakehouse.config import PROJECT_ROOT, load_settings
from lakehouse.ml.scoring import score_table
from lakehouse.tables import (
    GOLD_DELIVERY_FEATURES,
    GOLD_DELIVERY_PREDICTIONS,
    GOLD_PAYMENTS_UNIFIED,
)
from tests.serving.conftest import serving_lake  # noqa: F401 (the serving tests' lake)
from tests.support.lake import generate_through_cli
from tests.support.servers import spark_cluster

pytestmark = pytest.mark.integration

KEY = ["--set", "privacy.hmac_key=cluster-test"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with spark_cluster(tmp_path_factory.mktemp("spark-cluster"), workers=2) as cluster:
        yield cluster


def submit(cluster, job: str | Path, *args: str) -> subprocess.CompletedProcess:
    """``infra/spark-submit.sh --master <cluster> jobs/<job> ...`` (or a job file given by its
    path): one core per worker."""
    command = [str(PROJECT_ROOT / "infra" / "spark-submit.sh"), "--master", cluster.url]
    command += ["--conf", "spark.ui.enabled=false", "--conf", "spark.executor.memory=1g"]
    command += ["--conf", "spark.executor.cores=1", "--conf", "spark.sql.shuffle.partitions=4"]
    command += [str(PROJECT_ROOT / "jobs" / job), *args]  # (an absolute path stays itself)
    env = {**os.environ, "SPARK_SUBMIT": str(Path(sys.executable).parent / "spark-submit")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def executors_used(cluster, before: set[str]) -> list[dict]:
    """The applications the cluster completed since ``before``, with their cores."""
    return [app for app in cluster.status()["completedapps"] if app["id"] not in before]


def read(spark, lake: Path, table) -> object:
    return spark.read.format("delta").load(str(lake / table[0] / table[1]))


def test_the_pipeline_on_the_cluster_equals_a_local_run(spark, cluster, tmp_path):
    landing = tmp_path / "landing"
    generate_through_cli(landing, sessions=400, transactions=300, seed=11)
    before = {app["id"] for app in cluster.status()["completedapps"]}

    # each lake in a folder of its own: the tracking store sits beside its lake
    on_cluster_lake, local_lake = tmp_path / "c" / "lake", tmp_path / "l" / "lake"
    submitted = submit(
        cluster, "run.py", "--landing", str(landing), "--lake", str(on_cluster_lake), *KEY
    )
    assert f"master={cluster.url}" in submitted.stdout
    (app,) = executors_used(cluster, before)
    assert app["cores"] == 2 and app["state"] == "FINISHED"  # both workers' executors

    local = CliRunner().invoke(
        cli, ["run", "--landing", str(landing), "--lake", str(local_lake), *KEY]
    )
    assert local.exit_code == 0, local.output
    for table in (GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED):
        on_cluster, here = read(spark, on_cluster_lake, table), read(spark, local_lake, table)
        assert here.count() > 0
        assert_df_equality(on_cluster, here, ignore_row_order=True, ignore_nullable=True)


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


# where the executors found the package (their cwd is a worker's folder, not this checkout)
WHERE = """
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
found = spark.sparkContext.parallelize([0, 1], 2).map(
    lambda _: __import__("lakehouse").__file__
).collect()
print("EXECUTORS_IMPORTED", sorted(set(found)))
"""


def test_the_executors_import_the_package_shipped_with_the_job(cluster, tmp_path):
    """spark-submit.sh ships the package as build/py/lakehouse.zip (--py-files): executors
    import it from their copy of the zip, ahead of anything installed on the worker."""
    job = tmp_path / "where.py"
    job.write_text(WHERE)
    result = submit(cluster, job)
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("EXECUTORS_IMPORTED")]
    found = ast.literal_eval(line.removeprefix("EXECUTORS_IMPORTED "))
    assert found and all("lakehouse.zip" in path for path in found), found
    assert all(not path.startswith(str(PROJECT_ROOT / "lakehouse")) for path in found)
    shipped = PROJECT_ROOT / "build" / "py" / "lakehouse.zip"
    names = zipfile.ZipFile(shipped).namelist()
    assert "lakehouse/ml/scoring.py" in names and not [n for n in names if "__pycache__" in n]
