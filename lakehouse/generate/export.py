"""Serialise documents into one of the three Elasticsearch export shapes and write the file."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import orjson

from lakehouse.generate.anomalies import ANOMALY_BIT, MISSING_ID_IN_HIT, count_anomalies
from lakehouse.generate.delivery import MS_PER_DAY
from lakehouse.generate.plan import HIT_SHAPES, NDJSON_SHAPES, SEARCH_RESPONSE, SOURCE_NDJSON

INDEX_PREFIX = "sessions-"
HIT_SCORE = 1.0
# Range of the "took" milliseconds reported by the search API.
SEARCH_TOOK_MS_RANGE = (2, 60)
# A malformed line keeps this share of a real line: a write cut off mid-document.
TRUNCATED_SHARE_RANGE = (0.3, 0.8)
GZIP_LEVEL = 6
NS_PER_MS = 1_000_000


class ExportRecord(NamedTuple):
    """A document ready for export, with its id, target index and anomaly mask."""

    source: dict
    record_id: str
    index_name: str
    anomaly_mask: int


@dataclass(frozen=True)
class RenderedExport:
    """File content plus exact counts of what it holds."""

    content: bytes
    records: int
    malformed_lines: int
    anomalies: dict[str, int]


def index_names(event_ms: np.ndarray) -> list[str]:
    """Daily index name (``sessions-YYYY.MM.DD``) of each event time."""
    days = np.datetime_as_string((np.asarray(event_ms) // MS_PER_DAY).astype("datetime64[D]"))
    return [INDEX_PREFIX + d.replace("-", ".") for d in days.tolist()]


def _hit(record: ExportRecord, drop_id: bool) -> dict:
    source = record.source
    if drop_id:
        source = {k: v for k, v in source.items() if k != "id"}
    return {
        "_index": record.index_name,
        "_id": record.record_id,
        "_score": HIT_SCORE,
        "_source": source,
    }


def render_export(
    records: list[ExportRecord],
    shape: str,
    rng: np.random.Generator,
    anomaly_rate: float,
    *,
    may_drop_ids: bool,
) -> RenderedExport:
    """Serialise ``records`` in ``shape``, injecting the export-level anomalies.

    Args:
        records: what to export, in file order.
        shape: one of the export shapes of ``lakehouse.generate.plan``.
        rng: the random stream of this file.
        anomaly_rate: probability of a truncated extra line before each NDJSON line, and of a
            hit whose ``_source`` lacks ``id``.
        may_drop_ids: whether hits may lose ``_source.id`` (never for re-exported copies,
            which must stay identical to the original document).
    """
    n = len(records)
    can_drop_ids = shape in HIT_SHAPES and may_drop_ids
    drop_id = (rng.random(n) < anomaly_rate) & can_drop_ids
    masks = np.array([r.anomaly_mask for r in records], dtype=np.int64)
    masks[drop_id] |= ANOMALY_BIT[MISSING_ID_IN_HIT]
    if shape == SOURCE_NDJSON:
        objects = [r.source for r in records]
    else:
        objects = [_hit(r, bool(d)) for r, d in zip(records, drop_id, strict=True)]
    malformed = 0
    if shape == SEARCH_RESPONSE:
        response = {
            "took": int(rng.integers(*SEARCH_TOOK_MS_RANGE)),
            "timed_out": False,
            "hits": {
                "total": {"value": n, "relation": "eq"},
                "max_score": HIT_SCORE,
                "hits": objects,
            },
        }
        content = orjson.dumps(response, option=orjson.OPT_INDENT_2) + b"\n"
    elif shape in NDJSON_SHAPES:
        lines = [orjson.dumps(o) for o in objects]
        is_malformed = rng.random(n) < anomaly_rate
        shares = rng.uniform(*TRUNCATED_SHARE_RANGE, n)
        out: list[bytes] = []
        for line, bad, share in zip(lines, is_malformed, shares, strict=True):
            if bad:
                out.append(line[: max(1, int(len(line) * share))])
            out.append(line)
        malformed = int(is_malformed.sum())
        content = b"\n".join(out) + b"\n" if out else b""
    else:
        raise ValueError(f"unknown export shape {shape!r}")
    return RenderedExport(content, n + malformed, malformed, count_anomalies(masks))


def write_export(root: Path, relative_path: str, content: bytes, *, is_gzip: bool, mtime_ms: int):
    """Write one export file (gzip without a timestamp) and set its modification time."""
    path = root / relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_gzip:
        content = gzip.compress(content, compresslevel=GZIP_LEVEL, mtime=0)
    path.write_bytes(content)
    os.utime(path, ns=(mtime_ms * NS_PER_MS, mtime_ms * NS_PER_MS))
