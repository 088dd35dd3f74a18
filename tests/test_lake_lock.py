"""The lake's writer lock (lakehouse/io/lake_lock.py): a folder's flock, S3's DynamoDB lease
(on the real moto server), and what the command line says when a lake is held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lakehouse.config import LockSettings, StorageSettings
from lakehouse.errors import EXIT_LAKE_LOCKED
from lakehouse.io.lake_lock import LOCK_FILE, LakeLockedError, lake_lock

NO_WAIT = LockSettings(wait_s=0)
STORAGE = StorageSettings()

HOLD = """
import sys, time
from lakehouse.config import LockSettings, StorageSettings
from lakehouse.io.lake_lock import lake_lock
settings = LockSettings(lease_s=float(sys.argv[2]), table=sys.argv[4])
with lake_lock(sys.argv[1], "holder", settings, StorageSettings()):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def hold(lake: str, seconds: float, env: dict | None = None, lease_s: float = 60, table="locks"):
    """A separate process that takes the lock and keeps it for ``seconds``."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, lake, str(lease_s), str(seconds), table],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_folder_lock_refuses_a_second_writer_and_names_the_holder(tmp_path):
    lake = str(tmp_path / "lake")
    holder = hold(lake, 30)
    try:
        with pytest.raises(LakeLockedError) as refused, lake_lock(lake, "run", NO_WAIT, STORAGE):
            pass
        message = str(refused.value)
        assert f"pid {holder.pid}" in message
        assert "`holder`" in message
        assert refused.value.exit_code == EXIT_LAKE_LOCKED
    finally:
        holder.kill()
        holder.wait()


def test_folder_lock_waits_for_the_holder_to_finish(tmp_path):
    lake = str(tmp_path / "lake")
    holder = hold(lake, 1.5)
    started = time.monotonic()
    with lake_lock(lake, "run", LockSettings(wait_s=30), STORAGE) as me:
        assert me.pid == os.getpid()
    assert time.monotonic() - started >= 0.5
    assert holder.wait() == 0


def test_a_killed_holder_leaves_no_stale_folder_lock(tmp_path):
    lake = str(tmp_path / "lake")
    holder = hold(lake, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    # its file is still there, with its owner in it, but the kernel dropped the lock
    assert (Path(lake) / LOCK_FILE).exists()
    with lake_lock(lake, "run", NO_WAIT, STORAGE):
        pass


def test_one_process_cannot_take_its_own_lake_twice(tmp_path):
    lake = str(tmp_path / "lake")
    with (
        lake_lock(lake, "run", NO_WAIT, STORAGE),
        pytest.raises(LakeLockedError),
        lake_lock(lake, "ingest", NO_WAIT, STORAGE),
    ):
        pass
    with lake_lock(lake, "ingest", NO_WAIT, STORAGE):
        pass


# --- S3 lakes: DynamoDB ------------------------------------------------------------------


@pytest.fixture
def aws(moto, monkeypatch):
    for key, value in moto.env.items():
        monkeypatch.setenv(key, value)
    return moto


def lock_item(moto, table: str, lake: str):
    key = {"lake": {"S": lake}}
    return moto.client("dynamodb").get_item(TableName=table, Key=key).get("Item")


def test_s3_lake_lock_is_a_dynamodb_item_held_and_released(aws):
    settings = LockSettings(wait_s=0, table="locks_held")
    lake = "s3a://bucket/held/lake"
    with lake_lock(lake, "run", settings, STORAGE) as me:
        item = lock_item(aws, "locks_held", "s3://bucket/held/lake")
        assert item["owner_id"]["S"] == me.owner_id
        with (
            pytest.raises(LakeLockedError, match=f"pid {me.pid}"),
            lake_lock(lake, "ingest", settings, STORAGE),
        ):
            pass
    assert lock_item(aws, "locks_held", "s3://bucket/held/lake") is None
    # another lake is another lock
    with (
        lake_lock(lake, "run", settings, STORAGE),
        lake_lock("s3a://bucket/other", "run", settings, STORAGE),
    ):
        pass


def test_s3_lease_is_renewed_while_held(aws):
    settings = LockSettings(wait_s=0, lease_s=3, table="locks_renewed")
    with lake_lock("s3a://bucket/renewed", "run", settings, STORAGE):
        first = float(lock_item(aws, "locks_renewed", "s3://bucket/renewed")["expires_at"]["N"])
        time.sleep(2.5)
        later = float(lock_item(aws, "locks_renewed", "s3://bucket/renewed")["expires_at"]["N"])
    assert later > first


def test_a_killed_holder_s_s3_lock_expires_and_exactly_one_taker_wins(aws):
    lake = "s3a://bucket/stale"
    settings = LockSettings(wait_s=0, lease_s=3, table="locks_stale")
    holder = hold(lake, 60, env=aws.env, lease_s=3, table="locks_stale")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with (
        pytest.raises(LakeLockedError, match=f"pid {holder.pid}"),
        lake_lock(lake, "run", settings, STORAGE),
    ):
        pass
    time.sleep(3.5)  # the dead run's lease runs out

    won, lost = [], []
    barrier = threading.Barrier(4)

    def take(name: str) -> None:
        barrier.wait()
        try:
            with lake_lock(lake, name, settings, STORAGE):
                won.append(name)
                time.sleep(1)
        except LakeLockedError:
            lost.append(name)

    takers = [threading.Thread(target=take, args=(f"taker-{i}",)) for i in range(4)]
    for thread in takers:
        thread.start()
    for thread in takers:
        thread.join()
    assert len(won) == 1, (won, lost)
    assert len(lost) == 3


# --- the command line ----------------------------------------------------------------------


def test_a_held_lake_ends_a_writing_command_with_one_line_and_its_exit_code(tmp_path):
    lake = str(tmp_path / "lake")
    holder = hold(lake, 60)
    try:
        for command in ("ingest", "run", "maintain"):
            result = subprocess.run(
                [sys.executable, "-m", "lakehouse", command, "--lake", lake],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == EXIT_LAKE_LOCKED, result.stderr
            lines = [line for line in result.stderr.splitlines() if line.startswith("lakehouse")]
            assert lines == [result.stderr.strip().splitlines()[-1]]
            assert "Traceback" not in result.stderr
            assert f"pid {holder.pid}" in lines[0]
            # refused before any work: the lake holds the lock file only
            assert sorted(p.name for p in Path(lake).iterdir()) == [LOCK_FILE]
    finally:
        holder.kill()
        holder.wait()
