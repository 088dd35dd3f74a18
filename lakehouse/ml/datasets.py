"""Training data: its lineage and a time-based split (pandas only).

Reading a pinned Gold version with Spark lives in ``lakehouse.ml.spark_datasets``, so that
the prediction service, which needs these types, never imports Spark.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd


class InsufficientDataError(ValueError):
    """The table holds too little usable data to train and evaluate a model."""


@dataclass(frozen=True)
class DatasetLineage:
    """Exactly which data a model learned from, enough to re-read it by time travel."""

    table: str
    path: str
    version: int
    row_count: int
    content_hash: str
    source_versions: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (logged with the run)."""
        return asdict(self)


@dataclass(frozen=True)
class TimeSplit:
    """Train on the oldest rows, validate on newer ones, test on the newest."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    validation_start: pd.Timestamp
    test_start: pd.Timestamp

    def boundaries(self) -> dict[str, str]:
        """The cut instants, for the run's parameters."""
        return {
            "split_validation_start": self.validation_start.isoformat(),
            "split_test_start": self.test_start.isoformat(),
        }


def time_split(
    frame: pd.DataFrame, ts_column: str, validation_fraction: float, test_fraction: float
) -> TimeSplit:
    """Cut ``frame`` (ordered by ``ts_column``) at two instants.

    Rows sharing an instant always land on the same side of a cut, so no part of a moment
    trains the model while another part evaluates it.
    """
    n = len(frame)
    if n < 3:
        raise InsufficientDataError(f"{n} rows cannot be split into train, validation and test")
    ts = frame[ts_column]
    validation_start = ts.iloc[int(n * (1 - validation_fraction - test_fraction))]
    test_start = ts.iloc[int(n * (1 - test_fraction))]
    train = frame[ts < validation_start]
    validation = frame[(ts >= validation_start) & (ts < test_start)]
    test = frame[ts >= test_start]
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        if part.empty:
            raise InsufficientDataError(f"the {name} split is empty: too few distinct instants")
    return TimeSplit(train, validation, test, validation_start, test_start)
