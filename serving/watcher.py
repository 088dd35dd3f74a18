"""The background thread that follows the registry and the lake.

Loading a model (seconds of unpickling and a fast-path check) or re-reading account history
must not stall requests, so it happens on this thread; what it loads is swapped in with one
assignment (``serving.holder``, ``serving.state``). The first pass loads everything; then
the registry is polled every ``serve.registry_poll_s`` and the lake's tables checked every
``serve.data_refresh_s``.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from serving.holder import ModelHolder
from serving.state import OnlineFeatures

log = logging.getLogger(__name__)


class Watcher:
    """Polls the registry and the lake on a daemon thread until ``stop``.

    Args:
        holder: The models.
        features: The online feature state.
        client_factory: Makes the MLflow client (called on the thread).
        poll_s: Registry poll interval.
        data_refresh_s: Interval of the lake table check.
        steps: More checks run on every poll (the API keys file's).
    """

    def __init__(
        self,
        holder: ModelHolder,
        features: OnlineFeatures,
        client_factory: Callable[[], Any],
        poll_s: float,
        data_refresh_s: float,
        steps: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.holder = holder
        self.features = features
        self.client_factory = client_factory
        self.poll_s = poll_s
        self.data_refresh_s = data_refresh_s
        self.steps = tuple(steps)
        self.first_pass_done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the thread (the first pass loads models and features)."""
        self._thread = threading.Thread(target=self._run, name="lakehouse-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait for it (a load in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def poll_registry(self) -> int:
        """One registry poll, now (also used by tests and by the first pass).

        Returns:
            How many models were swapped in.
        """
        with self._lock:
            if self._client is None:
                self._client = self.client_factory()
            swaps = self.holder.refresh(self._client)
        if swaps:
            _freeze_heap()
        return swaps

    def refresh_data(self) -> int:
        """Re-read lake tables that moved, and load any part still missing.

        Returns:
            How many parts were (re)loaded.
        """
        with self._lock:
            loaded = self.features.refresh()
        if loaded:
            _freeze_heap()
        return loaded

    def _run(self) -> None:
        try:
            self._guard(self.poll_registry)
            self._guard(self.refresh_data)
            # once, before the first request: a full collection of the fresh heap now
            # rather than a 100+ ms pause under traffic later
            gc.collect()
            _freeze_heap()
        finally:
            self.first_pass_done.set()
        last_data = time.monotonic()
        while not self._stop.wait(self.poll_s):
            self._guard(self.poll_registry)
            for step in self.steps:
                self._guard(step)
            if time.monotonic() - last_data >= self.data_refresh_s:
                last_data = time.monotonic()
                self._guard(self.refresh_data)

    @staticmethod
    def _guard(step: Callable[[], object]) -> None:
        try:
            step()
        except Exception:  # the thread must outlive any one failure
            log.exception("watcher: %s failed", getattr(step, "__name__", step))


def _freeze_heap() -> None:
    """Move every object alive now (models, reference data, modules) out of the collector's
    reach. Long-lived and numerous, they made each full collection a 100-200 ms pause."""
    gc.freeze()
