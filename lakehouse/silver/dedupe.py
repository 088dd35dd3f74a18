"""Keeping one row per key.

``first_per_key`` ranks rows in a window: simple, but it shuffles every (wide) row.
``transform_first_per_key`` is for wide batches in which most keys occur once: it counts keys
(a narrow shuffle), runs the transform on every row exactly once, and ranks only the rows
whose key repeats; the rest never leave their partition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


def first_per_key(df: DataFrame, keys: Sequence[str], order: Sequence[Column]) -> DataFrame:
    """One row per ``keys``: the first by ``order``."""
    window = Window.partitionBy(*keys).orderBy(*order)
    return df.withColumn("_rank", F.row_number().over(window)).where("_rank = 1").drop("_rank")


def transform_first_per_key(
    df: DataFrame,
    keys: Sequence[str],
    transform: Callable[[DataFrame], DataFrame],
    order: Sequence[Column],
) -> DataFrame:
    """``first_per_key(transform(df), keys, order)``, without shuffling the unique rows.

    ``keys`` must mean the same before and after ``transform``.
    """
    repeated = F.broadcast(df.groupBy(*keys).count().where(F.col("count") > 1).select(*keys))
    once = transform(df.join(repeated, on=list(keys), how="left_anti"))
    several = transform(df.join(repeated, on=list(keys), how="left_semi"))
    return once.unionByName(first_per_key(several, keys, order))
