"""Generate the Elasticsearch session exports of the landing zone, with their manifest."""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from itertools import repeat
from pathlib import Path

from lakehouse.generate.customers import customer_count_for
from lakehouse.generate.files import (
    FileOutcome,
    GenerationSettings,
    write_fresh_file,
    write_reexport_file,
)
from lakehouse.generate.manifest import build_manifest, write_manifest
from lakehouse.generate.plan import build_export_plan
from lakehouse.generate.workers import task_runner
from lakehouse.generate.world import WorldKey, holiday_years

DEFAULT_MAX_WORKERS = 2
DOCUMENTS_PER_CUSTOMER = 12
MIN_CUSTOMERS = 50


def _validate(documents: int, anomaly_rate: float, days: int, docs_per_file: int, workers: int):
    if documents < 1 or days < 1 or docs_per_file < 1 or workers < 1:
        raise ValueError("documents, days, docs_per_file and workers must all be at least 1")
    if not 0.0 <= anomaly_rate <= 1.0:
        raise ValueError(f"anomaly_rate must be within [0, 1], got {anomaly_rate}")


def generate_sessions_landing(
    out: Path,
    *,
    documents: int = 20_000,
    seed: int = 42,
    anomaly_rate: float = 0.02,
    start: dt.date = dt.date(2024, 1, 1),
    days: int = 365,
    docs_per_file: int = 5_000,
    workers: int | None = None,
) -> dict:
    """Write synthetic Elasticsearch session exports under ``out/sessions``.

    Also writes ``out/_manifest/sessions.json`` describing every file exactly. Reference data
    (zip codes, warehouses, holidays) comes from ``write_reference_data`` with the same seed
    and ``holiday_years(start, days)``; deliveries are simulated against those tables.

    Checkouts delivered after their first export are always exported again once delivered
    (that is how the lifecycle reaches the lake), whatever ``anomaly_rate``. Existing files
    with the same names are overwritten; other files under ``out/sessions`` are left alone.
    With more than one worker, processes are spawned: call this from a console script or
    under ``if __name__ == "__main__":``.

    Args:
        out: landing root.
        documents: new Elasticsearch documents (events) to generate. Re-exported copies,
            malformed lines and in-flight files come on top.
        seed: makes the output reproducible, byte for byte and modification time included.
        anomaly_rate: probability of each kind of anomaly (see ``anomalies``).
        start: first day of the simulated period (UTC).
        days: length of the simulated period.
        docs_per_file: new documents per primary export file.
        workers: processes to use; defaults to min(2, CPU count). Does not change the output.

    Returns:
        The manifest (JSON-serialisable).
    """
    workers = workers or min(DEFAULT_MAX_WORKERS, os.cpu_count() or 1)
    _validate(documents, anomaly_rate, days, docs_per_file, workers)
    out = Path(out)
    plan = build_export_plan(
        documents=documents, docs_per_file=docs_per_file, start=start, days=days, seed=seed
    )
    customers = customer_count_for(documents, DOCUMENTS_PER_CUSTOMER, MIN_CUSTOMERS)
    settings = GenerationSettings(
        out=str(out),
        seed=seed,
        anomaly_rate=anomaly_rate,
        world=WorldKey(seed, customers, holiday_years(start, days)),
        period_end_ms=plan.period_end_ms,
    )
    fresh_files = [*plan.primaries, *plan.in_flight]
    with task_runner(workers) as run:
        outcomes: list[FileOutcome] = list(run(write_fresh_file, repeat(settings), fresh_files))
        by_slot = defaultdict(list)
        for outcome in outcomes:
            carry = outcome.carry_overs
            outcome.carry_overs = []
            if carry:
                slots = plan.reexport_slot([c.target_ms for c in carry])
                for c, slot in zip(carry, slots.tolist(), strict=True):
                    by_slot[slot].append(c)
        slots = sorted(by_slot)
        reexports = [plan.reexports[s] for s in slots]
        outcomes += run(
            write_reexport_file, repeat(settings), reexports, [by_slot[s] for s in slots]
        )
    parameters = {
        "documents": documents,
        "seed": seed,
        "anomaly_rate": anomaly_rate,
        "start": start.isoformat(),
        "days": days,
        "docs_per_file": docs_per_file,
        "customers": customers,
    }
    manifest = build_manifest(parameters, plan, outcomes)
    write_manifest(out, manifest)
    return manifest
