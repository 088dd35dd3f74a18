"""The Gold suites: what a Gold build must satisfy before it is published.

Two kinds of checks, in one suite per table:

- **On the whole build** (``rows="all"``): the contract's columns in order, keys present and
  unique, values in range; against the published version, the row count may not drop by
  more than ``quality.max_row_drop`` and the newest event may not go back in time (freshness).
- **On the new rows** (``rows="new"``: built rows the published version does not have, by key
  and content hash), against the published version: a batch that is valid row by row but
  wrong as a whole shows up here before it is diluted in the table's history. The share of
  nulls in a watched column may rise by at most ``quality.max_null_share_increase`` (half the
  zip codes unknown, a warehouse gone from the reference data), and a watched column's median
  may move by at most a factor of ``quality.max_median_ratio`` (amounts sent in cents). These
  run only when both sides have ``quality.min_rows_for_distribution`` rows or more: a handful
  of rows says nothing about a distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Settings
from lakehouse.contract import DELIVERY_FEATURES_COLUMNS, payments_unified_columns
from lakehouse.quality.expectations import (
    SEVERITY_FAIL,
    SEVERITY_IGNORE,
    SEVERITY_WARN,
    Check,
    reject_unknown_overrides,
    severity_of,
)
from lakehouse.tables import GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED, Table


@dataclass(frozen=True)
class GoldSuite:
    """The rules for one Gold table.

    Attributes:
        table: The table.
        columns: Settings -> the columns the contract fixes, in order.
        key: Its row key (not null, unique).
        ts: Its event time (not null; freshness).
        not_null: More columns that may never be null.
        ranges: Column -> (min, max, severity); None leaves a side open.
        watch_nulls: Column -> severity of a rise of its null share in the new rows.
        watch_medians: Column -> severity of a move of its median in the new rows.
    """

    table: Table
    columns: Callable[[Settings], list[str]]
    key: str
    ts: str
    not_null: tuple[str, ...] = ()
    ranges: Mapping[str, tuple[float | None, float | None, str]] = field(default_factory=dict)
    watch_nulls: Mapping[str, str] = field(default_factory=dict)
    watch_medians: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.table.layer}_{self.table.name}"


@dataclass(frozen=True)
class Baseline:
    """The published version's figures the new build is compared with."""

    version: int
    rows: int
    max_ts: datetime | None
    non_null_share: Mapping[str, float]
    medians: Mapping[str, float | None]


DELIVERY_SUITE = GoldSuite(
    table=GOLD_DELIVERY_FEATURES,
    columns=lambda settings: list(DELIVERY_FEATURES_COLUMNS),
    key="record_id",
    ts="event_ts",
    not_null=("session_id", "order_date", "row_hash"),
    ranges={
        "hour_of_day": (0, 23, SEVERITY_FAIL),
        "day_of_week": (0, 6, SEVERITY_FAIL),  # 0 = Monday
        "day_of_year": (1, 366, SEVERITY_FAIL),
        "item_count": (0, None, SEVERITY_FAIL),
        "order_value": (0, None, SEVERITY_FAIL),
        "total_weight_kg": (0, None, SEVERITY_FAIL),
        "distance_km": (0, 20_100, SEVERITY_FAIL),  # half the Earth's circumference
        "promised_days": (0, None, SEVERITY_WARN),
        "delivery_days": (0, 365, SEVERITY_WARN),
    },
    watch_nulls={
        "zip_code": SEVERITY_FAIL,
        "warehouse_id": SEVERITY_FAIL,
        "distance_km": SEVERITY_FAIL,
        "shipping_method": SEVERITY_WARN,
        "promised_days": SEVERITY_WARN,
    },
    watch_medians={
        "order_value": SEVERITY_FAIL,
        "total_weight_kg": SEVERITY_FAIL,
        "item_count": SEVERITY_WARN,
        "distance_km": SEVERITY_WARN,
    },
)

PAYMENTS_SUITE = GoldSuite(
    table=GOLD_PAYMENTS_UNIFIED,
    columns=lambda settings: [
        *payments_unified_columns(settings.payments.velocity_windows_s),
        "row_hash",
    ],
    key="transaction_id",
    ts="transaction_ts",
    not_null=("amount", "source_account_id", "fraud_flag", "row_hash"),
    ranges={
        "amount": (0, None, SEVERITY_FAIL),
        "hour_of_day": (0, 23, SEVERITY_FAIL),
        "day_of_week": (0, 6, SEVERITY_FAIL),  # 0 = Monday
    },
    # account details may arrive after their transactions: a rise is worth a look, not a block
    watch_nulls={"src_account_type": SEVERITY_WARN, "merchant_category": SEVERITY_WARN},
    watch_medians={"amount": SEVERITY_FAIL},
)

