"""Running generator tasks: in-process for one worker, else over a spawned process pool."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

# "spawn" gives workers a clean interpreter: no inherited locks, threads or JVM gateways.
WORKER_START_METHOD = "spawn"


@contextmanager
def task_runner(workers: int) -> Iterator[Callable]:
    """A ``map`` over tasks, in-process for one worker, else over a process pool."""
    if workers == 1:
        yield map
        return
    context = multiprocessing.get_context(WORKER_START_METHOD)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool.map
