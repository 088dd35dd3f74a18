"""One session-scoped, Delta-enabled Spark for the whole suite, tuned for small data."""

from __future__ import annotations

import json
import os
from pathlib import Path

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
    # The JVM the jobs ship with (conf/base): a worker runs the longest modules in one JVM, and
    # the hostile-file corpus's 50 MiB line alone holds about 2 GiB live at its peak (G1's log:
    # 3061M->2052M of a 3g heap). At 3g, a worker's JVM died there twice in CI, each time after
    # the longest modules had run in it.
    "spark.driver.memory": "4g",
}

# The suite shares one Spark session, so one catalog, across hundreds of lakes: the commands it
# runs (in this process, or as subprocesses that inherit the environment) register no tables
# unless a test says so (`--set catalog.enabled=true`, or LAKEHOUSE_SET of its own). The
# catalog's own tests (tests/catalog) run every path: names, meaning, sync, the metastore that
# outlives a process (embedded and PostgreSQL), the SQL server, a whole `lakehouse run`.
CATALOG_OFF = json.dumps(["catalog.enabled=false"])
os.environ.setdefault("LAKEHOUSE_SET", CATALOG_OFF)

# `make test` runs the suite on two pytest-xdist workers, one test module at a time each
# (--dist loadfile, in this order: --no-loadscope-reorder). The longest modules go first, so
# that neither worker is left with one of them at the end while the other idles
# (longest-first scheduling); the order follows `--durations` of a whole run.
LONGEST_FIRST = (
    "integration/test_cluster.py",  # with the hourly Airflow DAG run on the cluster
    "integration/test_s3_lake.py",
    "catalog/test_sql_endpoint.py",  # seven Spark applications, one after the other
    "test_forget.py",
    "test_cli.py",
    "faults/test_kill.py",
    "integration/test_payments_pipeline.py",
    "test_secrets.py",
    "integration/test_sessions_pipeline.py",
    "faults/test_hostile_files.py",
    "test_stream.py",
    "quality/test_gold_gate.py",
    "gold/test_delivery_online.py",
    "gold/test_payments_online.py",
    "serving/test_app.py",
    "silver/test_sessions_online.py",
)


def pytest_collection_modifyitems(config, items):
    tests = Path(__file__).parent

    def rank(item) -> int:
        path = Path(str(item.fspath)).relative_to(tests).as_posix()
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter):
    """After ``--durations``' slowest tests, the longest modules: each one's tests' setup, call
    and teardown summed (so its module fixtures too), from the reports pytest keeps (under
    xdist, the controller's). LONGEST_FIRST follows this list; it is where the time goes."""
    seconds: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if isinstance(report, pytest.TestReport):
                path = report.nodeid.split("::", 1)[0]
                seconds[path] = seconds.get(path, 0.0) + report.duration
    if not seconds:
        return
    total = sum(seconds.values())
    terminalreporter.write_sep("=", "longest modules (seconds, setup + tests + teardown)")
    for path, spent in sorted(seconds.items(), key=lambda item: -item[1])[:20]:
        terminalreporter.write_line(f"{spent:8.1f}  {spent / total:6.1%}  {path}")
    terminalreporter.write_line(f"{total:8.1f}  100.0%  all {len(seconds)} modules")


@pytest.fixture(scope="session")
def spark():
    """The suite's SparkSession."""
    settings = load_settings("local")
    session = get_spark(settings.spark, app_name="lakehouse-tests", extra_conf=TEST_SPARK_CONF)
    yield session
    session.stop()


@pytest.fixture(scope="module", autouse=True)
def _uncache_after_module():
    """Drop whatever a module left cached, so that no module's data outlives it in the JVM the
    next modules share (a session is never started for this)."""
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None or session.sparkContext._jsc is None:
        return
    process = getattr(session.sparkContext._gateway, "proc", None)
    if process is None or process.poll() is None:  # (a dead JVM is _spark_jvm_alive's to report)
        session.catalog.clearCache()


# Exit codes of a JVM that died under the suite: every later test fails with "connection
# refused", so the first one to notice names when, and what the code means.
JVM_EXITS = {
    0: "its stdin closed (the Python side of the gateway went away)",
    52: "java.lang.OutOfMemoryError in a task (SparkExitCode.OOM)",
    -9: "SIGKILL (the kernel's out-of-memory killer, or a test)",
}


@pytest.fixture(autouse=True)
def _spark_jvm_alive(request):
    """Fail clearly, naming the test it happened in, when the suite's Spark JVM has died."""
    if "spark" not in request.fixturenames:
        yield
        return
    process = getattr(request.getfixturevalue("spark").sparkContext._gateway, "proc", None)

    def check(when: str) -> None:
        if process is not None and process.poll() is not None:
            code = process.returncode
            pytest.fail(
                f"the suite's Spark JVM (pid {process.pid}) had exited {when}, with code {code}: "
                f"{JVM_EXITS.get(code, 'see the JVM log')}",
                pytrace=False,
            )

    check("before this test")
    yield
    check("during this test")


# Real servers on loopback (tests/support/servers.py), each started on first use by a test that
# asks for it and stopped when the session ends; tests that don't ask never start one.


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """A moto server (S3, DynamoDB, Secrets Manager): ``.endpoint``, ``.env``, ``.client()``."""
    from tests.support.servers import moto_server

    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory):
    """A Prometheus Pushgateway: ``.url``, ``.scrape()``, ``.wipe()``."""
    from tests.support.servers import pushgateway_server

    with pushgateway_server(tmp_path_factory.mktemp("pushgateway")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A Redis server (Debian's redis-server): ``.url``, ``.client()``."""
    from tests.support.servers import redis_server as start

    with start(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster with an empty database: ``.uri``."""
    from tests.support.servers import postgres_server

    # its own temporary folder: pytest's are private to root, the server runs as postgres
    with postgres_server(database="mlflow") as server:
        yield server


@pytest.fixture(scope="session")
def mlflow_server(postgres, moto, tmp_path_factory):
    """``mlflow server`` on PostgreSQL with S3 (moto) artifacts: ``.uri``."""
    from tests.support.servers import mlflow_server as start

    with start(postgres, moto, workdir=tmp_path_factory.mktemp("mlflow")) as server:
        yield server
