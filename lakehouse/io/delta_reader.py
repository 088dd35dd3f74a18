"""Delta tables read without a JVM (the ``deltalake`` package), for the prediction service.

The one place the online path opens a Delta table. ``lakehouse.io.delta`` is the Spark side
and imports pyspark; this module must not import it. Tables on S3 (``s3a://`` as Spark names
them) are opened with the endpoint, region and addressing ``lakehouse.storage`` renders from
the ``storage`` settings, the same Spark uses; credentials come from the AWS chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd

from lakehouse.config import Settings, StorageSettings
from lakehouse.storage import delta_table_args


def _open(path: str, storage: StorageSettings | None, version: int | None = None):
    """The ``deltalake.DeltaTable`` at ``path``, or None when there is no table there."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri, options = delta_table_args(path, storage or StorageSettings())
    try:
        return DeltaTable(uri, version=version, storage_options=options)
    except TableNotFoundError:
        return None


class DeltaSnapshot(NamedTuple):
    """Rows of a Delta table at one version."""

    frame: pd.DataFrame
    version: int


def read_delta(
    path: str,
    columns: Sequence[str] | None = None,
    version: int | None = None,
    storage: StorageSettings | None = None,
) -> DeltaSnapshot | None:
    """Read a Delta table's chosen columns as pandas.

    Args:
        path: Where the table is (a local path or a URI ``deltalake`` reads).
        columns: The columns to read; all when None.
        version: The version to read; the latest when None.
        storage: Where object storage is (S3 tables); defaults when None.

    Returns:
        The rows and the version they were read at, or None when there is no table at
        ``path``.
    """
    table = _open(path, storage, version)
    if table is None:
        return None
    frame = table.to_pandas(columns=None if columns is None else list(columns))
    return DeltaSnapshot(frame, table.version())


def read_lake_table(
    settings: Settings, table, columns: Sequence[str] | None = None, version: int | None = None
) -> DeltaSnapshot | None:
    """``read_delta`` of one of the lake's tables (``lakehouse.tables``), at its configured
    path, with the configured object storage."""
    return read_delta(settings.table_path(*table), columns, version, settings.storage)


def delta_version(path: str, storage: StorageSettings | None = None) -> int | None:
    """The latest version of the Delta table at ``path`` (no data is read), None when absent."""
    table = _open(path, storage)
    return None if table is None else table.version()


def delta_commit(path: str, storage: StorageSettings | None = None) -> tuple[int, float] | None:
    """The latest version of the Delta table at ``path`` and its commit time (epoch seconds),
    from the log only; None when there is no table there."""
    table = _open(path, storage)
    if table is None:
        return None
    (last,) = table.history(1)
    return table.version(), last["timestamp"] / 1000
