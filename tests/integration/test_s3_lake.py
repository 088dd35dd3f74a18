"""The whole pipeline with landing and lake on S3 (a real moto server on loopback).

The landing zone is generated locally, uploaded with boto3, and the pipeline runs on
``s3a://`` roots; its Gold tables must equal those of a local run on the same files, a rerun
must commit nothing, and the JVM-free ``deltalake`` reader must read the same Gold table from
S3 with the storage options ``lakehouse.storage`` renders.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from lakehouse.config import load_settings
from lakehouse.generate import (
    generate_payments_landing,
    generate_sessions_landing,
    holiday_years,
    write_reference_data,
)
from lakehouse.io.delta import latest_version, read_table
from lakehouse.pipeline import run_all
from lakehouse.spark import apply_storage
from lakehouse.storage import boto3_client_kwargs, delta_table_args
from lakehouse.tables import ALL_TABLES, GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED

pytestmark = pytest.mark.integration

LANDING_BUCKET = "landing-bucket"
LAKE_BUCKET = "lake-bucket"
GOLD = (GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED)
START = date(2024, 1, 1)
OVERRIDES = [
    "privacy.hmac_key=s3-test-key",
    # labels as of a fixed instant: both runs must see the same ones
    "payments.label_cutoff=2024-06-01T00:00:00Z",
]
# the S3 endpoint, region and credentials the session's JVM uses for s3a:// (test only)
JVM_CREDENTIALS = {
    "aws.accessKeyId": "AWS_ACCESS_KEY_ID",
    "aws.secretAccessKey": "AWS_SECRET_ACCESS_KEY",
}


def upload(folder: Path, bucket: str, prefix: str, client) -> int:
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")
        count += 1
    return count


@pytest.fixture(scope="module")
def aws(moto):
    """The moto server's AWS environment for this process and the suite's Spark JVM."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in moto.env.items():
            patch.setenv(key, value)
        yield moto


@pytest.fixture(scope="module")
def lakes(spark, aws, tmp_path_factory):
    root = tmp_path_factory.mktemp("s3lake")
    landing = root / "landing"
    write_reference_data(landing, seed=11, years=holiday_years(START, 60))
    generate_sessions_landing(
        landing, documents=600, seed=11, start=START, days=60, docs_per_file=200, workers=1
    )
    generate_payments_landing(landing, transactions=400, seed=11, start=START, days=60, workers=1)

    s3 = load_settings(
        "local",
        landing=f"s3a://{LANDING_BUCKET}/landing",
        lake=f"s3a://{LAKE_BUCKET}/lake",
        overrides=OVERRIDES,
    )
    client = __import__("boto3").client("s3", **boto3_client_kwargs(s3.storage))
    for bucket in (LANDING_BUCKET, LAKE_BUCKET):
        client.create_bucket(Bucket=bucket)
    uploaded = upload(landing, LANDING_BUCKET, "landing", client)

    # The suite has one Spark session, started before this module: point its s3a:// file
    # systems at moto (endpoint and path style from AWS_ENDPOINT_URL, as in production from
    # the environment) and hand its JVM the fake credentials as system properties, the first
    # source of the AWS SDK's default chain.
    system = spark._jvm.java.lang.System
    for prop, env in JVM_CREDENTIALS.items():
        system.setProperty(prop, aws.env[env])
    apply_storage(spark, s3.storage)
    try:
        local = load_settings(
            "local", landing=str(landing), lake=str(root / "lake"), overrides=OVERRIDES
        )
        run_all(spark, local)
        run_all(spark, s3)
        yield {"s3": s3, "local": local, "uploaded": uploaded, "client": client}
    finally:
        for prop in JVM_CREDENTIALS:
            system.clearProperty(prop)


def run_specific(name: str) -> bool:
    """Columns recording when, from which file (local path or s3a:// key) or in which batch."""
    return name.endswith("_at") or "source_file" in name or name.startswith("_batch")


def comparable(df: DataFrame) -> list[str]:
    """Rows (as their reprs, which order nulls and nested values too) sorted, run-time
    columns left out."""
    keep = [f.name for f in df.schema.fields if not run_specific(f.name)]
    return sorted(repr(tuple(r)) for r in df.select(*keep).collect())


def test_landing_and_lake_are_on_s3(lakes):
    client = lakes["client"]
    assert lakes["uploaded"] > 0
    keys = client.list_objects_v2(Bucket=LAKE_BUCKET, Prefix="lake/gold/")
    assert any(k["Key"].endswith(".json") and "_delta_log" in k["Key"] for k in keys["Contents"])


@pytest.mark.parametrize("table", GOLD, ids=lambda t: t.key)
def test_gold_on_s3_equals_a_local_run(spark, lakes, table):
    on_s3 = read_table(spark, lakes["s3"].table_path(*table))
    local = read_table(spark, lakes["local"].table_path(*table))
    assert on_s3.schema == local.schema
    rows = comparable(on_s3)
    assert rows, f"{table.key} is empty"
    assert rows == comparable(local)


def test_rerun_on_s3_commits_nothing(spark, lakes):
    s3 = lakes["s3"]
    before = {t.key: latest_version(spark, s3.table_path(*t)) for t in ALL_TABLES}
    run_all(spark, s3)
    after = {t.key: latest_version(spark, s3.table_path(*t)) for t in ALL_TABLES}
    assert after == before


def test_deltalake_reads_gold_from_s3(spark, lakes):
    from deltalake import DeltaTable

    s3 = lakes["s3"]
    uri = s3.table_path(*GOLD_PAYMENTS_UNIFIED)
    table_uri, options = delta_table_args(uri, s3.storage)
    assert table_uri.startswith("s3://")
    table = DeltaTable(table_uri, storage_options=options)
    assert table.version() == latest_version(spark, uri)
    frame = table.to_pandas()
    expected = read_table(spark, uri)
    assert len(frame) == expected.count()
    key = next(f.name for f in expected.schema.fields if isinstance(f.dataType, T.StringType))
    spark_keys = sorted(str(r[0]) for r in expected.select(key).collect())
    assert sorted(frame[key].astype(str)) == spark_keys


def test_cli_on_s3_takes_endpoint_and_credentials_from_the_environment(
    spark, lakes, aws, mlflow_server
):
    """``lakehouse run`` in a fresh process: the AWS environment alone reaches its JVM (and
    a lake on S3 needs a tracking server: the one on PostgreSQL and S3)."""
    import os
    import subprocess
    import sys

    client = lakes["client"]
    client.create_bucket(Bucket="cli-lake-bucket")
    lake = "s3a://cli-lake-bucket/lake"
    sets = [f"--set={item}" for item in [*OVERRIDES, "spark.conf.spark.driver.memory=1g"]]
    landing = lakes["s3"].landing_root
    result = subprocess.run(
        [sys.executable, "-m", "lakehouse", "run", "--landing", landing, "--lake", lake, *sets],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **aws.env, **mlflow_server.env, "LAKEHOUSE_ENV": "local"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cli = load_settings("local", lake=lake, overrides=OVERRIDES)
    for table in GOLD:
        assert comparable(read_table(spark, cli.table_path(*table))) == comparable(
            read_table(spark, lakes["s3"].table_path(*table))
        )
