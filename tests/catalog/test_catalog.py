"""Tables by name on the suite's session (Spark's in-memory catalog): registration, meaning,
time travel by name, sync, and `lakehouse sql`. The metastore that outlives a process is
tested with separate applications in test_sql_endpoint.py."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from lakehouse import catalog
from lakehouse.cli import cli
from lakehouse.config import load_settings
from lakehouse.io.delta import latest_data_version, latest_version
from lakehouse.tables import GOLD_DELIVERY_FEATURES, GOLD_FRAUD_SCORES, SILVER_ZIP_CODES
from tests.support.gold import delivery_rows, write_gold

PREFIX = "catalogtest_"


def lake_settings(path, prefix: str = PREFIX):
    return load_settings("local", lake=str(path), overrides=[f"catalog.database_prefix={prefix}"])


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """Gold delivery features at two versions (1,000 rows, then 100 more)."""
    root = tmp_path_factory.mktemp("catalog") / "lake"
    settings = lake_settings(root)
    write_gold(spark, settings, GOLD_DELIVERY_FEATURES, delivery_rows(1000, seed=1))
    write_gold(spark, settings, GOLD_DELIVERY_FEATURES, delivery_rows(100, seed=2), mode="append")
    return root


def described(spark, name: str) -> dict[str, str]:
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {name}").collect()
    return {r["col_name"]: r["comment"] or r["data_type"] for r in rows}


def test_register_names_describes_and_travels_in_time(spark, lake):
    settings = lake_settings(lake)
    path = settings.table_path(*GOLD_DELIVERY_FEATURES)
    done = catalog.register(spark, settings, GOLD_DELIVERY_FEATURES)
    assert (done.name, done.action) == (f"{PREFIX}gold.delivery_features", "registered")
    name = done.name
    # meaning: at most two metadata commits, which are not new data
    assert latest_version(spark, path) == 3
    assert latest_data_version(spark, path) == 1
    info = described(spark, name)
    assert info["record_id"] == "the record id (section 1.1)"
    assert info["delivery_days"].startswith("calendar days, in UTC")
    assert info["Comment"].startswith("One row per checkout")
    assert info["Type"] == "EXTERNAL"
    props = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {name}").collect()}
    assert props["lakehouse.layer"] == "gold" and props["lakehouse.pii"] == "pseudonymous"
    assert props["lakehouse.upstream"].startswith(f"{PREFIX}silver.sessions")
    # idempotent: a second registration changes nothing, not even a commit
    again = catalog.register(spark, settings, GOLD_DELIVERY_FEATURES)
    assert again.action == "unchanged" and latest_version(spark, path) == 3
    # time travel by name
    count = "SELECT count(*) AS n FROM {} {}"
    assert spark.sql(count.format(name, "VERSION AS OF 0")).first()["n"] == 1000
    assert spark.sql(count.format(name, "VERSION AS OF 1")).first()["n"] == 1100
    history = spark.sql(f"DESCRIBE HISTORY {name}").orderBy("version").collect()
    assert [r["operation"] for r in history][-2:] == ["SET TBLPROPERTIES", "CHANGE COLUMNS"]
    first_commit = history[0]["timestamp"].strftime("%Y-%m-%d %H:%M:%S.%f")
    at_first = spark.sql(count.format(name, f"TIMESTAMP AS OF '{first_commit}'")).first()
    assert at_first["n"] == 1000
    assert {r["tableName"] for r in spark.sql(f"SHOW TABLES IN {PREFIX}gold").collect()} >= {
        "delivery_features"
    }


def test_a_name_follows_its_lake_and_sync_drops_what_is_gone(spark, lake, tmp_path):
    settings = lake_settings(lake, "movetest_")
    assert catalog.register(spark, settings, GOLD_DELIVERY_FEATURES).action == "registered"
    # another lake with the same table: the name moves there, the first lake keeps its data
    other = lake_settings(tmp_path / "other", "movetest_")
    write_gold(spark, other, GOLD_DELIVERY_FEATURES, delivery_rows(50, seed=3))
    write_gold(spark, other, GOLD_FRAUD_SCORES, delivery_rows(5, seed=4))
    missing = catalog.register_missing(spark, other, with_meaning=False)
    assert {(r.name, r.action) for r in missing} == {
        ("movetest_gold.delivery_features", "moved"),
        ("movetest_gold.fraud_scores", "registered"),
    }
    rows = spark.sql("SELECT count(*) AS n FROM movetest_gold.delivery_features").first()["n"]
    assert rows == 50
    assert spark.read.format("delta").load(settings.table_path(*GOLD_DELIVERY_FEATURES)).count()
    # nothing left to register
    assert catalog.register_missing(spark, other) == []
    # a table the lake no longer holds loses its name; the others are described
    shutil.rmtree(other.table_path(*GOLD_FRAUD_SCORES))
    synced = {r.name: r.action for r in catalog.sync(spark, other)}
    assert synced == {
        "movetest_gold.delivery_features": "described",
        "movetest_gold.fraud_scores": "dropped",
    }
    assert not spark.catalog.tableExists("movetest_gold.fraud_scores")
    assert catalog.registered_location(spark, other, SILVER_ZIP_CODES) is None


def read_through(frame) -> str:
    """The analyzed plan: a read by name shows the table's name (``SubqueryAlias``), one by
    path does not."""
    return frame._jdf.queryExecution().analyzed().toString()


def test_reads_go_through_the_name_while_it_names_the_table(spark, tmp_path, caplog, monkeypatch):
    from lakehouse.io import delta
    from lakehouse.io.landing import stream_delta_changes

    monkeypatch.setattr(delta, "_NAMED", {})  # what this process was told before stays out
    settings = lake_settings(tmp_path / "lake", "readtest_")
    write_gold(spark, settings, GOLD_DELIVERY_FEATURES, delivery_rows(40, seed=5))
    write_gold(spark, settings, GOLD_DELIVERY_FEATURES, delivery_rows(10, seed=6), mode="append")
    path = settings.table_path(*GOLD_DELIVERY_FEATURES)
    assert catalog.bind_names(spark, settings) == 0  # nothing named yet: reads by path
    assert "readtest_gold" not in read_through(delta.read_table(spark, path))
    catalog.register(spark, settings, GOLD_DELIVERY_FEATURES, with_meaning=False)
    # a new process binds the names it finds; the one that registered knows them already
    monkeypatch.setattr(delta, "_NAMED", {})
    assert catalog.bind_names(spark, settings) == 1
    old = delta.read_table(spark, path, version=0)
    assert "SubqueryAlias spark_catalog.readtest_gold.delivery_features" in read_through(old)
    assert (old.count(), delta.read_table(spark, path).count()) == (40, 50)
    stream = read_through(stream_delta_changes(spark, path))
    assert "SubqueryAlias spark_catalog.readtest_gold.delivery_features" in stream
    # the name dropped (a lost catalog): the path still reads the table, with a warning
    spark.sql("DROP TABLE readtest_gold.delivery_features")
    with caplog.at_level("WARNING", logger="lakehouse.io.delta"):
        again = delta.read_table(spark, path, version=0)
    assert "readtest_gold" not in read_through(again) and again.count() == 40
    assert "no longer names gold/delivery_features; reading it by path" in caplog.text


def test_lakehouse_sql_queries_by_name_and_refuses_writes(spark, lake):
    settings = lake_settings(lake)
    catalog.register(spark, settings, GOLD_DELIVERY_FEATURES)
    roots = ["--lake", str(lake), "--set", f"catalog.database_prefix={PREFIX}"]
    runner = CliRunner()
    query = f"SELECT count(*) AS n FROM {PREFIX}gold.delivery_features VERSION AS OF 0"
    result = runner.invoke(cli, ["sql", query, *roots], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["n", "1000"]
    as_json = runner.invoke(
        cli,
        ["sql", f"SHOW TABLES IN {PREFIX}gold", "--format", "json", *roots],
        catch_exceptions=False,
    )
    assert '"tableName":"delivery_features"' in as_json.output
    refused = runner.invoke(cli, ["sql", f"DROP TABLE {PREFIX}gold.delivery_features", *roots])
    assert refused.exit_code == 2 and "read-only" in refused.output
    assert spark.catalog.tableExists(f"{PREFIX}gold.delivery_features")
    failed = runner.invoke(cli, ["sql", "SELECT * FROM gold.no_such_table", *roots])
    assert failed.exit_code == 1 and "the query failed" in failed.output
    assert "Traceback" not in failed.output


def test_describing_bronze_makes_no_silver_commit(spark, tmp_path):
    """The meaning's commits carry no rows: Silver's stream of Bronze takes them as an empty
    micro-batch, which commits nothing (no MERGE, no quarantine or ledger row), so nothing
    downstream is rebuilt for it."""
    from datetime import date

    from lakehouse.generate import generate_sessions_landing
    from lakehouse.pipeline import run_layer
    from lakehouse.tables import ALL_TABLES, BRONZE_SESSIONS

    landing = tmp_path / "landing"
    generate_sessions_landing(
        landing, documents=60, seed=8, start=date(2024, 1, 1), days=10, workers=1
    )
    settings = load_settings(
        "local",
        landing=str(landing),
        lake=str(tmp_path / "lake"),
        overrides=["privacy.hmac_key=describe-test", "quality.suites=false"],
    )
    for layer in ("ingest", "silver"):
        run_layer(spark, settings, layer, "sessions")

    def versions() -> dict:
        return {t: latest_version(spark, settings.table_path(*t)) for t in ALL_TABLES}

    before = versions()
    assert catalog.describe(spark, settings, BRONZE_SESSIONS)
    described = versions()
    assert described[BRONZE_SESSIONS] > before[BRONZE_SESSIONS]
    reports = run_layer(spark, settings, "silver", "sessions")
    assert versions() == described
    assert [r.batches for r in reports] == [[]]
