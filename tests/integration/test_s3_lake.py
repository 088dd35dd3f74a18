"""The whole pipeline with landing and lake on S3 (a real moto server on loopback).

The landing zone is generated locally, uploaded with boto3, and the pipeline runs on
``s3a://`` roots; its Gold tables must equal those of a local run on the same files, a rerun
must commit nothing, and the JVM-free ``deltalake`` reader must read the same Gold table from
S3 with the storage options ``lakehouse.storage`` renders.
"""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import types as T

from lakehouse.config import load_settings
from lakehouse.generate import (
    generate_payments_landing,
    generate_sessions_landing,
    holiday_years,
    write_reference_data,
)
from lakehouse.io.delta import latest_version, read_table
from lakehouse.io.files import upload_folder
from lakehouse.pipeline import run_all
from lakehouse.spark import apply_storage
from lakehouse.storage import boto3_client_kwargs, delta_table_args
from lakehouse.tables import ALL_TABLES, EXPECTATIONS, GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED
from tests.support.lake import NO_SUITES, comparable

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
# The commands this module runs leave the expectation suites out (a new process pays their
# start-up again), and so does the local run Gold on S3 is compared with: the lakes fixture's
# run on S3 is the one that checks its tables with them.
CLI_OVERRIDES = [*OVERRIDES, NO_SUITES]
# the S3 endpoint, region and credentials the session's JVM uses for s3a:// (test only)
JVM_CREDENTIALS = {
    "aws.accessKeyId": "AWS_ACCESS_KEY_ID",
    "aws.secretAccessKey": "AWS_SECRET_ACCESS_KEY",
}


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
    uploaded = upload_folder(client, landing, LANDING_BUCKET, "landing")

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
            "local", landing=str(landing), lake=str(root / "lake"), overrides=CLI_OVERRIDES
        )
        run_all(spark, local)
        run_all(spark, s3)
        yield {"s3": s3, "local": local, "uploaded": uploaded, "client": client}
    finally:
        for prop in JVM_CREDENTIALS:
            system.clearProperty(prop)


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


# --- a team's setup: fresh processes, the DynamoDB log store, the tracking server ---------

CLI_BUCKET = "cli-lake-bucket"
CLI_LAKE = f"s3a://{CLI_BUCKET}/lake"
CLI_LOG_TABLE = "cli_delta_log"
CLI_SETS = [
    *CLI_OVERRIDES,
    "spark.conf.spark.driver.memory=1g",
    # small data: few shuffle partitions, no web UI (as the suite's own session)
    "spark.conf.spark.sql.shuffle.partitions=2",
    "spark.conf.spark.ui.enabled=false",
    # staging and prod's log store: concurrent commits are claimed in DynamoDB first
    "storage.log_store=dynamodb",
    f"storage.dynamodb_table={CLI_LOG_TABLE}",
]


