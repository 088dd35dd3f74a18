"""What a step did, for the command line and the demo."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakehouse.quality.audit import Audit
    from lakehouse.quality.drift import Drift

log = logging.getLogger(__name__)


@dataclass
class StepReport:
    """One step's outcome: batches processed, summed metrics, the table's version after it."""

    step: str
    source: str
    table: str
    batches: list[int] = field(default_factory=list)
    metrics: Counter = field(default_factory=Counter)
    version: int | None = None
    skipped_reason: str | None = None
    seconds: float | None = None  # the step's wall time, set by the runner
    # the failed checks of its expectation suite (lakehouse.quality): `fail` and `warn` ones
    quality_failures: list[str] = field(default_factory=list)
    quality_warnings: list[str] = field(default_factory=list)
    # an ingest step's schema drift (audit/schema_drift), and the part that fails the gate
    schema_drift: list[str] = field(default_factory=list)
    drift_failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic, repr=False, compare=False)

    def add_batch(self, batch_id: int, metrics: dict[str, int]) -> None:
        """Count one micro-batch in (and log it: a long step shows its progress)."""
        self.batches.append(batch_id)
        self.metrics.update(metrics)
        shown = ", ".join(f"{k}={v}" for k, v in sorted(metrics.items()))
        log.info(
            "%s %s: batch %s done (%s)",
            self.step,
            self.table,
            batch_id,
            shown,
            extra={
                "step": self.step,
                "table": self.table,
                "batch_id": batch_id,
                "metrics": metrics,
            },
        )

    def note_audit(self, audit: Audit) -> None:
        """Add a validation's failed checks (``fail`` ones fail the gate), each once."""
        for outcomes, lines in (
            (audit.failures, self.quality_failures),
            (audit.warnings, self.quality_warnings),
        ):
            for outcome in outcomes:
                line = outcome.describe()
                if audit.batch_id is not None:
                    line = f"batch {audit.batch_id}: {line}"
                if line not in lines:
                    lines.append(line)

    def note_drift(self, drifts: Iterable[Drift], fail_on: Iterable[str]) -> None:
        """Add a batch's schema drifts; those of a kind in ``fail_on`` fail the gate."""
        failing = set(fail_on)
        for drift in drifts:
            line = drift.describe()
            if line not in self.schema_drift:
                self.schema_drift.append(line)
            if drift.kind in failing and line not in self.drift_failures:
                self.drift_failures.append(line)

    def as_dict(self) -> dict:
        """The report as plain values (for JSON logs and metrics)."""
        return {
            "step": self.step,
            "source": self.source,
            "table": self.table,
            "batches": len(self.batches),
            "version": self.version,
            "skipped_reason": self.skipped_reason,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "quality_failures": self.quality_failures,
            "quality_warnings": self.quality_warnings,
            "schema_drift": self.schema_drift,
            **{k: int(v) for k, v in sorted(self.metrics.items())},
        }

    def summary(self) -> str:
        """One line for humans."""
        took = "" if self.seconds is None else f" ({self.seconds:.1f} s)"
        if self.skipped_reason:
            return f"{self.step:<7} {self.table:<28} skipped: {self.skipped_reason}{took}"
        if not self.batches and not self.metrics:
            return f"{self.step:<7} {self.table:<28} nothing new (version {self.version}){took}"
        shown = ", ".join(f"{k}={v}" for k, v in sorted(self.metrics.items()))
        line = (
            f"{self.step:<7} {self.table:<28} {len(self.batches)} batch(es), {shown} "
            f"-> version {self.version}{took}"
        )
        checks = [f"failed check: {c}" for c in self.quality_failures]
        checks += [f"warning check: {c}" for c in self.quality_warnings]
        checks += [f"schema drift: {d}" for d in self.schema_drift]
        return "\n".join([line, *(f"        {c}" for c in checks)])
