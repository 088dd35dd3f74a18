"""The export timeline: which files exist, what they hold, how they are named and when written.

The period is cut into equal windows, one primary export per window, taken a little after the
window closes. Between two primary exports a re-export file may carry documents exported again
(duplicates, and checkouts whose parcel has arrived since). In-flight uploads come last.
File modification times follow this order strictly, in whole seconds.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from lakehouse.generate.delivery import MS_PER_DAY, MS_PER_HOUR, MS_PER_SECOND
from lakehouse.generate.seeding import Stream, stream_rng
from lakehouse.generate.sessions import MAX_SESSION_SPAN_MS

SESSIONS_DIR = "sessions"
HITS_NDJSON = "hits_ndjson"
SEARCH_RESPONSE = "search_response"
SOURCE_NDJSON = "source_ndjson"
SHAPES = (HITS_NDJSON, SEARCH_RESPONSE, SOURCE_NDJSON)
HIT_SHAPES = frozenset({HITS_NDJSON, SEARCH_RESPONSE})
NDJSON_SHAPES = frozenset({HITS_NDJSON, SOURCE_NDJSON})
EXTENSION_BY_SHAPE = {HITS_NDJSON: ".ndjson", SEARCH_RESPONSE: ".json", SOURCE_NDJSON: ".ndjson"}
GZIP_EXTENSION = ".gz"
GZIP_SHARE = 0.25

PRIMARY = "primary"
REEXPORT = "reexport"
IN_FLIGHT = "in_flight"
# Exports run this long after their window closes, later than any session of the window ends.
EXPORT_LAG_MS = 3 * MS_PER_HOUR
MIN_WINDOW_MS = 60 * MS_PER_SECOND
IN_FLIGHT_FILE_COUNT = 3
IN_FLIGHT_SPACING_MS = 60 * MS_PER_SECOND
IN_FLIGHT_SHARE_OF_FILE = 0.1
FILE_NAME = "export-{sequence:06d}{extension}"
IN_FLIGHT_FILE_NAMES = (
    "_export-{sequence:06d}{extension}.tmp",
    ".export-{sequence:06d}{extension}",
    "_export-{sequence:06d}{extension}",
)

if EXPORT_LAG_MS <= MAX_SESSION_SPAN_MS:
    raise AssertionError("an export must not start before the sessions of its window end")


@dataclass(frozen=True)
class PlannedFile:
    """One export file of the landing zone."""

    role: str
    index: int
    path: str
    shape: str
    is_gzip: bool
    mtime_ms: int
    documents: int = 0
    window_start_ms: int = 0
    window_end_ms: int = 0

    @property
    def is_in_flight(self) -> bool:
        return self.role == IN_FLIGHT


@dataclass(frozen=True)
class ExportPlan:
    """All files in export order, plus the simulated period."""

    primaries: tuple[PlannedFile, ...]
    reexports: tuple[PlannedFile, ...]
    in_flight: tuple[PlannedFile, ...]
    period_start_ms: int
    period_end_ms: int

    def reexport_slot(self, target_ms: np.ndarray) -> np.ndarray:
        """Re-export file for documents exported again at ``target_ms``: the first at or after."""
        primary_exports = np.array([f.mtime_ms for f in self.primaries])
        slot = np.searchsorted(primary_exports, target_ms, side="left")
        return np.minimum(slot, len(self.primaries) - 1)


def epoch_ms(day: dt.date) -> int:
    """Midnight UTC of ``day`` in epoch milliseconds."""
    return (day - dt.date(1970, 1, 1)).days * MS_PER_DAY


def _relative_path(name: str, mtime_ms: int) -> str:
    day = dt.date(1970, 1, 1) + dt.timedelta(days=mtime_ms // MS_PER_DAY)
    return f"{SESSIONS_DIR}/{day:%Y/%m/%d}/{name}"


def _extension(shape: str, is_gzip: bool) -> str:
    return EXTENSION_BY_SHAPE[shape] + (GZIP_EXTENSION if is_gzip else "")


def _shapes_and_gzip(rng: np.random.Generator, count: int) -> tuple[list[str], np.ndarray]:
    # A shuffled round robin keeps the three shapes at a third each, even with few files.
    shapes = [SHAPES[k] for k in rng.permutation(np.arange(count) % len(SHAPES))]
    return shapes, rng.random(count) < GZIP_SHARE


def build_export_plan(
    *, documents: int, docs_per_file: int, start: dt.date, days: int, seed: int
) -> ExportPlan:
    """Plan every export file; depends only on the arguments."""
    files = math.ceil(documents / docs_per_file)
    period_start, period_end = epoch_ms(start), epoch_ms(start + dt.timedelta(days=days))
    period_seconds = (period_end - period_start) // MS_PER_SECOND
    bounds = [period_start + period_seconds * j // files * MS_PER_SECOND for j in range(files + 1)]
    if min(b - a for a, b in pairwise(bounds)) < MIN_WINDOW_MS:
        raise ValueError(f"{files} files over {days} days leave under a minute per export")
    rng = stream_rng(seed, Stream.EXPORT_PLAN)
    shapes, gz = _shapes_and_gzip(rng, files)
    re_shapes, re_gz = _shapes_and_gzip(rng, files)
    in_shapes, in_gz = _shapes_and_gzip(rng, IN_FLIGHT_FILE_COUNT)

    # Sequence numbers follow export order: primary j is 2j, its re-export slot 2j + 1 (a slot
    # without documents writes no file), and in-flight uploads come after all of them.
    primaries, reexports = [], []
    for j in range(files):
        export_ms = bounds[j + 1] + EXPORT_LAG_MS
        window_ms = bounds[j + 1] - bounds[j]
        reexport_ms = export_ms + window_ms // 2 // MS_PER_SECOND * MS_PER_SECOND
        name = FILE_NAME.format(sequence=2 * j, extension=_extension(shapes[j], gz[j]))
        count = min(docs_per_file, documents - j * docs_per_file)
        primaries.append(
            PlannedFile(
                PRIMARY,
                j,
                _relative_path(name, export_ms),
                shapes[j],
                bool(gz[j]),
                export_ms,
                count,
                bounds[j],
                bounds[j + 1],
            )
        )
        name = FILE_NAME.format(sequence=2 * j + 1, extension=_extension(re_shapes[j], re_gz[j]))
        reexports.append(
            PlannedFile(
                REEXPORT,
                j,
                _relative_path(name, reexport_ms),
                re_shapes[j],
                bool(re_gz[j]),
                reexport_ms,
            )
        )

    last = primaries[-1]
    in_flight_docs = max(1, math.ceil(min(docs_per_file, documents) * IN_FLIGHT_SHARE_OF_FILE))
    in_flight = []
    for k in range(IN_FLIGHT_FILE_COUNT):
        mtime = last.mtime_ms + (last.window_end_ms - last.window_start_ms)
        mtime += (k + 1) * IN_FLIGHT_SPACING_MS
        pattern = IN_FLIGHT_FILE_NAMES[k % len(IN_FLIGHT_FILE_NAMES)]
        name = pattern.format(sequence=2 * files + k, extension=_extension(in_shapes[k], in_gz[k]))
        in_flight.append(
            PlannedFile(
                IN_FLIGHT,
                k,
                _relative_path(name, mtime),
                in_shapes[k],
                bool(in_gz[k]),
                mtime,
                in_flight_docs,
                last.window_start_ms,
                last.window_end_ms,
            )
        )
    return ExportPlan(
        tuple(primaries), tuple(reexports), tuple(in_flight), period_start, period_end
    )
