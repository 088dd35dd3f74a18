"""The manifest: an exact account of every file written, used by tests as independent truth.

Counting rules:
  * a record is one NDJSON line or one hit of a search response; malformed lines are records;
  * ``anomalies`` counts occurrences in ingestible files (every exported copy counts);
  * ``anomalies_by_record`` counts distinct records carrying a document-level anomaly;
  * in-flight files are listed but never counted in the ingestible totals.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from lakehouse.generate.anomalies import (
    ALL_ANOMALIES,
    DELIVERY_REEXPORT,
    MALFORMED_LINE,
    RECORD_ANOMALIES,
)
from lakehouse.generate.export import NS_PER_MS
from lakehouse.generate.files import FileOutcome
from lakehouse.generate.plan import PRIMARY, ExportPlan
from lakehouse.generate.sessions import CHECKOUT_COMPLETED, EVENT_TYPES

MANIFEST_DIR = "_manifest"
SESSIONS_MANIFEST = "sessions.json"
MANIFEST_VERSION = 1


def _file_entry(outcome: FileOutcome) -> dict:
    file = outcome.file
    return {
        "path": file.path,
        "role": file.role,
        "shape": file.shape,
        "gzip": file.is_gzip,
        "in_flight": file.is_in_flight,
        "records": outcome.records,
        "malformed_lines": outcome.malformed_lines,
        "mtime_ms": file.mtime_ms,
    }


def _sum(outcomes: list[FileOutcome], name: str) -> int:
    return sum(o.anomalies.get(name, 0) for o in outcomes)


def build_manifest(parameters: dict, plan: ExportPlan, outcomes: list[FileOutcome]) -> dict:
    """Assemble the manifest from what the tasks report (files in export order)."""
    outcomes = sorted(outcomes, key=lambda o: o.file.mtime_ms)
    ingestible = [o for o in outcomes if not o.file.is_in_flight]
    in_flight = [o for o in outcomes if o.file.is_in_flight]
    primaries = [o for o in outcomes if o.file.role == PRIMARY]
    anomalies = {name: _sum(ingestible, name) for name in ALL_ANOMALIES}
    anomalies[MALFORMED_LINE] = sum(o.malformed_lines for o in ingestible)
    events = {t: sum(o.events_by_type[t] for o in primaries) for t in EVENT_TYPES}
    delivered = sum(o.delivered_checkouts for o in primaries) + anomalies[DELIVERY_REEXPORT]
    return {
        "manifest_version": MANIFEST_VERSION,
        "source": "sessions",
        "parameters": parameters,
        "period": {"start_ms": plan.period_start_ms, "end_ms": plan.period_end_ms},
        "files": [_file_entry(o) for o in outcomes],
        "totals": {
            "files": len(outcomes),
            "ingestible_files": len(ingestible),
            "in_flight_files": len(in_flight),
            "ingestible_records": sum(o.records for o in ingestible),
            "in_flight_records": sum(o.records for o in in_flight),
            "distinct_record_ids": sum(o.new_documents for o in primaries),
            "checkouts": events[EVENT_TYPES[CHECKOUT_COMPLETED]],
            "delivered_checkouts": delivered,
            "malformed_lines": anomalies[MALFORMED_LINE],
            "events_by_type": events,
        },
        "anomalies": anomalies,
        "anomalies_by_record": {name: _sum(primaries, name) for name in RECORD_ANOMALIES},
    }


def write_manifest(out: Path, manifest: dict) -> Path:
    """Write the manifest as pretty JSON under ``out/_manifest``.

    Its modification time is that of the last export, so the whole output is reproducible.
    """
    path = out / MANIFEST_DIR / SESSIONS_MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    last_ns = max(f["mtime_ms"] for f in manifest["files"]) * NS_PER_MS
    os.utime(path, ns=(last_ns, last_ns))
    return path
