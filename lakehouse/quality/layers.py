"""The Bronze and Silver suites: what each ingested or merged micro-batch is checked for.

Bronze and Silver hold data back from no one: Bronze keeps every record as it came, and
Silver's per-row reasons decide which rows enter it (the rest are quarantined with their
reason). Their suites look at a batch as a whole, after it is written, and record what they
saw in ``audit/expectations``; a failed ``fail`` check fails the run's gate (exit 65 while
``quality.fail_on_error`` holds). Gold is where a build is held back (``quality.gold``).

- **Bronze** (the batch's rows as appended): the contract's columns are there, every row names
  its file and batch, and the share of records that could not be parsed is at most
  ``quality.max_malformed_share`` (a feed that switched format shows here first).
- **Silver** (the batch's typed rows, one per key, as merged): the contract's columns,
  keys present and unique, values valid (ranges, sets, one time after another), and
  **referential checks** against reference data: the share of a column's values that the
  reference table knows must be at least ``quality.min_reference_share`` (zip codes against
  ``silver/zip_codes``, account ids against ``silver/account_changes``). A reference table
  that does not exist yet is not checked against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config import QualitySettings, Settings
from lakehouse.contract import EVENT_TYPES, PAYMENT_FEEDS
from lakehouse.io.delta import is_delta_table, read_table
from lakehouse.quality.expectations import (
    SEVERITY_FAIL,
    SEVERITY_IGNORE,
    SEVERITY_WARN,
    Check,
    Validation,
    reject_unknown_overrides,
    run_checks,
    severity_of,
)
from lakehouse.tables import (
    BRONZE_SESSIONS,
    SILVER_ACCOUNT_CHANGES,
    SILVER_FRAUD_CASE_HISTORY,
    SILVER_RISK_EVENTS,
    SILVER_SESSIONS,
    SILVER_TRANSACTIONS,
    SILVER_WAREHOUSES,
    SILVER_ZIP_CODES,
    Table,
)

MALFORMED_COLUMN = "is_malformed"


@dataclass(frozen=True)
class Reference:
    """Values of ``column`` should be keys of ``table`` (its ``key`` column)."""

    column: str
    table: Table
    key: str
    severity: str = SEVERITY_WARN

    @property
    def check(self) -> str:
        return f"{self.column}_in_{self.table.name}"

    @property
    def flag(self) -> str:
        """The helper column the check reads: true when known, false when not, null for a
        null value (which no reference can know: the not-null checks judge those)."""
        return f"_{self.check}"


@dataclass(frozen=True)
class BatchSuite:
    """The rules for one Bronze or Silver table's batches.

    Attributes:
        table: The table.
        keys: The row key: each column not null, the combination unique.
        not_null: More columns that may never be null.
        ranges: Column -> (min, max, severity); None leaves a side open.
        value_sets: Column -> (allowed values, severity).
        ordered: (later, earlier, severity): ``later >= earlier`` wherever both are set.
        parse_rate: Check the share of malformed records (``is_malformed``).
        references: Referential checks against reference tables.
    """

    table: Table
    keys: tuple[str, ...] = ()
    not_null: tuple[str, ...] = ()
    ranges: Mapping[str, tuple[float | None, float | None, str]] = field(default_factory=dict)
    value_sets: Mapping[str, tuple[tuple, str]] = field(default_factory=dict)
    ordered: tuple[tuple[str, str, str], ...] = ()
    parse_rate: bool = False
    references: tuple[Reference, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.table.layer}_{self.table.name}"

    @property
    def key_check(self) -> str:
        return f"{self.keys[0]}_unique" if len(self.keys) == 1 else "key_unique"


def check_names(suite: BatchSuite) -> set[str]:
    """Every check name the suite can produce (what ``quality.severity`` may name)."""
    names = {"columns"} | {f"{c}_not_null" for c in (*suite.keys, *suite.not_null)}
    names |= {suite.key_check} if suite.keys else set()
    names |= {f"{c}_range" for c in suite.ranges}
    names |= {f"{c}_in_set" for c in suite.value_sets}
    names |= {f"{later}_not_before_{earlier}" for later, earlier, _ in suite.ordered}
    names |= {"parse_rate"} if suite.parse_rate else set()
    names |= {r.check for r in suite.references}
    return names


def build_checks(
    suite: BatchSuite,
    quality: QualitySettings,
    columns: list[str],
    references: set[str] | None = None,
) -> list[Check]:
    """The suite's checks, severities as configured.

    Args:
        suite: The table's rules.
        quality: Thresholds and severity overrides.
        columns: The columns the table's contract fixes (a batch may have more: Bronze keeps
            what it meets).
        references: The referential checks to include (their reference table exists); None
            includes every one.
    """
    import great_expectations.expectations as gxe

    reject_unknown_overrides(quality, suite.table.key, check_names(suite))
    checks: list[Check] = []

    def add(name: str, expectation, default: str = SEVERITY_FAIL) -> None:
        severity = severity_of(quality, suite.table.key, name, default)
        if severity != SEVERITY_IGNORE:
            checks.append(Check(name, expectation, severity, "batch"))

    add("columns", gxe.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=False))
    for column in (*suite.keys, *suite.not_null):
        add(f"{column}_not_null", gxe.ExpectColumnValuesToNotBeNull(column=column))
    if len(suite.keys) == 1:
        add(suite.key_check, gxe.ExpectColumnValuesToBeUnique(column=suite.keys[0]))
    elif suite.keys:
        add(suite.key_check, gxe.ExpectCompoundColumnsToBeUnique(column_list=list(suite.keys)))
    for column, (low, high, default) in suite.ranges.items():
        between = gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)
        add(f"{column}_range", between, default)
    for column, (values, default) in suite.value_sets.items():
        in_set = gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values))
        add(f"{column}_in_set", in_set, default)
    for later, earlier, default in suite.ordered:
        pair = gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=later,
            column_B=earlier,
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        )
        add(f"{later}_not_before_{earlier}", pair, default)
    if suite.parse_rate and quality.max_malformed_share < 1:
        parsed = gxe.ExpectColumnValuesToBeInSet(
            column=MALFORMED_COLUMN,
            value_set=[False],
            mostly=round(1 - quality.max_malformed_share, 6),
        )
        add("parse_rate", parsed, SEVERITY_WARN)
    for ref in suite.references:
        if (references is None or ref.check in references) and quality.min_reference_share > 0:
            known = gxe.ExpectColumnValuesToBeInSet(
                column=ref.flag, value_set=[True], mostly=quality.min_reference_share
            )
            add(ref.check, known, ref.severity)
    return checks


def reference_flags(
    spark: SparkSession, settings: Settings, suite: BatchSuite, df: DataFrame
) -> tuple[DataFrame | None, set[str]]:
    """One flag column per referential check whose reference table exists (read at its
    latest version; its keys are few, so adaptive execution broadcasts them), one row per
    row of ``df``, nothing else (a narrow frame to cache); and the names of those checks.
    None when no reference table exists."""
    refs = [r for r in suite.references if is_delta_table(spark, settings.table_path(*r.table))]
    if not refs:
        return None, set()
    flags = df.select(*sorted({r.column for r in refs}))
    for ref in refs:
        found = f"{ref.flag}_key"
        keys = (
            read_table(spark, settings.table_path(*ref.table))
            .select(F.col(ref.key).cast("string").alias(found))
            .where(F.col(found).isNotNull())
            .distinct()
        )
        flags = (
            flags.join(keys, F.col(ref.column).cast("string") == F.col(found), "left")
            .withColumn(
                ref.flag,
                F.when(F.col(ref.column).isNull(), F.lit(None)).otherwise(F.col(found).isNotNull()),
            )
            .drop(found)
        )
    return flags.select(*[r.flag for r in refs]), {r.check for r in refs}


def validate_batch(
    spark: SparkSession,
    settings: Settings,
    suite: BatchSuite,
    df: DataFrame,
    columns: list[str],
) -> list[Validation]:
    """Run ``suite`` on one batch's rows (``df``, persisted by the caller when it is costly
    to compute; ``columns``, the table's contract).

    Two validations at most: the table's own checks on ``df``, and the referential checks
    (suite ``<name>_references``) on a cached frame of their flags, so that the joins with
    the reference tables run once, not once per metric GX computes.
    """
    flags, present = reference_flags(spark, settings, suite, df)
    checks = build_checks(suite, settings.quality, columns, present)
    validations = [run_checks(df, [c for c in checks if c.name not in present], suite.name)]
    if flags is not None:
        flags = flags.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            mine = [c for c in checks if c.name in present]
            validations.append(run_checks(flags, mine, f"{suite.name}_references"))
        finally:
            flags.unpersist()
    return [v for v in validations if v is not None]


# Bronze: every record names its file and batch; the parse rate shows a feed gone wrong. (The
# raw record is not checked here: it is the largest column by far, reading it again would
# cost more than the rest of the suite, and every Bronze writer sets it.)
_BRONZE_NOT_NULL = ("_source_file", "_batch_id")

BRONZE_SUITES: dict[Table, BatchSuite] = {
    table: BatchSuite(table=table, not_null=_BRONZE_NOT_NULL, parse_rate=True)
    for table in (BRONZE_SESSIONS, *(Table("bronze", feed) for feed in PAYMENT_FEEDS))
}

_ACCOUNTS = Reference("account_id", SILVER_ACCOUNT_CHANGES, "account_id")

SILVER_SUITES: dict[Table, BatchSuite] = {
    s.table: s
    for s in (
        BatchSuite(
            table=SILVER_SESSIONS,
            keys=("record_id",),
            not_null=("event_ts", "event_type", "record_hash"),
            value_sets={"event_type": (EVENT_TYPES, SEVERITY_FAIL)},
            ordered=(("delivered_ts", "event_ts", SEVERITY_WARN),),
            references=(
                Reference("zip_code", SILVER_ZIP_CODES, "zip_code"),
                Reference("warehouse_id", SILVER_WAREHOUSES, "warehouse_id"),
            ),
        ),
        BatchSuite(
            table=SILVER_TRANSACTIONS,
            keys=("transaction_id",),
            not_null=("transaction_ts", "amount", "source_account_id"),
            ranges={"amount": (0, None, SEVERITY_FAIL)},
            # accounts may be delivered after their transactions: worth a look, not a failure
            references=(Reference("source_account_id", SILVER_ACCOUNT_CHANGES, "account_id"),),
        ),
        BatchSuite(table=SILVER_ACCOUNT_CHANGES, keys=("account_id", "updated_at")),
        BatchSuite(
            table=SILVER_RISK_EVENTS,
            keys=("account_id", "effective_ts"),
            not_null=("risk_flag",),
            value_sets={"risk_flag": ((0, 1), SEVERITY_FAIL)},
            references=(_ACCOUNTS,),
        ),
        BatchSuite(
            table=SILVER_FRAUD_CASE_HISTORY,
            keys=("transaction_id", "status", "reported_ts"),
            # a case may name a transaction older than the lake, or one not delivered yet
            references=(Reference("transaction_id", SILVER_TRANSACTIONS, "transaction_id"),),
        ),
    )
}
