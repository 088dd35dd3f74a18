"""The catalog outside the suite's process: separate Spark applications share the metastore
(the embedded one in the lake, or PostgreSQL), `lakehouse sql-server` serves it over Spark
Connect and JDBC, and a whole `lakehouse run` names every table it creates."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lakehouse.config import load_settings
from lakehouse.tables import GOLD_DELIVERY_FEATURES, GOLD_FRAUD_SCORES
from tests.support.gold import delivery_rows, write_gold
from tests.support.sql_server import CATALOG_ON, SMALL, sql_server


def lakehouse(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    """One `lakehouse` command in a process (a Spark application) of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "lakehouse", *args, *SMALL],
        env=CATALOG_ON,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def json_rows(done: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory) -> Path:
    """Gold delivery features at two versions (300 rows, then 20 more), no catalog yet."""
    root = tmp_path_factory.mktemp("endpoint") / "lake"
    settings = load_settings("local", lake=str(root))
    write_gold(spark, settings, GOLD_DELIVERY_FEATURES, delivery_rows(300, seed=1))
    write_gold(spark, settings, GOLD_DELIVERY_FEATURES, delivery_rows(20, seed=2), mode="append")
    return root


def test_the_embedded_catalog_outlives_the_application_that_wrote_it(lake):
    synced = lakehouse("catalog", "sync", "--lake", str(lake))
    assert "registered  gold.delivery_features" in synced.stdout
    assert (lake / "_catalog" / "metastore_db").is_dir()
    assert (lake / "_catalog" / "derby.log").is_file()
    # another application, started later, finds the name, its versions and its meaning
    query = "SELECT count(*) AS n FROM gold.delivery_features VERSION AS OF 0"
    read = lakehouse("sql", query, "--lake", str(lake), "--format", "json")
    assert json_rows(read) == [{"n": 300}]
    described = lakehouse(
        "sql", "DESCRIBE TABLE EXTENDED gold.delivery_features", "--lake", str(lake)
    )
    assert "calendar days, in UTC, from the order date" in described.stdout
    assert "One row per checkout" in described.stdout