GOLD_SUITES: dict[Table, GoldSuite] = {s.table: s for s in (DELIVERY_SUITE, PAYMENTS_SUITE)}


def baseline(published: DataFrame, suite: GoldSuite, version: int) -> Baseline:
    """The published version's row count, newest event, null shares and medians (one job)."""
    aggs = [F.count(F.lit(1)).alias("_rows"), F.max(suite.ts).alias("_max_ts")]
    aggs += [F.count(c).alias(f"_nn_{c}") for c in suite.watch_nulls]
    aggs += [
        F.percentile_approx(F.col(c).cast("double"), 0.5).alias(f"_med_{c}")
        for c in suite.watch_medians
    ]
    row = published.agg(*aggs).first()
    rows = row["_rows"]
    return Baseline(
        version=version,
        rows=rows,
        max_ts=row["_max_ts"],
        non_null_share={c: row[f"_nn_{c}"] / rows if rows else 1.0 for c in suite.watch_nulls},
        medians={c: row[f"_med_{c}"] for c in suite.watch_medians},
    )


def check_names(suite: GoldSuite) -> set[str]:
    """Every check name the suite can produce (what ``quality.severity`` may name)."""
    names = {"columns", f"{suite.key}_not_null", f"{suite.key}_unique", f"{suite.ts}_not_null"}
    names |= {f"{c}_not_null" for c in suite.not_null}
    names |= {f"{c}_range" for c in suite.ranges}
    names |= {"row_count_vs_published", "freshness_vs_published"}
    names |= {f"{c}_nulls_vs_published" for c in suite.watch_nulls}
    names |= {f"{c}_median_vs_published" for c in suite.watch_medians}
    return names


def build_checks(
    suite: GoldSuite,
    settings: Settings,
    base: Baseline | None,
    new_rows: int,
) -> tuple[list[Check], list[Check]]:
    """(checks on the whole build, checks on the new rows), severities as configured.

    Args:
        suite: The table's rules.
        settings: The run's settings (``quality``: thresholds, severity overrides).
        base: The published version's figures (None: nothing published yet).
        new_rows: How many built rows the published version does not have.
    """
    import great_expectations.expectations as gxe

    quality = settings.quality
    reject_unknown_overrides(quality, suite.table.key, check_names(suite))
    whole: list[Check] = []
    new: list[Check] = []

    def add(target: list[Check], name: str, expectation, default: str, rows: str) -> None:
        severity = severity_of(quality, suite.table.key, name, default)
        if severity != SEVERITY_IGNORE:
            target.append(Check(name, expectation, severity, rows))

    columns = gxe.ExpectTableColumnsToMatchOrderedList(column_list=suite.columns(settings))
    add(whole, "columns", columns, SEVERITY_FAIL, "all")
    for column in (suite.key, suite.ts, *suite.not_null):
        add(
            whole,
            f"{column}_not_null",
            gxe.ExpectColumnValuesToNotBeNull(column=column),
            SEVERITY_FAIL,
            "all",
        )
    add(
        whole,
        f"{suite.key}_unique",
        gxe.ExpectColumnValuesToBeUnique(column=suite.key),
        SEVERITY_FAIL,
        "all",
    )
    for column, (low, high, default) in suite.ranges.items():
        add(
            whole,
            f"{column}_range",
            gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high),
            default,
            "all",
        )
    if base is None:
        return whole, new
    enough = quality.min_rows_for_distribution
    if base.rows >= enough:
        least = int(base.rows * (1 - quality.max_row_drop))
        add(
            whole,
            "row_count_vs_published",
            gxe.ExpectTableRowCountToBeBetween(min_value=least),
            SEVERITY_FAIL,
            "all",
        )
    if base.max_ts is not None:
        add(
            whole,
            "freshness_vs_published",
            gxe.ExpectColumnMaxToBeBetween(column=suite.ts, min_value=base.max_ts),
            SEVERITY_FAIL,
            "all",
        )
    if base.rows < enough or new_rows < enough:
        return whole, new
    for column, default in suite.watch_nulls.items():
        mostly = max(0.0, base.non_null_share[column] - quality.max_null_share_increase)
        if mostly > 0:
            add(
                new,
                f"{column}_nulls_vs_published",
                gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=round(mostly, 6)),
                default,
                "new",
            )
    ratio = quality.max_median_ratio
    for column, default in suite.watch_medians.items():
        median = base.medians[column]
        if median is not None and median > 0:
            add(
                new,
                f"{column}_median_vs_published",
                gxe.ExpectColumnMedianToBeBetween(
                    column=column, min_value=median / ratio, max_value=median * ratio
                ),
                default,
                "new",
            )
    return whole, new
