"""Gold: ``payments_unified``, one row per transaction, point in time (CONTRACT section 2.1).

Nothing a row says was unknown at its ``transaction_ts``:
- account attributes and risk flags come from the version valid at that instant
  (``valid_from <= ts < valid_to``), joined on the account id with the interval as a join
  condition (a sort-merge join on the key, never a cross join filtered afterwards);
- velocity, first-pair and amount-deviation features look only at the source account's
  transactions strictly before this one;
- labels count only fraud cases reported by the label cutoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.contract import (
    CONFIRMED,
    payments_unified_columns,
    velocity_columns,
)
from lakehouse.gold.payments_rules import DEFAULT_VELOCITY_WINDOWS_S
from lakehouse.silver.payments import latest_case_status
from lakehouse.spark_semantics import MICROS_PER_SECOND


def _as_of_condition(ts: Column, valid_from: Column, valid_to: Column) -> Column:
    # inclusive start: a change at exactly the transaction's instant is already in effect
    return (ts >= valid_from) & (valid_to.isNull() | (ts < valid_to))


def enrich_accounts_as_of(tx_df: DataFrame, versions_df: DataFrame, side: str) -> DataFrame:
    """Attributes of the ``side`` (``src``/``dst``) account as they were at ``transaction_ts``.

    An unknown account, or one created after the transaction, gives nulls (left join).
    """
    key = "source_account_id" if side == "src" else "destination_account_id"
    versions = versions_df.select(
        F.col("account_id").alias("_acct"),
        F.col("valid_from").alias("_from"),
        F.col("valid_to").alias("_to"),
        F.col("account_type").alias(f"{side}_account_type"),
        F.col("country").alias(f"{side}_country"),
        F.col("kyc_status").alias(f"{side}_kyc_status"),
        F.col("created_date").alias(f"_{side}_created"),
    )
    condition = (F.col(key) == F.col("_acct")) & _as_of_condition(
        F.col("transaction_ts"), F.col("_from"), F.col("_to")
    )
    age = F.datediff(F.to_date("transaction_ts"), F.col(f"_{side}_created"))
    return (
        tx_df.join(versions, on=condition, how="left")
        .withColumn(f"{side}_account_age_days", F.when(age >= 0, age))
        .drop("_acct", "_from", "_to", f"_{side}_created")
    )


def enrich_risk_as_of(tx_df: DataFrame, intervals_df: DataFrame, side: str) -> DataFrame:
    """The ``side`` account's risk flag as known at ``transaction_ts`` (0 if none)."""
    key = "source_account_id" if side == "src" else "destination_account_id"
    intervals = intervals_df.select(
        F.col("account_id").alias("_acct"),
        F.col("valid_from").alias("_from"),
        F.col("valid_to").alias("_to"),
        F.col("risk_flag").alias("_flag"),
    )
    condition = (F.col(key) == F.col("_acct")) & _as_of_condition(
        F.col("transaction_ts"), F.col("_from"), F.col("_to")
    )
    return (
        tx_df.join(intervals, on=condition, how="left")
        .withColumn(f"{side}_risk_flag", F.coalesce(F.col("_flag"), F.lit(0)).cast("int"))
        .drop("_acct", "_from", "_to", "_flag")
    )


def with_velocity_features(tx_df: DataFrame, windows: Mapping[str, int]) -> DataFrame:
    """Count and sum of the source account's transactions in each window before this one.

    Frames end one microsecond before the transaction, so neither the transaction itself nor
    another at the same instant is counted.
    """
    ts_us = F.unix_micros("transaction_ts")
    df = tx_df.withColumn("_ts_us", ts_us)
    by_source = Window.partitionBy("source_account_id").orderBy("_ts_us")
    for name, seconds in windows.items():
        frame = by_source.rangeBetween(-seconds * MICROS_PER_SECOND, -1)
        df = df.withColumn(f"src_txn_count_{name}", F.count(F.lit(1)).over(frame)).withColumn(
            f"src_txn_amount_{name}",
            F.coalesce(F.sum("amount").over(frame), F.lit(0)).cast("decimal(18,2)"),
        )
    history = by_source.rangeBetween(Window.unboundedPreceding, -1)
    pair_history = (
        Window.partitionBy("source_account_id", "destination_account_id")
        .orderBy("_ts_us")
        .rangeBetween(Window.unboundedPreceding, -1)
    )
    mean = F.avg(F.col("amount").cast("double")).over(history)
    std = F.stddev_samp(F.col("amount").cast("double")).over(history)
    return (
        df.withColumn("src_prior_txn_count", F.count(F.lit(1)).over(history))
        .withColumn("is_first_pair", F.count(F.lit(1)).over(pair_history) == 0)
        .withColumn("src_amount_mean_before", F.round(mean, 2))
        .withColumn(
            "src_amount_zscore",
            F.round(F.when(std > 0, (F.col("amount").cast("double") - mean) / std), 4),
        )
        .drop("_ts_us")
    )


