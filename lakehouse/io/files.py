"""Whole folders of the landing zone or the lake, on a local disk or S3 (boto3).

Used by the demo, which owns its folders and starts each run from empty ones, and to put a
local landing zone into a bucket. Credentials
stay with the standard AWS chain; the endpoint and addressing come from ``lakehouse.storage``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from lakehouse.config import StorageSettings
from lakehouse.storage import boto3_client_kwargs, is_s3_uri, split_s3_uri


def s3_client(storage: StorageSettings):
    """boto3's S3 client at the configured endpoint, region and addressing style."""
    import boto3

    return boto3.client("s3", **boto3_client_kwargs(storage))


def upload_folder(client, folder: Path, bucket: str, prefix: str) -> int:
    """Copy every file under ``folder`` to ``s3://bucket/prefix/...`` (same relative keys);
    returns how many went."""
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")
        count += 1
    return count


def empty_folder(root: str, storage: StorageSettings, keep: Iterable[str] = ()) -> int:
    """Delete everything under ``root`` except the top-level names in ``keep``; returns
    how many files (or objects) went. A missing folder is already empty."""
    keep = set(keep)
    if is_s3_uri(root):
        return _empty_prefix(root, storage, keep)
    folder = Path(root)
    if not folder.is_dir():
        return 0
    removed = 0
    for child in folder.iterdir():
        if child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            removed += sum(1 for p in child.rglob("*") if not p.is_dir())
            shutil.rmtree(child)
        else:
            child.unlink()
            removed += 1
    return removed


def top_level_names(root: str, storage: StorageSettings) -> set[str]:
    """The names of the files and folders right under ``root`` (none for a missing one)."""
    if is_s3_uri(root):
        bucket, prefix = split_s3_uri(root)
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        names: set[str] = set()
        pages = s3_client(storage).get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            names.update(
                p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])
            )
            names.update(item["Key"][len(prefix) :] for item in page.get("Contents", []))
        return names
    folder = Path(root)
    return {child.name for child in folder.iterdir()} if folder.is_dir() else set()


def write_marker(root: str, name: str, text: str, storage: StorageSettings) -> None:
    """A small text file ``name`` right under ``root``."""
    if is_s3_uri(root):
        bucket, prefix = split_s3_uri(root)
        key = f"{prefix.rstrip('/')}/{name}" if prefix else name
        s3_client(storage).put_object(Bucket=bucket, Key=key, Body=text.encode())
        return
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def write_object(root: str, name: str, data: bytes, storage: StorageSettings) -> str:
    """Write ``data`` as ``root/name`` in one atomic step: readers see the whole file or none.

    On S3 one PUT is atomic; on a disk the bytes go to a hidden sibling (``.name.tmp``, which
    Spark's listings skip) renamed into place. Returns the file's path or URI.
    """
    if is_s3_uri(root):
        bucket, prefix = split_s3_uri(root)
        key = f"{prefix.rstrip('/')}/{name}" if prefix else name
        s3_client(storage).put_object(Bucket=bucket, Key=key, Body=data)
        return f"s3://{bucket}/{key}"
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    partial = folder / f".{name}.tmp"
    partial.write_bytes(data)
    os.replace(partial, target)
    return str(target)


def _empty_prefix(root: str, storage: StorageSettings, keep: set[str]) -> int:
    bucket, prefix = split_s3_uri(root)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    client = s3_client(storage)
    removed = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [
            {"Key": item["Key"]}
            for item in page.get("Contents", [])
            if item["Key"][len(prefix) :].split("/", 1)[0] not in keep
        ]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            removed += len(keys)
    return removed
