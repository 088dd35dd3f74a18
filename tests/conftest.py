"""One session-scoped, Delta-enabled Spark for the whole suite, tuned for small data."""

from __future__ import annotations

import pytest

from lakehouse.config import load_settings
from lakehouse.spark import get_spark

# Small shuffles, no UI, tiny Delta snapshots (after delta-io/delta python/delta/testing/utils.py)
TEST_SPARK_CONF = {
    "spark.master": "local[2]",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
    "spark.driver.memory": "2g",
}


@pytest.fixture(scope="session")
def spark():
    """The suite's SparkSession."""
    settings = load_settings("local")
    session = get_spark(settings.spark, app_name="lakehouse-tests", extra_conf=TEST_SPARK_CONF)
    yield session
    session.stop()