def with_labels(
    tx_df: DataFrame, cases_df: DataFrame, cutoff: datetime, maturity_days: int
) -> DataFrame:
    """``fraud_flag`` from cases reported by ``cutoff``; ``label_is_mature`` by age at cutoff."""
    statuses = latest_case_status(cases_df, F.lit(cutoff)).select(
        "transaction_id", F.col("status").alias("label_status")
    )
    mature_before = F.lit(cutoff) - F.make_interval(days=F.lit(maturity_days))
    return (
        tx_df.join(statuses, on="transaction_id", how="left")
        .withColumn("fraud_flag", F.coalesce(F.col("label_status") == CONFIRMED, F.lit(False)))
        .withColumn("label_is_mature", F.col("transaction_ts") < mature_before)
    )


def with_calendar_features(tx_df: DataFrame) -> DataFrame:
    """Hour, weekday (0 = Monday) and whether the flow crosses a border."""
    return (
        tx_df.withColumn("hour_of_day", F.hour("transaction_ts"))
        .withColumn("day_of_week", F.weekday("transaction_ts"))
        .withColumn(
            "is_cross_border",
            F.when(
                F.col("src_country").isNotNull() & F.col("dst_country").isNotNull(),
                F.col("src_country") != F.col("dst_country"),
            ),
        )
    )


def history_columns(windows: Mapping[str, int]) -> list[str]:
    """The columns ``with_velocity_features`` adds: each depends only on the source account's
    earlier transactions."""
    return [
        *velocity_columns(windows),
        "src_prior_txn_count",
        "is_first_pair",
        "src_amount_mean_before",
        "src_amount_zscore",
    ]


def finish_payments_unified(
    with_history_df: DataFrame,
    account_versions_df: DataFrame,
    risk_intervals_df: DataFrame,
    fraud_cases_df: DataFrame,
    *,
    cutoff: datetime,
    maturity_days: int,
    velocity_windows: Mapping[str, int] = DEFAULT_VELOCITY_WINDOWS_S,
) -> DataFrame:
    """Transactions that have their ``history_columns`` -> ``gold/payments_unified`` rows: the
    rest of each row depends on that transaction alone (and the accounts, risk and cases)."""
    columns = payments_unified_columns(velocity_windows)
    unified = (
        with_history_df.transform(enrich_accounts_as_of, account_versions_df, "src")
        .transform(enrich_accounts_as_of, account_versions_df, "dst")
        .transform(enrich_risk_as_of, risk_intervals_df, "src")
        .transform(enrich_risk_as_of, risk_intervals_df, "dst")
        .transform(with_calendar_features)
        .transform(with_labels, fraud_cases_df, cutoff, maturity_days)
    )
    row_hash = F.sha2(F.to_json(F.struct(*columns)), 256)
    return unified.select(*columns, row_hash.alias("row_hash"))


def to_payments_unified(
    transactions_df: DataFrame,
    account_versions_df: DataFrame,
    risk_intervals_df: DataFrame,
    fraud_cases_df: DataFrame,
    *,
    cutoff: datetime,
    maturity_days: int,
    velocity_windows: Mapping[str, int] = DEFAULT_VELOCITY_WINDOWS_S,
) -> DataFrame:
    """Silver payments -> ``gold/payments_unified``."""
    return finish_payments_unified(
        with_velocity_features(transactions_df, velocity_windows),
        account_versions_df,
        risk_intervals_df,
        fraud_cases_df,
        cutoff=cutoff,
        maturity_days=maturity_days,
        velocity_windows=velocity_windows,
    )


def _from_earliest(df: DataFrame, starts: DataFrame) -> DataFrame:
    """Rows of ``df`` at or after their source account's start in ``starts`` (null-safe)."""
    begin = starts.select(F.col("source_account_id").alias("_acct"), "_from")
    return (
        df.join(begin, F.col("source_account_id").eqNullSafe(F.col("_acct")))
        .where(F.col("transaction_ts") >= F.col("_from"))
        .drop("_acct", "_from")
    )


# what a change feed adds to a table's columns
_FEED_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


def _touched_by_intervals(transactions_df: DataFrame, feed: DataFrame) -> DataFrame:
    """Ids of transactions whose as-of join may meet a changed interval (account version or
    risk interval): those of either account from the earliest instant a change moved.

    An interval inserted or deleted, or one whose values changed, moves from its
    ``valid_from``; one that only got a new end (the next version arrived) moves from the
    earlier of its two ends, as before that the lookups found the same values.
    """
    interval = ("account_id", "valid_from")
    derived = {"valid_to", "is_current", "row_hash", *_FEED_COLUMNS}
    values = [c for c in feed.columns if c not in (*interval, *derived)]
    starts = (
        feed.groupBy(*interval)
        .agg(
            F.count_distinct(F.to_json(F.struct(*values))).alias("_kinds"),
            F.max(F.col("_change_type").isin("insert", "delete").cast("int")).alias("_new"),
            F.min("valid_to").alias("_end"),
        )
        .select(
            F.col("account_id").alias("_acct"),
            F.when((F.col("_kinds") == 1) & (F.col("_new") == 0), F.col("_end"))
            .otherwise(F.col("valid_from"))
            .alias("_f"),
        )
        .where(F.col("_f").isNotNull())
        .groupBy("_acct")
        .agg(F.min("_f").alias("_f"))
    )
    ids = []
    for side in ("source_account_id", "destination_account_id"):
        ids.append(
            transactions_df.join(starts, F.col(side) == F.col("_acct"))
            .where(F.col("transaction_ts") >= F.col("_f"))
            .select("transaction_id")
        )
    return ids[0].unionByName(ids[1])


