"""Delta's DynamoDB log store on S3 (moto): concurrent writers lose no commit.

Two separate Spark applications append to one table at once through
``storage.log_store: dynamodb`` (the jar ``make jars`` builds from Delta's source, pointed at
moto by ``AWS_ENDPOINT_URL``). Every append must be in the table, the versions contiguous,
and each commit claimed in DynamoDB first.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from lakehouse.config import StorageSettings
from lakehouse.io.delta_reader import read_delta
from lakehouse.storage import delta_table_args

pytestmark = pytest.mark.integration

BUCKET = "log-store-bucket"
TABLE = f"s3a://{BUCKET}/appends"
COMMITS = 4
LOG_TABLE = "delta_log"  # storage.dynamodb_table's default


def append(writer: str, commits: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.delta_appender", TABLE, writer, str(commits)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_writers_append_at_once_and_no_commit_is_lost(moto):
    moto.create_bucket(BUCKET)
    env = {**os.environ, **moto.env}
    # The table exists before the race: two first commits of one table conflict by design
    # (Delta refuses the second with ProtocolChangedException), appends must not. delta-rs
    # creates it (no JVM to start); it writes no DynamoDB entry, Spark's log store then
    # claims every later commit.
    with pytest.MonkeyPatch.context() as patch:
        for key, value in moto.env.items():
            patch.setenv(key, value)
        uri, options = delta_table_args(TABLE, StorageSettings())
        first = pa.table({"writer": ["setup"], "commit": pa.array([0], pa.int32())})
        write_deltalake(uri, first, storage_options=options)

    writers = [append(name, COMMITS, env) for name in ("a", "b")]
    for writer in writers:
        writer.wait(timeout=600)
    for writer in writers:
        assert writer.returncode == 0, writer.stderr.read()[-3000:]

    storage = StorageSettings()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in moto.env.items():
            patch.setenv(key, value)
        snapshot = read_delta(TABLE, storage=storage)
    assert snapshot is not None
    rows = sorted(zip(snapshot.frame["writer"], snapshot.frame["commit"], strict=True))
    expected = [("setup", 0)] + [(w, i) for w in ("a", "b") for i in range(COMMITS)]
    assert rows == sorted(expected)
    assert snapshot.version == 2 * COMMITS

    items = [
        item
        for item in moto.client("dynamodb").scan(TableName=LOG_TABLE)["Items"]
        if item["tablePath"]["S"] == TABLE
    ]
    claimed = sorted(item["fileName"]["S"] for item in items)
    assert claimed == [f"{v:020d}.json" for v in range(1, 2 * COMMITS + 1)]
    assert all(item["complete"]["S"] == "true" for item in items)
