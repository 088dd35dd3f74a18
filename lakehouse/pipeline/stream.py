"""``lakehouse stream``: the pipeline run continuously, one cycle per trigger.

Each cycle is one micro-batch of the whole pipeline: landing -> Bronze -> Silver -> Gold for
every source (or one), the very steps of ``lakehouse run`` with their checkpoints, so a cycle
has the batch runs' exactly-once guarantees, and a stream and batch commands can take turns on
one lake. The trigger works as Spark's processing-time trigger, for the whole pipeline: cycles
start every ``stream.trigger_s`` seconds; one that runs longer is followed at once by the next.

A cycle holds the lake's writer lock while it writes and lets it go between cycles: a batch
command (a backfill, ``maintain``, ``forget``) run beside the stream waits for the end of the
current cycle, and the next cycle waits for it (``stream.lock_wait_s``). SIGTERM or SIGINT
stops the stream after the current cycle (a second one stops it at once); a restarted stream
goes on from the checkpoints. Models are not trained here: the schedule's ``retrain`` does it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.pipeline import OnReport, run_all
from lakehouse.pipeline.report import StepReport

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class Cycle:
    """One cycle of the stream: its number (from 1), how long it took, its steps' reports."""

    number: int
    seconds: float = 0.0
    reports: list[StepReport] = field(default_factory=list)

    @property
    def changed(self) -> list[StepReport]:
        """The reports of the steps that processed something."""
        return [r for r in self.reports if r.batches]

    def summary(self) -> str:
        """``cycle 3: bronze/sessions v4, silver/sessions v5, ... (12.3 s)``."""
        changed = self.changed
        if not changed:
            return f"cycle {self.number}: nothing new ({self.seconds:.1f} s)"
        tables = ", ".join(f"{r.table} v{r.version}" for r in changed)
        return f"cycle {self.number}: {tables} ({self.seconds:.1f} s)"


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """Set ``stop`` on SIGTERM or SIGINT (a second signal does what it does by default);
    the previous handlers come back on exit. Only the main thread can install handlers."""
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def handler(signum, _frame) -> None:
        log.warning(
            "%s: stopping after the current cycle (send it again to stop now)",
            signal.Signals(signum).name,
        )
        stop.set()
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else previous[sig])

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_stream(
    spark: SparkSession,
    settings: Settings,
    *,
    lock: Callable[[], AbstractContextManager],
    stop: threading.Event,
    source: str | None = None,
    cycles: int | None = None,
    on_report: OnReport | None = None,
    after_cycle: Callable[[Cycle], None] | None = None,
) -> int:
    """Run cycles until ``stop`` is set or ``cycles`` ran.

    Args:
        lock: Makes the lake's writer lock, held for each cycle's writes (and whatever
            else a cycle is wrapped in: the CLI reports each cycle's metrics).
        stop: Set (by a signal) to end the stream once the current cycle is done.
        source: One source only; None runs both.
        cycles: How many cycles at most; None for no limit.
        on_report: Called with each step's report as soon as the step ends.
        after_cycle: Called with each cycle while the lock is still held (the gates, the
            catalog, Data Docs); what it raises ends the stream.

    Returns:
        How many cycles ran.
    """
    trigger = settings.stream.trigger_s
    next_start = time.monotonic()
    done = 0
    while not stop.is_set() and (cycles is None or done < cycles):
        cycle = Cycle(done + 1)
        started = time.monotonic()
        with lock():
            cycle.reports = run_all(spark, settings, source, on_report)
            cycle.seconds = time.monotonic() - started
            if after_cycle is not None:
                after_cycle(cycle)
        done += 1
        log.info(
            "%s",
            cycle.summary(),
            extra={"cycle": cycle.number, "seconds": round(cycle.seconds, 3)},
        )
        next_start = max(next_start + trigger, time.monotonic())
        if cycles is not None and done >= cycles:
            break
        stop.wait(max(0.0, next_start - time.monotonic()))
    return done