def changed_payments_unified(
    transactions_df: DataFrame,
    account_versions_df: DataFrame,
    risk_intervals_df: DataFrame,
    fraud_cases_df: DataFrame,
    published_df: DataFrame,
    changes: Mapping[str, DataFrame | None],
    *,
    cutoff: datetime,
    previous_cutoff: datetime,
    maturity_days: int,
    velocity_windows: Mapping[str, int] = DEFAULT_VELOCITY_WINDOWS_S,
) -> tuple[DataFrame, DataFrame]:
    """The rows of ``gold/payments_unified`` that changes since its last build can reach,
    rebuilt as ``to_payments_unified`` would, and the keys they answer for: (rows, scope).

    Args:
        transactions_df, account_versions_df, risk_intervals_df, fraud_cases_df: The inputs
            now (as ``to_payments_unified`` takes them).
        published_df: The table as its last build (at ``previous_cutoff``) left it.
        changes: The change feed of each input since then, under ``transactions``,
            ``accounts``, ``risk`` and ``cases`` (None: no row changed).

    What can move a row:
    - a transaction inserted or deleted (a late one, an erasure): every later transaction of
      its source account, whose history columns count it; these rows are recomputed from
      the account's whole history, as a full build does;
    - an account version or risk interval: the transactions of that account from the
      interval's start on (either side), for their as-of columns;
    - a fraud case row: its transaction's label; and a cutoff that moved: the cases reported
      in between, and the transactions that came of age (``label_is_mature``) in between.
    Rows moved only by the second and third kinds keep their history columns from
    ``published_df``: no transaction of their source account changed since.
    """
    windows = velocity_windows
    ids = []
    if changes.get("accounts") is not None:
        ids.append(_touched_by_intervals(transactions_df, changes["accounts"]))
    if changes.get("risk") is not None:
        ids.append(_touched_by_intervals(transactions_df, changes["risk"]))
    if changes.get("cases") is not None:
        ids.append(changes["cases"].select("transaction_id"))
    if cutoff != previous_cutoff:
        low, high = sorted((previous_cutoff, cutoff))
        age, margin = timedelta(days=maturity_days), timedelta(days=1)
        ts = F.col("transaction_ts")
        came_of_age = (ts >= F.lit(low - age - margin)) & (ts < F.lit(high - age + margin))
        ids.append(transactions_df.where(came_of_age).select("transaction_id"))
        reported = F.col("reported_ts").between(F.lit(low), F.lit(high))
        ids.append(fraud_cases_df.where(reported).select("transaction_id"))
    empty_ids = transactions_df.select("transaction_id").limit(0)
    touched = empty_ids
    for frame in ids:
        touched = touched.unionByName(frame)
    touched = touched.distinct()
    candidates = transactions_df.join(touched, "transaction_id", "left_semi")
    # a candidate the table lacks has no history columns to keep: recompute its account
    missing = candidates.join(published_df.select("transaction_id"), "transaction_id", "left_anti")
    starts = missing.select("source_account_id", "transaction_ts")
    if changes.get("transactions") is not None:
        starts = starts.unionByName(
            changes["transactions"].select("source_account_id", "transaction_ts")
        )
    starts = starts.groupBy("source_account_id").agg(F.min("transaction_ts").alias("_from"))
    accounts = starts.select(F.col("source_account_id").alias("_acct"))
    histories = transactions_df.join(
        accounts, F.col("source_account_id").eqNullSafe(F.col("_acct")), "left_semi"
    )
    recomputed = _from_earliest(with_velocity_features(histories, windows), starts)
    kept = candidates.join(recomputed.select("transaction_id"), "transaction_id", "left_anti").join(
        published_df.select("transaction_id", *history_columns(windows)), "transaction_id"
    )
    rows = finish_payments_unified(
        recomputed.unionByName(kept),
        account_versions_df,
        risk_intervals_df,
        fraud_cases_df,
        cutoff=cutoff,
        maturity_days=maturity_days,
        velocity_windows=windows,
    )
    scope = (
        _from_earliest(published_df, starts)
        .select("transaction_id")
        .unionByName(touched)
        .unionByName(rows.select("transaction_id"))
    )
    return rows, scope