def lakehouse(*args: str, env: dict[str, str], sets=CLI_SETS, wait: bool = True):
    """``lakehouse ARGS --lake CLI_LAKE --set ...`` in a fresh process, as a user runs it."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "lakehouse", *args, "--lake", CLI_LAKE]
    command += [f"--set={item}" for item in sets]
    if not wait:
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def team(lakes, aws, mlflow_server):
    """Two ``lakehouse run`` started together on one S3 lake (endpoint and credentials from
    the AWS environment only, tracking on the PostgreSQL/S3 mlflow server), and a third that
    will not wait: the first holds the lake's lock, the second waits for it and then finds
    nothing new, the third is refused at once."""
    import os
    import time

    lakes["client"].create_bucket(Bucket=CLI_BUCKET)
    env = {**os.environ, **aws.env, **mlflow_server.env, "LAKEHOUSE_ENV": "local"}
    run = ["run", "--landing", lakes["s3"].landing_root]
    dynamodb = aws.client("dynamodb")

    first = lakehouse(*run, env=env, sets=[*CLI_SETS, "lock.wait_s=900"], wait=False)
    deadline = time.monotonic() + 120
    while True:  # the first one holds the lake before the others start
        held = dynamodb.list_tables()["TableNames"]
        if "lakehouse_locks" in held and dynamodb.scan(TableName="lakehouse_locks")["Items"]:
            break
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.2)
    second = lakehouse(*run, env=env, sets=[*CLI_SETS, "lock.wait_s=900"], wait=False)
    refused = lakehouse(*run, env=env, sets=[*CLI_SETS, "lock.wait_s=0"])
    outcomes = {}
    for name, process in (("first", first), ("second", second)):
        out, err = process.communicate(timeout=1200)
        outcomes[name] = (process.returncode, out, err, process.pid)
    yield {"env": env, "outcomes": outcomes, "refused": refused, "first_pid": first.pid}


def test_two_runs_at_once_one_waits_one_is_refused(team):
    from lakehouse.errors import EXIT_LAKE_LOCKED

    for name in ("first", "second"):
        code, _, err, _ = team["outcomes"][name]
        assert code == 0, f"{name}: {err[-3000:]}"
    refused = team["refused"]
    assert refused.returncode == EXIT_LAKE_LOCKED, refused.stderr[-3000:]
    assert "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("lakehouse: error: the lake")
    assert f"pid {team['first_pid']}" in refused.stderr
    # the second found the lake up to date: nothing new to ingest, no model to retrain
    second_out = team["outcomes"]["second"][1]
    assert "skipped" in second_out and "train" in second_out, second_out


def test_concurrent_runs_lose_and_duplicate_nothing(spark, lakes, team):
    cli = load_settings("local", lake=CLI_LAKE, overrides=OVERRIDES)
    for table in GOLD:
        assert comparable(read_table(spark, cli.table_path(*table))) == comparable(
            read_table(spark, lakes["s3"].table_path(*table))
        )
    # every table holds exactly the rows one run gives
    counts = {}
    for table in ALL_TABLES:
        path = lakes["s3"].table_path(*table)
        if table != EXPECTATIONS and latest_version(spark, path) is not None:
            counts[table.key] = (
                read_table(spark, cli.table_path(*table)).count(),
                read_table(spark, path).count(),
            )
    assert counts and all(mine == once for mine, once in counts.values()), counts


def test_every_commit_went_through_the_dynamodb_log_store(spark, aws, team):
    cli = load_settings("local", lake=CLI_LAKE, overrides=OVERRIDES)
    items = aws.client("dynamodb").scan(TableName=CLI_LOG_TABLE)["Items"]
    claimed: dict[str, set[str]] = {}
    for item in items:
        claimed.setdefault(item["tablePath"]["S"], set()).add(item["fileName"]["S"])
    for table in GOLD:
        path = cli.table_path(*table)
        versions = {f"{v:020d}.json" for v in range(latest_version(spark, path) + 1)}
        assert claimed.get(path) == versions, (path, sorted(claimed))


def invoke(lake: str, mlflow_server, *commands: list[str], sets=CLI_OVERRIDES):
    """CLI commands in this process (its Spark session already reaches moto), tracking on the
    server; each must succeed. Returns their outputs."""
    from click.testing import CliRunner

    from lakehouse.cli import cli

    outputs = []
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
        for args in commands:
            result = runner.invoke(cli, [*args, "--lake", lake, *[f"--set={s}" for s in sets]])
            assert result.exit_code == 0, (args, result.output, result.exception)
            outputs.append(result.output)
    return outputs


def test_train_promote_reproduce_and_serve_through_the_tracking_server(
    lakes, aws, team, mlflow_server
):
    """Models on the S3 lake, tracked on the server; the service (a fresh process, endpoint
    and credentials from the environment only) serves the champion from it."""
    import httpx

    from serving.schemas.examples import example_checkout
    from tests.support.serving import serve_process

    lake = lakes["s3"].lake_root
    # the suite's small lake has a few dozen delivered checkouts
    sets = [*CLI_OVERRIDES, "ml.delivery.min_training_rows=10"]
    invoke(lake, mlflow_server, ["train", "delivery"], ["promote", "delivery"], sets=sets)

    registry = mlflow_server.client()
    champion = registry.get_model_version_by_alias("delivery_date", "champion")
    # the run, its lineage and the model live on the server; the artifacts in its S3 bucket
    lineage = registry.get_run(champion.run_id).data.params
    assert lineage["table_version"] is not None
    artifacts = aws.client("s3").list_objects_v2(Bucket="mlflow-artifacts", Prefix="artifacts/")
    assert any(champion.run_id in item["Key"] for item in artifacts.get("Contents", []))

    invoke(lake, mlflow_server, ["reproduce", champion.run_id], sets=sets)

    args = ["--lake", lake, "--set", "serve.tasks=[delivery]"]
    with serve_process(args, team["env"]) as service, httpx.Client(base_url=service.url) as client:
        models = client.get("/v1/models").json()
        answer = client.post("/v1/delivery/predict", json=example_checkout())
    assert answer.status_code == 200, answer.text
    assert str(champion.version) in repr(models)


def test_rollback_through_the_tracking_server(lakes, aws, team, mlflow_server):
    """A second champion (forced), then ``rollback``: the registry on the server moves back."""
    registry = mlflow_server.client()
    first = registry.get_model_version_by_alias("delivery_date", "champion").version
    lake = lakes["s3"].lake_root
    sets = [*CLI_OVERRIDES, "ml.delivery.min_training_rows=10"]
    forced = (["train", "delivery"], ["promote", "delivery", "--force"])
    invoke(lake, mlflow_server, *forced, sets=sets)
    second = registry.get_model_version_by_alias("delivery_date", "champion").version
    (rolled,) = invoke(lake, mlflow_server, ["rollback", "delivery"], sets=sets)
    assert second != first
    assert registry.get_model_version_by_alias("delivery_date", "champion").version == first
    assert f"v{second} -> v{first}" in rolled


def test_score_maintain_report_and_history_on_s3(spark, lakes, aws, team, mlflow_server):
    """The other commands on the suite's S3 lake, with the champion from the tracking server."""
    from lakehouse.tables import GOLD_DELIVERY_PREDICTIONS

    invoke(
        lakes["s3"].lake_root,
        mlflow_server,
        ["score", "delivery"],
        ["maintain"],
        ["report", "--rows", "2"],
        ["history", GOLD_DELIVERY_FEATURES.key, "--limit", "3"],
    )
    scores = read_table(spark, lakes["s3"].table_path(*GOLD_DELIVERY_PREDICTIONS))
    assert (
        scores.count() == read_table(spark, lakes["s3"].table_path(*GOLD_DELIVERY_FEATURES)).count()
    )


