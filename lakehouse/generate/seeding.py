"""Independent, reproducible random streams derived from one user seed.

Every piece of generated data draws from its own stream keyed by (seed, stream, index), so a
file's content depends only on the seed and the file, never on which process wrote it or in
which order.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """Names of the random streams; values are part of the output contract (keep them stable)."""

    ZIP_CODES = 1
    CATALOG = 2
    CUSTOMERS = 3
    EXPORT_PLAN = 4
    PRIMARY_FILE = 5
    REEXPORT_FILE = 6
    IN_FLIGHT_FILE = 7


def stream_rng(seed: int, stream: IntEnum, index: int = 0) -> np.random.Generator:
    """A numpy Generator for one stream (and one file index within it)."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([seed, int(stream), index]))
