"""One writer at a time per lake: the lock every writing command holds while it runs.

Two runs on one lake would race on the streams' checkpoints and on each table's next commit.
Delta's optimistic commits keep the tables consistent, but the loser dies half-way with an
engine error. The lock makes the second command wait (``lock.wait_s``) and then say who holds
the lake since when, exiting with ``EXIT_LAKE_LOCKED``: a scheduler can retry it later.

Where the lock lives depends on the lake:

- **A folder** (local disk or a shared file system): ``<lake>/_lakehouse.lock``, held with an
  exclusive ``flock``. The kernel drops it when the holder's process ends, however it ends, so
  a killed run leaves no stale lock; the file's text only says who held it last.
- **S3**: an item in a DynamoDB table (``lock.table``, created on first use), keyed by the
  lake's URI and written with conditional puts. The holder renews a lease
  (``lock.lease_s``) in the background; a lock whose lease ran out belongs to a run that died,
  and the next command takes it over with one conditional write, which only one taker wins.

Readers (notebooks, the service, ``report``, ``history``) never take the lock: Delta gives
them a consistent snapshot while a writer commits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from lakehouse.config import LockSettings, StorageSettings
from lakehouse.errors import EXIT_LAKE_LOCKED, LakehouseError
from lakehouse.storage import dynamodb_endpoint, dynamodb_region, is_s3_uri, to_s3_uri

log = logging.getLogger(__name__)

LOCK_FILE = "_lakehouse.lock"
POLL_S = 1.0


class LakeLockedError(LakehouseError):
    """Another command holds the lake's lock."""

    exit_code = EXIT_LAKE_LOCKED


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: enough for a person to find the run (no data, no secrets)."""

    command: str
    host: str
    pid: int
    started_at: str
    owner_id: str

    @classmethod
    def me(cls, command: str) -> Holder:
        return cls(
            command=command,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            owner_id=uuid.uuid4().hex,
        )

    def describe(self) -> str:
        return f"`{self.command}` (pid {self.pid} on {self.host}) since {self.started_at}"


def _locked_error(lake: str, holder: Holder | None, waited_s: float) -> LakeLockedError:
    who = holder.describe() if holder else "another command"
    return LakeLockedError(
        f"the lake {lake} is locked by {who}; waited {waited_s:.0f}s (lock.wait_s). Retry "
        "when it ends."
    )


def _wait(deadline: float) -> bool:
    """Sleep one poll interval if the deadline allows; False once it has passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    time.sleep(min(POLL_S, remaining))
    return True


# --- a folder: flock ---------------------------------------------------------------------


def _read_holder(path: Path) -> Holder | None:
    try:
        return Holder(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


@contextlib.contextmanager
def _file_lock(lake: str, command: str, wait_s: float) -> Iterator[Holder]:
    import fcntl

    path = Path(lake) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    me = Holder.me(command)
    started = time.monotonic()
    deadline = started + wait_s
    with path.open("a+") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not _wait(deadline):
                    raise _locked_error(
                        lake, _read_holder(path), time.monotonic() - started
                    ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(asdict(me)))
            handle.flush()
            yield me
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- S3: a DynamoDB lease ----------------------------------------------------------------


def dynamodb_client(storage: StorageSettings):
    """boto3's DynamoDB client at the configured endpoint and region (credentials: the
    standard AWS chain)."""
    import boto3

    kwargs: dict[str, str] = {"region_name": dynamodb_region(storage)}
    endpoint = dynamodb_endpoint(storage)
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    return boto3.client("dynamodb", **kwargs)


def _ensure_table(client, table: str) -> None:
    try:
        client.describe_table(TableName=table)
        return
    except client.exceptions.ResourceNotFoundException:
        pass
    with contextlib.suppress(client.exceptions.ResourceInUseException):
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "lake", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "lake", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    client.get_waiter("table_exists").wait(TableName=table)


def _item(lake: str, me: Holder, expires_at: float) -> dict:
    return {
        "lake": {"S": lake},
        "holder": {"S": json.dumps(asdict(me))},
        "owner_id": {"S": me.owner_id},
        "expires_at": {"N": f"{expires_at:.3f}"},
    }


def _current_holder(client, table: str, lake: str) -> Holder | None:
    item = client.get_item(TableName=table, Key={"lake": {"S": lake}}, ConsistentRead=True)
    try:
        return Holder(**json.loads(item["Item"]["holder"]["S"]))
    except (KeyError, ValueError, TypeError):
        return None


class _Lease(threading.Thread):
    """Renews the lease every third of its length until stopped; a failed renewal (the lock
    was taken over after a stall longer than the lease) is logged as an error."""

    def __init__(self, client, table: str, lake: str, me: Holder, lease_s: float) -> None:
        super().__init__(name="lake-lock-lease", daemon=True)
        self.client = client
        self.table = table
        self.lake = lake
        self.me = me
        self.lease_s = lease_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.lease_s / 3):
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key={"lake": {"S": self.lake}},
                    UpdateExpression="SET expires_at = :expires",
                    ConditionExpression="owner_id = :me",
                    ExpressionAttributeValues={
                        ":expires": {"N": f"{time.time() + self.lease_s:.3f}"},
                        ":me": {"S": self.me.owner_id},
                    },
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                log.error("lost the lock of %s: another command took it over", self.lake)
                return
            except Exception as exc:  # a network blip: the next renewal retries
                log.warning("could not renew the lock of %s: %s", self.lake, type(exc).__name__)


@contextlib.contextmanager
def _dynamodb_lock(
    lake: str, command: str, settings: LockSettings, storage: StorageSettings
) -> Iterator[Holder]:
    client = dynamodb_client(storage)
    _ensure_table(client, settings.table)
    key = to_s3_uri(lake).rstrip("/")
    me = Holder.me(command)
    started = time.monotonic()
    deadline = started + settings.wait_s
    while True:
        now = time.time()
        try:
            client.put_item(
                TableName=settings.table,
                Item=_item(key, me, now + settings.lease_s),
                # free, or held by a run whose lease ran out (it died without releasing)
                ConditionExpression="attribute_not_exists(lake) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
            )
            break
        except client.exceptions.ConditionalCheckFailedException:
            if not _wait(deadline):
                holder = _current_holder(client, settings.table, key)
                raise _locked_error(lake, holder, time.monotonic() - started) from None
    lease = _Lease(client, settings.table, key, me, settings.lease_s)
    lease.start()
    try:
        yield me
    finally:
        lease.stopped.set()
        lease.join()
        with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
            client.delete_item(
                TableName=settings.table,
                Key={"lake": {"S": key}},
                ConditionExpression="owner_id = :me",
                ExpressionAttributeValues={":me": {"S": me.owner_id}},
            )


@contextlib.contextmanager
def lake_lock(
    lake: str, command: str, settings: LockSettings, storage: StorageSettings
) -> Iterator[Holder]:
    """Hold the lake's writer lock for the ``with`` block.

    Args:
        lake: The lake root (a folder or an ``s3a://`` URI).
        command: The command taking it (shown to whoever finds the lake locked).
        settings: The ``lock`` section: how long to wait, the S3 lease and DynamoDB table.
        storage: The ``storage`` section (DynamoDB endpoint and region for S3 lakes).

    Raises:
        LakeLockedError: When another command still holds it after ``settings.wait_s``.
    """
    if is_s3_uri(lake):
        lock = _dynamodb_lock(lake, command, settings, storage)
    else:
        lock = _file_lock(lake, command, settings.wait_s)
    with lock as holder:
        log.info("lake lock taken by %s", command)
        yield holder
