"""Keeping one row per key.

``first_per_key`` ranks rows in a window: simple, but it shuffles every (wide) row.
``transform_newest_per_key`` is for wide batches in which most keys occur once: a narrow
aggregation (keys and ordering columns only) finds the winning row of each repeated key, and
one pass then keeps the winners and the unrepeated rows. No wide row is shuffled, and the
transform runs once per kept row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

_WINNER, _COUNT = "_newest_per_key_winner", "_newest_per_key_count"


def first_per_key(df: DataFrame, keys: Sequence[str], order: Sequence[Column]) -> DataFrame:
    """One row per ``keys``: the first by ``order``."""
    window = Window.partitionBy(*keys).orderBy(*order)
    return df.withColumn("_rank", F.row_number().over(window)).where("_rank = 1").drop("_rank")


def transform_newest_per_key(
    df: DataFrame,
    keys: Sequence[str],
    order_columns: Sequence[str],
    transform: Callable[[DataFrame], DataFrame],
) -> DataFrame:
    """``transform`` of one row per ``keys``: the row whose ``order_columns`` are greatest.

    The ordering columns compare left to right (like a struct), null below any value. They must
    tell the rows of one key apart: rows tied for the greatest would all be kept.

    Args:
        df: The rows; read twice (the narrow aggregation, then the pass that keeps rows).
        keys: The key columns.
        order_columns: Columns of ``df`` that order the rows of a key, newest greatest.
        transform: Applied to the kept rows only.
    """
    order = F.struct(*[F.col(c) for c in order_columns])
    winner_keys = [f"{_WINNER}_key_{i}" for i in range(len(keys))]
    winners = (
        df.groupBy(*[F.col(k).alias(w) for k, w in zip(keys, winner_keys, strict=True)])
        .agg(F.count(F.lit(1)).alias(_COUNT), F.max(order).alias(_WINNER))
        .where(F.col(_COUNT) > 1)
        .drop(_COUNT)
    )
    # null-safe, like the groups of a window: a null key is one key
    same_key = [F.col(k).eqNullSafe(F.col(w)) for k, w in zip(keys, winner_keys, strict=True)]
    condition = same_key[0]
    for part in same_key[1:]:
        condition = condition & part
    kept = (
        df.join(F.broadcast(winners), on=condition, how="left")
        .where(F.col(_WINNER).isNull() | (order == F.col(_WINNER)))
        .drop(_WINNER, *winner_keys)
    )
    return transform(kept)
