"""The session factory: Delta works, and a session starts with no network at all."""

import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from lakehouse.config import PROJECT_ROOT
from lakehouse.spark import JarsMissingError, local_jars

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
