"""Running incremental steps: availableNow streaming queries driven batch by batch."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame

from lakehouse.errors import LakehouseError

log = logging.getLogger(__name__)

BatchHandler = Callable[[DataFrame, int], None]


class StepFailedError(LakehouseError, RuntimeError):
    """An incremental step failed; its checkpoint was not advanced."""


def run_available_now(
    stream_df: DataFrame, *, checkpoint: str, handler: BatchHandler, name: str
) -> int:
    """Process everything new since ``checkpoint`` through ``handler``, then stop.

    The handler must be idempotent per batch id (Spark replays a batch whose checkpoint commit
    did not happen); ``lakehouse.io.delta.append_once`` and merges give that.

    Returns:
        How many micro-batches ran.
    """
    batches: list[int] = []

    def _handle(batch_df: DataFrame, batch_id: int) -> None:
        handler(batch_df, batch_id)
        batches.append(batch_id)

    query = (
        stream_df.writeStream.queryName(name)
        .foreachBatch(_handle)
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    try:
        query.awaitTermination()
    except StreamingQueryException as exc:
        raise StepFailedError(
            f"{name} failed: {exc.desc if hasattr(exc, 'desc') else exc}"
        ) from exc
    log.info("%s: %d micro-batch(es)", name, len(batches))
    return len(batches)