DEMO_BUCKET = "demo-bucket"


def _keys(client, bucket: str, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def test_demo_takes_an_s3_prefix_only_when_empty_or_its_own(lakes, aws, tmp_path):
    """`lakehouse demo --lake s3a://...` refuses a prefix holding data it did not write
    (deleting nothing), takes an empty one and marks it, and empties only its own on a rerun.

    The pipeline the demo runs is stubbed here: the pipeline on S3 is what the tests above
    run; this is the demo's guard of other people's data, on object storage."""
    from click.testing import CliRunner

    from lakehouse.cli import DEMO_MARKER, cli

    client = lakes["client"]
    client.create_bucket(Bucket=DEMO_BUCKET)
    client.put_object(Bucket=DEMO_BUCKET, Key="team-lake/gold/x/part-0.parquet", Body=b"data")
    runs = []

    def pipeline(spark, settings, workdir, **kwargs):
        runs.append(settings.lake_root)
        key = f"demo-lake/gold/t/part-{len(runs)}.parquet"
        client.put_object(Bucket=DEMO_BUCKET, Key=key, Body=b"demo")
        return True

    def demo(lake: str, workdir: str):
        args = ["demo", "--workdir", str(tmp_path / workdir), "--lake", lake]
        return CliRunner().invoke(cli, [*args, *[f"--set={item}" for item in CLI_OVERRIDES]])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("lakehouse.demo.run_demo", pipeline)
        refused = demo(f"s3a://{DEMO_BUCKET}/team-lake", "a")
        first = demo(f"s3a://{DEMO_BUCKET}/demo-lake", "b")
        client.put_object(Bucket=DEMO_BUCKET, Key="demo-lake/stray", Body=b"left over")
        second = demo(f"s3a://{DEMO_BUCKET}/demo-lake", "b")

    assert refused.exit_code == 2, refused.output
    assert "holds data the demo did not write" in refused.output
    assert _keys(client, DEMO_BUCKET, "team-lake/") == ["team-lake/gold/x/part-0.parquet"]
    assert first.exit_code == 0 and second.exit_code == 0, (first.output, second.output)
    assert runs == [f"s3a://{DEMO_BUCKET}/demo-lake"] * 2
    # the rerun emptied the prefix it owns (the first run's output and the stray object are
    # gone) and marked it again
    assert _keys(client, DEMO_BUCKET, "demo-lake/") == sorted(
        [f"demo-lake/{DEMO_MARKER}", "demo-lake/gold/t/part-2.parquet"]
    )
