"""What a step did, for the command line and the demo."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


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

    def add_batch(self, batch_id: int, metrics: dict[str, int]) -> None:
        """Count one micro-batch in."""
        self.batches.append(batch_id)
        self.metrics.update(metrics)

    def summary(self) -> str:
        """One line for humans."""
        if self.skipped_reason:
            return f"{self.step:<7} {self.table:<28} skipped: {self.skipped_reason}"
        if not self.batches and not self.metrics:
            return f"{self.step:<7} {self.table:<28} nothing new (version {self.version})"
        shown = ", ".join(f"{k}={v}" for k, v in sorted(self.metrics.items()))
        return (
            f"{self.step:<7} {self.table:<28} {len(self.batches)} batch(es), {shown} "
            f"-> version {self.version}"
        )
