"""Micro-batching: concurrent requests for the same model version share one model call.

A model call has a fixed cost (walking ~300 trees, numpy dispatch) that one row or a few
dozen rows pay alike, so under concurrency the service scores all requests waiting at that
moment together. Everything runs on the event loop: a request puts its rows in the pending
batch of the model object it holds and awaits a future; the first one schedules a flush.
With ``wait_s == 0`` the flush runs on the loop's next turn, after every request already
parsed in this turn has joined, so a lone request waits for nobody. A batch also flushes as
soon as it holds ``max_rows`` rows, and a request at least that large is scored on its own.

Batches are keyed by the model object a request holds, never by name: a hot swap in the
middle cannot mix versions, and every answer reports the version that actually scored it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lakehouse.features import FeatureRows
from serving.holder import LoadedModel

log = logging.getLogger(__name__)


class _Pending:
    __slots__ = ("futures", "model", "parts", "rows")

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.parts: list[Sequence[dict[str, Any]]] = []  # each request's rows
        self.rows = 0
        self.futures: list[asyncio.Future] = []

    def joined(self) -> Sequence[dict[str, Any]]:
        """Every request's rows in one sequence: still columns when each request's rows are
        ``FeatureRows`` (as the fraud features are), so no row becomes a dict."""
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        if all(isinstance(part, FeatureRows) for part in parts):
            try:
                return FeatureRows.joined(parts)  # type: ignore[arg-type]
            except ValueError:  # different columns: the rows as mappings
                pass
        return [row for part in parts for row in part]


class MicroBatcher:
    """Coalesces concurrent ``predict`` calls per model object into one model call.

    Args:
        wait_s: How long a batch waits for more requests (0: until the loop's next turn).
        max_rows: Flush at this many rows; larger requests are scored alone.
        on_batch: Called after each model call with ``(model, inputs, outputs, seconds)``
            (metrics and the drift window).
    """

    def __init__(
        self,
        wait_s: float,
        max_rows: int,
        on_batch: Callable[[LoadedModel, Any, np.ndarray, float], None] | None = None,
    ) -> None:
        self.wait_s = wait_s
        self.max_rows = max_rows
        self.on_batch = on_batch
        self._pending: dict[int, _Pending] = {}
        self._scheduled = False

    async def predict(self, model: LoadedModel, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        """The model's outputs for ``rows``, scored together with concurrent requests."""
        if len(rows) >= self.max_rows:
            return self._run(model, rows)
        loop = asyncio.get_running_loop()
        batch = self._pending.get(id(model))
        if batch is None:
            batch = self._pending[id(model)] = _Pending(model)
        future = loop.create_future()
        batch.parts.append(rows)
        batch.rows += len(rows)
        batch.futures.append(future)
        if batch.rows >= self.max_rows:
            del self._pending[id(model)]
            self._score(batch)
        elif not self._scheduled:
            self._scheduled = True
            if self.wait_s > 0:
                loop.call_later(self.wait_s, self._flush)
            else:
                loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for batch in pending.values():
            self._score(batch)

    def _score(self, batch: _Pending) -> None:
        try:
            outputs = self._run(batch.model, batch.joined())
        except Exception as exc:
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for part, future in zip(batch.parts, batch.futures, strict=True):
            if not future.done():  # a client that went away cancelled its future
                future.set_result(outputs[start : start + len(part)])
            start += len(part)

    def _run(self, model: LoadedModel, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        started = time.perf_counter()
        outputs, inputs = model.predict(rows)
        seconds = time.perf_counter() - started
        if self.on_batch is not None:
            try:
                self.on_batch(model, inputs, outputs, seconds)
            except Exception:  # metrics must never fail a prediction
                log.exception("recording a batch failed")
        return outputs
