"""Random streams of the payment feeds, derived from the user seed like the session streams.

Values start above those of ``lakehouse.generate.seeding.Stream`` so that the two generators
never share a stream, whatever seed they are given.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from lakehouse.generate.seeding import stream_rng


class PaymentStream(IntEnum):
    """Names of the payment streams; values are part of the output contract (keep them stable)."""

    ACCOUNTS = 101
    ACCOUNT_CHANGES = 102
    RISK_EVENTS = 103
    TRANSACTIONS = 104
    BURSTS = 105
    FRAUD_LABELS = 106
    FRAUD_CASES = 107
    FILE_PLAN = 108
    TRANSACTION_ANOMALIES = 109
    SNAPSHOT_FILE = 110
    RISK_FILE = 111
    FRAUD_FILE = 112


def payment_rng(seed: int, stream: PaymentStream, index: int = 0) -> np.random.Generator:
    """A numpy Generator for one stream (and one chunk or file index within it)."""
    return stream_rng(seed, stream, index)