def beeline(url: str, statements: str) -> subprocess.CompletedProcess:
    """Hive's JDBC command-line client, from the jars pyspark ships."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    return subprocess.run(
        [
            "java",
            "-cp",
            f"{jars}/*",
            "org.apache.hive.beeline.BeeLine",
            "-u",
            url,
            "-e",
            statements,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_sql_server_serves_notebooks_and_jdbc_clients(spark, lake):
    with sql_server(lake, "--set", "catalog.sync_interval_s=1") as server:
        remote = server.connect_url
        # a separate Python process with no JVM: Spark Connect
        query = "SELECT count(*) AS n FROM gold.delivery_features VERSION AS OF 1"
        read = lakehouse("sql", query, "--remote", remote, "--format", "json")
        assert json_rows(read) == [{"n": 320}]
        history = lakehouse(
            "sql", "DESCRIBE HISTORY gold.delivery_features", "--remote", remote, "--format", "json"
        )
        assert {row["version"] for row in json_rows(history)} >= {0, 1}
        # a JDBC client: the Thrift server of the same application
        jdbc = beeline(
            server.jdbc_url,
            "SHOW TABLES IN gold; SELECT count(*) AS n FROM gold.delivery_features VERSION AS OF 0",
        )
        assert jdbc.returncode == 0, jdbc.stderr[-3000:]
        assert "delivery_features" in jdbc.stdout and "| 300 " in jdbc.stdout
        # the embedded metastore admits one application: a second one is told what to do
        locked = lakehouse("sql", "SHOW TABLES IN gold", "--lake", str(lake), check=False)
        assert locked.returncode == 1
        assert "open in another Spark application" in locked.stderr + locked.stdout
        assert "lakehouse sql-server" in locked.stderr + locked.stdout
        # while the lake's commands go on by path (maintain reads table properties in SQL)
        maintained = lakehouse("maintain", "--dry-run", "--lake", str(lake))
        assert "gold/delivery_features" in maintained.stdout
        # a table that appears in the lake gets its name while the server runs
        settings = load_settings("local", lake=str(lake))
        write_gold(spark, settings, GOLD_FRAUD_SCORES, delivery_rows(5, seed=3))
        deadline, tables = time.monotonic() + 90, []
        while time.monotonic() < deadline and "fraud_scores" not in tables:
            shown = lakehouse("sql", "SHOW TABLES IN gold", "--remote", remote, "--format", "json")
            tables = [row["tableName"] for row in json_rows(shown)]
            time.sleep(1)
        assert "fraud_scores" in tables


def test_two_applications_share_a_postgresql_metastore(spark, lake, postgres):
    import psycopg2

    connection = psycopg2.connect(
        host=postgres.host, port=postgres.port, user=postgres.user, dbname="postgres"
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute('CREATE DATABASE "metastore"')
    connection.close()
    shared = [
        *(
            "--set",
            f"catalog.metastore_url=jdbc:postgresql://{postgres.host}:{postgres.port}/metastore",
        ),
        *("--set", f"catalog.metastore_user={postgres.user}"),
        *("--lake", str(lake)),
    ]
    synced = lakehouse("catalog", "sync", *shared)
    assert "registered  gold.delivery_features" in synced.stdout
    # the lake moves on; a second application sees the name and the new version
    settings = load_settings("local", lake=str(lake))
    write_gold(spark, settings, GOLD_DELIVERY_FEATURES, delivery_rows(7, seed=4), mode="append")
    history = lakehouse(
        "sql", "DESCRIBE HISTORY gold.delivery_features", "--format", "json", *shared
    )
    versions = sorted(row["version"] for row in json_rows(history))
    query = f"SELECT count(*) AS n FROM gold.delivery_features VERSION AS OF {versions[-1]}"
    latest = lakehouse("sql", query, "--format", "json", *shared)
    assert json_rows(latest) == [{"n": 327}]
    # the pipeline's commands read by name too: training reads Gold through the metastore
    trained = lakehouse("train", "delivery", "-v", *shared, timeout=600)
    assert "reading gold.delivery_features by name" in trained.stderr
    assert trained.stdout.startswith("delivery_date v1 ")
    # the names live in PostgreSQL, not in the lake's embedded metastore
    with (
        psycopg2.connect(
            host=postgres.host, port=postgres.port, user=postgres.user, dbname="metastore"
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute('SELECT "TBL_NAME" FROM "TBLS"')
        assert "delivery_features" in {row[0] for row in cursor.fetchall()}


def test_a_run_describes_every_table_it_creates_and_sync_names_them(spark, tmp_path):
    """The real path: `lakehouse run` in a process of its own describes each table it creates
    (in its Delta log, without opening the embedded metastore, which a notebook may hold);
    a catalog reader then names them all, and finds nothing left to describe."""
    from lakehouse.io.delta import latest_version
    from tests.support.lake import NO_SUITES, generate_through_cli

    landing, lake = tmp_path / "landing", tmp_path / "lake"
    generate_through_cli(landing, sessions=300, transactions=300, seed=11)
    roots = ["--landing", str(landing), "--lake", str(lake)]
    # suites off: their table has a meaning as every other (test_meaning.py), and here they
    # would add GE's start-up and a suite per table to a run in a process of its own
    lakehouse(
        "run", *roots, "--set", "privacy.hmac_key=catalog-test", "--set", NO_SUITES, timeout=900
    )
    assert not (lake / "_catalog").exists()
    folders = {
        f"{layer.name}.{table.name}": table
        for layer in lake.iterdir()
        if layer.is_dir() and not layer.name.startswith("_")
        for table in layer.iterdir()
        if (table / "_delta_log").is_dir()
    }
    assert len(folders) >= 20
    before = {name: latest_version(spark, str(path)) for name, path in folders.items()}
    synced = lakehouse("catalog", "sync", *roots)
    actions = {line.split()[1]: line.split()[0] for line in synced.stdout.splitlines()[:-1]}
    assert actions == dict.fromkeys(folders, "registered"), synced.stdout
    # the meaning was there already: the sync made no commit
    assert {name: latest_version(spark, str(path)) for name, path in folders.items()} == before
    shown = lakehouse("sql", "SHOW TABLES IN silver", *roots, "--format", "json")
    assert {row["tableName"] for row in json_rows(shown)} >= {"sessions", "payment_transactions"}
    props = lakehouse(
        "sql", "SHOW TBLPROPERTIES bronze.sessions", *roots, "--format", "json", "--limit", "50"
    )
    assert {"key": "lakehouse.pii", "value": "encrypted"} in json_rows(props)
