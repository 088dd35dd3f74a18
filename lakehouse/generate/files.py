"""Tasks that write one export file each; they run in worker processes.

A task rebuilds the shared world from its key and draws from the random stream of its own file,
so the bytes it writes do not depend on the process or the order in which tasks run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lakehouse.generate.anomalies import (
    DELIVERY_REEXPORT,
    DUPLICATE_EXPORT,
    inject_document_anomalies,
)
from lakehouse.generate.delivery import MS_PER_DAY, MS_PER_HOUR
from lakehouse.generate.export import ExportRecord, index_names, render_export, write_export
from lakehouse.generate.plan import PlannedFile
from lakehouse.generate.seeding import Stream, stream_rng
from lakehouse.generate.sessions import (
    EVENT_TYPES,
    TimeWindow,
    build_events,
    delivered_status,
)
from lakehouse.generate.world import WorldKey, build_world

# A delivered parcel shows up in an export this long after it arrived.
DELIVERY_REEXPORT_DELAY_MS = (1 * MS_PER_HOUR, 36 * MS_PER_HOUR)
# A duplicate export happens this long after the original one.
DUPLICATE_DELAY_MS = (1 * MS_PER_HOUR, 10 * MS_PER_DAY)


@dataclass(frozen=True)
class GenerationSettings:
    """What every task needs besides its own file (small and picklable)."""

    out: str
    seed: int
    anomaly_rate: float
    world: WorldKey
    period_end_ms: int


class CarryOver(NamedTuple):
    """A document to export again in a later re-export file."""

    target_ms: int
    origin: tuple[int, int]  # (primary file index, position), for a stable order
    kind: str
    record: ExportRecord


@dataclass
class FileOutcome:
    """What one task wrote, with exact counts for the manifest."""

    file: PlannedFile
    records: int
    malformed_lines: int
    anomalies: dict[str, int]
    new_documents: int = 0
    events_by_type: dict[str, int] = field(default_factory=dict)
    delivered_checkouts: int = 0
    carry_overs: list[CarryOver] = field(default_factory=list)


def _known_zips(world) -> frozenset[str]:
    return frozenset(world.zips.zip_codes)


def write_fresh_file(settings: GenerationSettings, file: PlannedFile) -> FileOutcome:
    """Generate new documents for a primary or in-flight file and write it.

    In-flight files hold clean documents only. Primary files also return the documents to
    export again later: duplicates, and checkouts delivered after this export.
    """
    world = build_world(settings.world)
    stream = Stream.IN_FLIGHT_FILE if file.is_in_flight else Stream.PRIMARY_FILE
    rng = stream_rng(settings.seed, stream, file.index)
    rate = 0.0 if file.is_in_flight else settings.anomaly_rate
    window = TimeWindow(file.window_start_ms, file.window_end_ms)
    batch = build_events(world, rng, file.documents, window, file.mtime_ms, settings.period_end_ms)
    masks = inject_document_anomalies(
        batch.documents, batch.event_type, rng, rate, _known_zips(world)
    )
    records = [
        ExportRecord(doc, rid, index, int(mask))
        for doc, rid, index, mask in zip(
            batch.documents, batch.record_ids, index_names(batch.event_ms), masks, strict=True
        )
    ]
    rendered = render_export(records, file.shape, rng, rate, may_drop_ids=True)
    write_export(
        Path(settings.out),
        file.path,
        rendered.content,
        is_gzip=file.is_gzip,
        mtime_ms=file.mtime_ms,
    )
    types = Counter(EVENT_TYPES[t] for t in batch.event_type.tolist())
    carry = [] if file.is_in_flight else _carry_overs(rng, file, records, batch, rate)
    return FileOutcome(
        file=file,
        records=rendered.records,
        malformed_lines=rendered.malformed_lines,
        anomalies=rendered.anomalies,
        new_documents=len(records),
        events_by_type={t: types.get(t, 0) for t in EVENT_TYPES},
        delivered_checkouts=int(batch.is_delivered.sum()),
        carry_overs=carry,
    )


def _carry_overs(rng, file: PlannedFile, records, batch, rate: float) -> list[CarryOver]:
    """Duplicates (at ``rate``) and every checkout delivered after this export, in the period."""
    n = len(records)
    later = batch.later_delivery_ms
    delays = rng.integers(*DELIVERY_REEXPORT_DELAY_MS, n)
    # Checkouts about to change are not duplicated, so the newest export is always the truth.
    is_duplicate = (rng.random(n) < rate) & (later < 0)
    duplicate_delays = rng.integers(*DUPLICATE_DELAY_MS, n)
    carry = []
    for i in np.flatnonzero((later >= 0) | is_duplicate).tolist():
        record = records[i]
        if later[i] >= 0:
            delivered = {**record.source, "delivery": delivered_status(int(later[i]))}
            record = record._replace(source=delivered)
            target_ms, kind = later[i] + delays[i], DELIVERY_REEXPORT
        else:
            target_ms, kind = file.mtime_ms + duplicate_delays[i], DUPLICATE_EXPORT
        carry.append(CarryOver(int(target_ms), (file.index, i), kind, record))
    return carry


def write_reexport_file(
    settings: GenerationSettings, file: PlannedFile, carry_overs: list[CarryOver]
) -> FileOutcome:
    """Write documents exported again, in the order their re-export happened."""
    rng = stream_rng(settings.seed, Stream.REEXPORT_FILE, file.index)
    ordered = sorted(carry_overs, key=lambda c: (c.target_ms, c.origin))
    rendered = render_export(
        [c.record for c in ordered], file.shape, rng, settings.anomaly_rate, may_drop_ids=False
    )
    write_export(
        Path(settings.out),
        file.path,
        rendered.content,
        is_gzip=file.is_gzip,
        mtime_ms=file.mtime_ms,
    )
    kinds = Counter(c.kind for c in ordered)
    anomalies = dict(rendered.anomalies)
    anomalies[DUPLICATE_EXPORT] = kinds.get(DUPLICATE_EXPORT, 0)
    anomalies[DELIVERY_REEXPORT] = kinds.get(DELIVERY_REEXPORT, 0)
    return FileOutcome(file, rendered.records, rendered.malformed_lines, anomalies)
