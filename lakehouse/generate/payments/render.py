"""Assemble CSV files from rendered columns and write them with their delivery time."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.generate.payments.anomalies import UTF8_BOM, FileLayout

CSV_SEPARATOR = ","
CSV_LINE_TERMINATOR = "\n"
NS_PER_MS = 1_000_000


def _concatenated_bytes(lines: pa.Array) -> bytes:
    """All values of a string array back to back, straight from its data buffer."""
    if isinstance(lines, pa.ChunkedArray):
        lines = pa.concat_arrays(lines.chunks)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return lines.buffers()[2][first:last].to_pybytes()


def render_csv(columns: dict[str, pa.Array], layout: FileLayout, rows: int) -> bytes:
    """A CSV file: optional BOM, the header as the layout writes it, then one line per row.

    Values must already be CSV-safe (quoted where needed); header names never need quotes.
    """
    head = (UTF8_BOM if layout.has_bom else b"") + (
        CSV_SEPARATOR.join(layout.header) + CSV_LINE_TERMINATOR
    ).encode("utf-8")
    if rows == 0:
        return head
    lines = pc.binary_join_element_wise(*(columns[c] for c in layout.columns), CSV_SEPARATOR)
    lines = pc.binary_join_element_wise(lines, CSV_LINE_TERMINATOR, "")
    return head + _concatenated_bytes(lines)


def write_file(root: Path, relative_path: str, content: bytes, mtime_ms: int) -> None:
    """Write one landing file and set its modification time to its delivery time."""
    path = root / relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, ns=(mtime_ms * NS_PER_MS, mtime_ms * NS_PER_MS))
