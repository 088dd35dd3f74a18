"""The session factory: Delta works, and a session starts with no network at all."""

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from lakehouse.config import PROJECT_ROOT
from lakehouse.spark import JarsMissingError, jar_conf, local_jars

OFFLINE_SCRIPT = """
import sys
from lakehouse.config import load_settings
from lakehouse.spark import get_spark
spark = get_spark(load_settings("local").spark, extra_conf={"spark.master": "local[1]"})
assert spark.conf.get("spark.jars.packages", "") == "", "jars must not be resolved at start"
spark.range(3).write.format("delta").save(sys.argv[1])
print("rows", spark.read.format("delta").load(sys.argv[1]).count())
"""


def test_pinned_delta_jar_matches_the_python_package():
    pom = (PROJECT_ROOT / "infra" / "jvm" / "pom.xml").read_text()
    pinned = re.search(r"<delta.version>([^<]+)</delta.version>", pom).group(1)
    spark_binary = re.search(r"<spark.binary>([^<]+)</spark.binary>", pom).group(1)
    assert pinned == version("delta-spark")
    assert version("pyspark").startswith(spark_binary + ".")
    jar_names = [Path(j).name for j in local_jars(".jars")]
    assert f"delta-spark_{spark_binary}_2.13-{pinned}.jar" in jar_names


def test_missing_jars_give_a_clear_error(tmp_path):
    with pytest.raises(JarsMissingError, match="make jars"):
        local_jars(tmp_path)


def test_delta_session_starts_without_network(tmp_path):
    if (
        shutil.which("unshare") is None
        or subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0
    ):
        pytest.skip("cannot create a network namespace here")
    # A fresh network namespace has only a loopback interface: no repository is reachable.
    command = f"ip link set lo up && {sys.executable} -c '{OFFLINE_SCRIPT}' {tmp_path / 't'}"
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", command], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rows 3" in result.stdout


def test_session_is_delta_enabled_and_utc(spark, tmp_path):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    path = str(tmp_path / "t")
    spark.range(2).write.format("delta").save(path)
    spark.range(2, 4).write.format("delta").mode("append").save(path)
    assert spark.sql(f"SELECT count(*) FROM delta.`{path}` VERSION AS OF 0").first()[0] == 2
    assert spark.read.format("delta").load(path).count() == 4


def test_a_local_session_reads_the_jars_in_place(spark):
    """Shipping them (spark.jars) would copy .jars/ (about 690 MB) into every session's
    temporary folder: a suite of CLI runs filled the disk that way."""
    from pyspark import SparkFiles

    assert not spark.sparkContext.getConf().get("spark.jars", "")
    class_path = spark.sparkContext.getConf().get("spark.driver.extraClassPath")
    assert class_path.split(os.pathsep) == local_jars(PROJECT_ROOT / ".jars")
    assert not list(Path(SparkFiles.getRootDirectory()).rglob("*.jar"))


@pytest.mark.parametrize(
    "master, key",
    [
        ("local", "spark.driver.extraClassPath"),
        ("local[*]", "spark.driver.extraClassPath"),
        ("local-cluster[2,1,1024]", "spark.jars"),  # executors of their own
        ("spark://master:7077", "spark.jars"),
    ],
)
def test_the_jars_are_read_in_place_in_local_mode_and_shipped_to_a_cluster(master, key):
    jars = local_jars(PROJECT_ROOT / ".jars")
    separator = os.pathsep if key == "spark.driver.extraClassPath" else ","
    assert jar_conf(master, jars) == {key: separator.join(jars)}


def test_local_reads_split_files_at_least_twice_per_core(spark, tmp_path):
    """A table of three maximum-size splits would leave one of two cores idle for a third."""
    cores = spark.sparkContext.defaultParallelism
    assert spark.conf.get("spark.sql.files.minPartitionNum") == str(2 * cores)
    path = str(tmp_path / "t")
    spark.range(200_000).selectExpr("id", "repeat('x', 50) AS pad").coalesce(1).write.parquet(path)
    # one 128 MiB split would hold the whole (small) file; the minimum splits it per core
    previous = spark.conf.get("spark.sql.files.openCostInBytes")
    spark.conf.set("spark.sql.files.openCostInBytes", "1024")
    try:
        assert spark.read.parquet(path).rdd.getNumPartitions() >= 2 * cores
    finally:
        spark.conf.set("spark.sql.files.openCostInBytes", previous)


SUBMITTED_SCRIPT = """
import sys
from lakehouse.errors import LakehouseError
from lakehouse.spark import get_spark
try:
    spark = get_spark()
except LakehouseError as exc:
    print("refused:", exc)
    sys.exit(3)
spark.range(3).write.format("delta").save(sys.argv[1])
print("rows", spark.read.format("delta").load(sys.argv[1]).count())
"""


def _submit(tmp_path, *options: str) -> subprocess.CompletedProcess:
    script = tmp_path / "job.py"
    script.write_text(SUBMITTED_SCRIPT)
    command = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        "local[1]",
        "--conf",
        "spark.ui.enabled=false",
        *options,
        str(script),
        str(tmp_path / "t"),
    ]
    # the driver runs this interpreter, the one with the project installed
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("how", ["--jars", "--driver-class-path"])
def test_delta_is_found_by_its_classes_however_it_reached_the_classpath(tmp_path, how):
    """A cluster may put Delta on the class path another way than --jars (a Spark image's
    jars folder, a cluster-wide class path): the session checks Delta's classes, not jar names."""
    jars = local_jars(PROJECT_ROOT / ".jars")
    separator = "," if how == "--jars" else ":"
    result = _submit(tmp_path, how, separator.join(jars))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "rows 3" in result.stdout


def test_spark_submit_without_delta_is_refused_clearly(tmp_path):
    result = _submit(tmp_path)
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-3000:]
    assert "refused: spark-submit was started without Delta on the classpath" in result.stdout
