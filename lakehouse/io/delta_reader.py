"""Delta tables read without a JVM (the ``deltalake`` package), for the prediction service.

The one place the online path opens a Delta table. ``lakehouse.io.delta`` is the Spark side
and imports pyspark; this module must not import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd


class DeltaSnapshot(NamedTuple):
    """Rows of a Delta table at one version."""

    frame: pd.DataFrame
    version: int


def read_delta(
    path: str, columns: Sequence[str] | None = None, version: int | None = None
) -> DeltaSnapshot | None:
    """Read a Delta table's chosen columns as pandas.

    Args:
        path: Where the table is (a local path or a URI ``deltalake`` reads).
        columns: The columns to read; all when None.
        version: The version to read; the latest when None.

    Returns:
        The rows and the version they were read at, or None when there is no table at
        ``path``.
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(path, version=version)
    except TableNotFoundError:
        return None
    frame = table.to_pandas(columns=None if columns is None else list(columns))
    return DeltaSnapshot(frame, table.version())


def delta_version(path: str) -> int | None:
    """The latest version of the Delta table at ``path`` (no data is read), None when absent."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(path).version()
    except TableNotFoundError:
        return None
