"""Anomalies of real payment extracts, and how they change a file or its values.

File anomalies (each file, at the anomaly rate): columns in another order, one column renamed
to an upstream alias, one non-key column missing, a UTF-8 byte order mark; and extra files that
hold only the header. Row anomalies (each row, at the anomaly rate): a value of the wrong type,
a bad timestamp, a free-text value with quoted commas, quotes and a line break; for
transactions also negative amounts, unknown account ids and duplicate rows.

A row anomaly is counted where it is visible: in a file that lacks its column it neither
applies nor counts. Ids are never touched, so every row stays recognisable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.generate.payments.contract import (
    ACCOUNTS,
    COLUMN_ALIASES,
    FRAUD_CASES,
    RISK,
    TRANSACTIONS,
    FeedSpec,
)
from lakehouse.generate.payments.formats import csv_quoted

REORDERED_COLUMNS = "reordered_columns"
RENAMED_COLUMN = "renamed_column"
MISSING_COLUMN = "missing_column"
BOM = "bom"
HEADER_ONLY_FILE = "header_only_file"
FILE_ANOMALIES = (REORDERED_COLUMNS, RENAMED_COLUMN, MISSING_COLUMN, BOM, HEADER_ONLY_FILE)
WRONG_TYPE = "wrong_type"
BAD_TIMESTAMP = "bad_timestamp"
QUOTED_NEWLINE = "quoted_newline"
NEGATIVE_AMOUNT = "negative_amount"
UNKNOWN_ACCOUNT = "unknown_account"
DUPLICATE_TRANSACTION = "duplicate_transaction"
VALUE_ANOMALIES = (WRONG_TYPE, BAD_TIMESTAMP, QUOTED_NEWLINE)
ROW_ANOMALIES = (*VALUE_ANOMALIES, NEGATIVE_AMOUNT, UNKNOWN_ACCOUNT, DUPLICATE_TRANSACTION)
ALL_ANOMALIES = (*FILE_ANOMALIES, *ROW_ANOMALIES)
ANOMALIES_BY_FEED = {
    TRANSACTIONS: ALL_ANOMALIES,
    ACCOUNTS: (*FILE_ANOMALIES, *VALUE_ANOMALIES),
    RISK: (*FILE_ANOMALIES, *VALUE_ANOMALIES),
    FRAUD_CASES: (*FILE_ANOMALIES, BAD_TIMESTAMP),
}

UTF8_BOM = "\ufeff".encode()
# A decimal written with a comma (``12,50``): the value itself, in a European locale.
COMMA_DECIMAL = object()
WRONG_TYPE_VALUES = {
    "amount": ("N/A", COMMA_DECIMAL, "abc"),
    "risk_score": ("N/A", COMMA_DECIMAL, "abc"),
    "created_date": ("N/A", "abc", "unknown"),
}
NOT_A_TIME = "not-a-time"
# Written over the month and day of a real timestamp: 2024-02-30T10:00:00Z.
IMPOSSIBLE_MONTH_DAY = "02-30"
MONTH_DAY_SLICE = (5, 10)
EMPTY = ""
BAD_TIMESTAMP_VARIANTS = (NOT_A_TIME, IMPOSSIBLE_MONTH_DAY, EMPTY)
QUOTED_TEXT_SUFFIX = ', see "notes"\nsecond line, continued'
NO_ANOMALY = -1


@dataclass(frozen=True)
class FileLayout:
    """How a file writes its header: which columns, in which order, under which names."""

    columns: tuple[str, ...]  # canonical names, in written order
    header: tuple[str, ...]  # names as written
    renamed: tuple[tuple[str, str], ...]  # (canonical, alias)
    missing: tuple[str, ...]
    is_reordered: bool
    has_bom: bool

    @classmethod
    def canonical(cls, spec: FeedSpec) -> FileLayout:
        """The contract's layout: every column, in order, no BOM."""
        return cls(spec.columns, spec.columns, (), (), False, False)

    @property
    def anomalies(self) -> dict[str, int]:
        """File anomalies this layout carries (0 or 1 each)."""
        return {
            REORDERED_COLUMNS: int(self.is_reordered),
            RENAMED_COLUMN: int(bool(self.renamed)),
            MISSING_COLUMN: int(bool(self.missing)),
            BOM: int(self.has_bom),
        }


def draw_layout(rng: np.random.Generator, spec: FeedSpec, rate: float) -> FileLayout:
    """A file layout with each file anomaly at ``rate``; always draws the same numbers."""
    u = rng.random(4)
    drop = spec.droppable[rng.integers(0, len(spec.droppable))]
    rename = spec.renamable[rng.integers(0, len(spec.renamable))]
    alias_pick = rng.integers(0, len(COLUMN_ALIASES[rename]))
    columns = [c for c in spec.columns if not (u[0] < rate and c == drop)]
    permutation = rng.permutation(len(columns))
    if u[1] < rate:
        if (permutation == np.arange(len(columns))).all():
            permutation = np.roll(permutation, 1)
        columns = [columns[i] for i in permutation]
    renamed = ((rename, COLUMN_ALIASES[rename][alias_pick]),) if u[2] < rate else ()
    aliases = dict(renamed)
    return FileLayout(
        columns=tuple(columns),
        header=tuple(aliases.get(c, c) for c in columns),
        renamed=renamed,
        missing=(drop,) if u[0] < rate else (),
        is_reordered=bool(u[1] < rate),
        has_bom=bool(u[3] < rate),
    )


@dataclass(frozen=True, eq=False)
class ValueAnomalies:
    """Per-row variant of each value anomaly (NO_ANOMALY where the row has none)."""

    wrong_type: np.ndarray
    bad_timestamp: np.ndarray
    quoted_newline: np.ndarray

    def take(self, rows: np.ndarray) -> ValueAnomalies:
        """The anomalies of some rows, in that order."""
        return ValueAnomalies(
            self.wrong_type[rows], self.bad_timestamp[rows], self.quoted_newline[rows]
        )


def draw_value_anomalies(
    rng: np.random.Generator, n: int, rate: float, spec: FeedSpec, typed_u: np.ndarray | None = None
) -> ValueAnomalies:
    """Value anomalies of ``n`` rows, each at ``rate``, only where the feed has the column.

    Args:
        typed_u: uniform numbers deciding the wrong-type rows (below ``rate``), when the caller
            shares them with an exclusive anomaly of the same column (negative amounts).
    """
    typed_u = rng.random(n) if typed_u is None else typed_u
    u_time, u_text = rng.random(n), rng.random(n)
    wrong_values = WRONG_TYPE_VALUES.get(spec.typed_column, ())
    wrong = rng.integers(0, max(len(wrong_values), 1), n)
    bad = rng.integers(0, len(BAD_TIMESTAMP_VARIANTS), n)
    return ValueAnomalies(
        wrong_type=np.where((typed_u < rate) & bool(wrong_values), wrong, NO_ANOMALY),
        bad_timestamp=np.where(u_time < rate, bad, NO_ANOMALY),
        quoted_newline=np.where((u_text < rate) & (spec.text_column is not None), 0, NO_ANOMALY),
    )


def _apply_variants(values: pa.Array, codes: np.ndarray, variants: list) -> tuple[pa.Array, int]:
    changed = 0
    for code, variant in enumerate(variants):
        mask = codes == code
        if mask.any():
            values = pc.if_else(pa.array(mask), variant, values)
            changed += int(mask.sum())
    return (csv_quoted(values) if changed else values), changed


def apply_value_anomalies(
    columns: dict[str, pa.Array], spec: FeedSpec, layout: FileLayout, anomalies: ValueAnomalies
) -> dict[str, int]:
    """Rewrite the affected values of ``columns`` in place; return what became visible."""
    counts = dict.fromkeys(VALUE_ANOMALIES, 0)
    present = set(layout.columns)
    if spec.typed_column in present:
        values = columns[spec.typed_column]
        variants = [
            pc.replace_substring(values, ".", ",") if v is COMMA_DECIMAL else pa.scalar(v)
            for v in WRONG_TYPE_VALUES[spec.typed_column]
        ]
        columns[spec.typed_column], counts[WRONG_TYPE] = _apply_variants(
            values, anomalies.wrong_type, variants
        )
    if spec.timestamp_column in present:
        values = columns[spec.timestamp_column]
        variants = [
            pc.utf8_replace_slice(values, *MONTH_DAY_SLICE, v) if v == IMPOSSIBLE_MONTH_DAY
            else pa.scalar(v)
            for v in BAD_TIMESTAMP_VARIANTS
        ]  # fmt: skip
        columns[spec.timestamp_column], counts[BAD_TIMESTAMP] = _apply_variants(
            values, anomalies.bad_timestamp, variants
        )
    if spec.text_column in present:
        values = columns[spec.text_column]
        variants = [pc.binary_join_element_wise(values, QUOTED_TEXT_SUFFIX, "")]
        columns[spec.text_column], counts[QUOTED_NEWLINE] = _apply_variants(
            values, anomalies.quoted_newline, variants
        )
    return counts
