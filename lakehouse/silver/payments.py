"""Silver transforms for the payment feeds: validate, type, tokenize, and keep history right.

- transactions: typed, one row per transaction id (a recurring id is a duplicate; the first
  export wins);
- account snapshots -> account changes (one row per account and ``updated_at``) -> a type-2
  dimension in which only a real change of attributes opens a new version;
- risk feed -> risk events -> validity intervals per account;
- fraud cases -> the full status history, and the latest status per transaction.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse import contract
from lakehouse.privacy import (
    hmac_token,
    normalize_email,
    normalize_text,
    with_clear,
)
from lakehouse.silver.dedupe import first_per_key
from lakehouse.silver.normalize import parse_epoch_or_iso, strip_control, upper_code
from lakehouse.silver.payments_rules import AMOUNT_PATTERN, AMOUNT_TYPE, NO_EPOCH_SECONDS
from lakehouse.silver.reasons import reason_codes, warning_rows

CARD_LAST_DIGITS = 4


def _text(raw: Column) -> Column:
    trimmed = F.trim(raw)
    return F.when(trimmed != "", trimmed)


def without_control_chars(bronze_df: DataFrame, feed: str) -> DataFrame:
    """Bronze rows of ``feed`` with control characters removed from every canonical column
    (``raw_record`` keeps the row as it arrived); Silver's rules read these values."""
    columns = set(contract.FEED_COLUMNS[feed])
    return bronze_df.select(
        *[strip_control(F.col(c)).alias(c) if c in columns else F.col(c) for c in bronze_df.columns]
    )


def _missing(raw: Column) -> Column:
    return _text(raw).isNull()


def iso_ts(raw: Column) -> Column:
    """An ISO-8601 timestamp with ``Z`` or an offset, in UTC; anything else null."""
    text = _text(raw)
    return F.when(~text.rlike(AMOUNT_PATTERN), parse_epoch_or_iso(text, NO_EPOCH_SECONDS))


def amount_of(raw: Column) -> Column:
    """A decimal with ``.`` as separator (``12,50`` or ``N/A`` give null)."""
    text = _text(raw)
    return F.when(text.rlike(AMOUNT_PATTERN), text.try_cast(AMOUNT_TYPE))


def lower_code(raw: Column) -> Column:
    """Trimmed, lower-cased code; blank becomes null."""
    return F.lower(_text(raw))


def with_reasons(
    df: DataFrame,
    checks: list[tuple[Column, str]],
    warnings: list[tuple[Column, str]] = (),
) -> DataFrame:
    """Add ``reasons``: the malformed-row error alone, or every check that fails; and
    ``warnings``: every warning check that holds (an auxiliary field that is kept, nulled when
    unreadable: the row is not lost for it)."""
    reasons = reason_codes(checks)
    return df.withColumn(
        "reasons",
        F.when(F.col("is_malformed"), F.array(F.col("parse_error"))).otherwise(reasons),
    ).withColumn("warnings", reason_codes(warnings))


def to_quarantine_rows(invalid_df: DataFrame, key: str | None) -> DataFrame:
    """The quarantine contract for a payment feed row."""
    return invalid_df.select(
        F.col("reasons")[0].alias("reason"),
        "reasons",
        (F.col(key) if key else F.lit(None)).cast("string").alias("record_id"),
        "raw_record",
        F.col("_source_file").alias("source_file"),
        F.lit(None).cast("int").alias("record_index"),
        F.col("_source_modified_at").alias("source_modified_at"),
        F.col("_batch_id").alias("bronze_batch_id"),
        F.current_timestamp().alias("quarantined_at"),
    )


def to_warning_rows(warned_df: DataFrame, key: str, source: str) -> DataFrame:
    """The ``audit/row_warnings`` contract for kept payment rows that carry warnings."""
    return warning_rows(warned_df, source, F.col(key), F.lit(None))


def _first_per_key(df: DataFrame, keys: list[str], newest: bool) -> DataFrame:
    order = [F.col("_source_modified_at"), F.col("_source_file")]
    order = [c.desc() for c in order] if newest else [c.asc() for c in order]
    return first_per_key(df, keys, order)


# --- transactions -------------------------------------------------------------------------


def with_transaction_reasons(bronze_df: DataFrame) -> DataFrame:
    """Validation of ``payment_transactions`` rows."""
    amount = amount_of(F.col("amount"))
    return with_reasons(
        bronze_df,
        [
            (_missing(F.col("transaction_id")), contract.REASON_MISSING_TRANSACTION_ID),
            (iso_ts(F.col("transaction_ts")).isNull(), contract.REASON_INVALID_TRANSACTION_TS),
            (amount.isNull(), contract.REASON_INVALID_AMOUNT),
            (amount < 0, contract.REASON_NEGATIVE_AMOUNT),
            (_missing(F.col("source_account_id")), contract.REASON_MISSING_SOURCE_ACCOUNT),
        ],
        warnings=[
            (
                ~F.coalesce(lower_code(F.col("channel")).isin(*contract.CHANNELS), F.lit(False)),
                contract.REASON_INVALID_CHANNEL,
            ),
        ],
    )


def to_silver_transactions(valid_df: DataFrame, hmac_key: bytes) -> DataFrame:
    """Typed transactions; the card keeps its last four digits beside a token. The personal
    fields are decrypted (Bronze keeps them encrypted) inside this query only; the unknown
    columns (``_extra_columns``) stay encrypted."""
    pii = {"card": F.col("card_number"), "ip": F.col("ip_address")}
    keyed, clear = with_clear(valid_df, hmac_key, pii)
    card_digits = F.regexp_replace(clear["card"], r"[^0-9]", "")
    card = F.when(card_digits != "", card_digits)
    return keyed.select(
        _text(F.col("transaction_id")).alias("transaction_id"),
        iso_ts(F.col("transaction_ts")).alias("transaction_ts"),
        _text(F.col("source_account_id")).alias("source_account_id"),
        _text(F.col("destination_account_id")).alias("destination_account_id"),
        amount_of(F.col("amount")).alias("amount"),
        upper_code(F.col("currency")).alias("currency"),
        lower_code(F.col("channel")).alias("channel"),
        _text(F.col("merchant_category")).alias("merchant_category"),
        F.right(card, F.lit(CARD_LAST_DIGITS)).alias("card_last4"),
        hmac_token(card).alias("card_token"),
        hmac_token(normalize_text(clear["ip"])).alias("ip_token"),
        _text(F.col("device_id")).alias("device_id"),
        F.col("_extra_columns"),
        F.col("_source_file"),
        F.col("_source_modified_at"),
        F.col("_batch_id").alias("_bronze_batch_id"),
    )


def filter_first_transaction(df: DataFrame) -> DataFrame:
    """A transaction id that recurs is a duplicate: its first export is kept."""
    return _first_per_key(df, ["transaction_id"], newest=False)


# --- accounts -------------------------------------------------------------------------------

ACCOUNT_ATTRIBUTES = [
    "account_type",
    "holder_name_token",
    "email_token",
    "country",
    "kyc_status",
    "created_date",
]


def with_account_reasons(bronze_df: DataFrame) -> DataFrame:
    """Validation of ``account_details`` snapshot rows."""
    created = _text(F.col("created_date"))
    return with_reasons(
        bronze_df,
        [
            (_missing(F.col("account_id")), contract.REASON_MISSING_ACCOUNT_ID),
            (iso_ts(F.col("updated_at")).isNull(), contract.REASON_INVALID_UPDATED_AT),
        ],
        warnings=[
            (
                ~F.coalesce(
                    lower_code(F.col("kyc_status")).isin(*contract.KYC_STATUSES), F.lit(False)
                ),
                contract.REASON_INVALID_KYC_STATUS,
            ),
            (
                created.isNotNull() & F.try_to_date(created).isNull(),
                contract.REASON_INVALID_CREATED_DATE,
            ),
        ],
    )


def to_account_changes(valid_df: DataFrame, hmac_key: bytes) -> DataFrame:
    """One typed row per snapshot row, with a hash of its attributes."""
    pii = {"holder": F.col("holder_name"), "email": F.col("email")}
    keyed, clear = with_clear(valid_df, hmac_key, pii)
    typed = keyed.select(
        _text(F.col("account_id")).alias("account_id"),
        iso_ts(F.col("updated_at")).alias("updated_at"),
        lower_code(F.col("account_type")).alias("account_type"),
        hmac_token(normalize_text(clear["holder"])).alias("holder_name_token"),
        hmac_token(normalize_email(clear["email"])).alias("email_token"),
        upper_code(F.col("country")).alias("country"),
        lower_code(F.col("kyc_status")).alias("kyc_status"),
        F.try_to_date(_text(F.col("created_date"))).alias("created_date"),
        F.col("_source_file"),
        F.col("_source_modified_at"),
    )
    return typed.withColumn(
        "attributes_hash", F.sha2(F.to_json(F.struct(*ACCOUNT_ATTRIBUTES)), 256)
    )


def filter_newest_snapshot(df: DataFrame) -> DataFrame:
    """One row per (account, ``updated_at``): the newest snapshot's view of it wins."""
    return _first_per_key(df, ["account_id", "updated_at"], newest=True)


def to_account_versions(changes_df: DataFrame) -> DataFrame:
    """Type-2 dimension: ``valid_from`` (inclusive), ``valid_to`` (exclusive), ``is_current``.

    A row whose attributes equal the previous row's (a bumped ``updated_at`` with nothing
    changed) opens no version.
    """
    by_time = Window.partitionBy("account_id").orderBy("updated_at")
    versions = (
        changes_df.withColumn("_previous_hash", F.lag("attributes_hash").over(by_time))
        .where(
            F.col("_previous_hash").isNull() | (F.col("_previous_hash") != F.col("attributes_hash"))
        )
        .withColumn("valid_from", F.col("updated_at"))
        .withColumn("valid_to", F.lead("updated_at").over(by_time))
    )
    return versions.select(
        "account_id",
        *ACCOUNT_ATTRIBUTES,
        "valid_from",
        "valid_to",
        F.col("valid_to").isNull().alias("is_current"),
        F.sha2(F.to_json(F.struct("attributes_hash", "valid_from", "valid_to")), 256).alias(
            "row_hash"
        ),
    )


# --- risk feed ------------------------------------------------------------------------------


def with_risk_reasons(bronze_df: DataFrame) -> DataFrame:
    """Validation of ``external_risk_feed`` rows.

    ``risk_score`` has no range in the contract (feeds score 0-1, 0-100 or 0-1000): any finite
    number is kept; one that is not a number only warns, and the row's flag still counts.
    """
    score = _text(F.col("risk_score"))
    return with_reasons(
        bronze_df,
        [
            (_missing(F.col("account_id")), contract.REASON_MISSING_ACCOUNT_ID),
            (iso_ts(F.col("effective_ts")).isNull(), contract.REASON_INVALID_EFFECTIVE_TS),
            (
                ~F.coalesce(_text(F.col("risk_flag")).isin(*contract.RISK_FLAGS), F.lit(False)),
                contract.REASON_INVALID_RISK_FLAG,
            ),
        ],
        warnings=[
            (score.isNotNull() & risk_score_of(score).isNull(), contract.REASON_INVALID_RISK_SCORE)
        ],
    )


def risk_score_of(raw: Column) -> Column:
    """A finite number (``.`` as separator); anything else null."""
    value = _text(raw).try_cast("double")
    return F.when(~F.isnan(value) & (F.abs(value) != F.lit(float("inf"))), value)


def to_risk_events(valid_df: DataFrame) -> DataFrame:
    """Typed risk-feed rows."""
    return valid_df.select(
        _text(F.col("account_id")).alias("account_id"),
        iso_ts(F.col("effective_ts")).alias("effective_ts"),
        _text(F.col("risk_flag")).cast("int").alias("risk_flag"),
        risk_score_of(F.col("risk_score")).alias("risk_score"),
        _text(F.col("reason")).alias("reason"),
        F.col("_source_file"),
        F.col("_source_modified_at"),
    ).withColumn(
        "event_hash", F.sha2(F.to_json(F.struct("risk_flag", "risk_score", "reason")), 256)
    )


def filter_newest_risk_event(df: DataFrame) -> DataFrame:
    """One row per (account, ``effective_ts``): the newest file's wins."""
    return _first_per_key(df, ["account_id", "effective_ts"], newest=True)


def to_risk_intervals(events_df: DataFrame) -> DataFrame:
    """Each risk row holds from its ``effective_ts`` until the account's next row."""
    by_time = Window.partitionBy("account_id").orderBy("effective_ts")
    return events_df.select(
        "account_id",
        "risk_flag",
        "risk_score",
        "reason",
        F.col("effective_ts").alias("valid_from"),
        F.lead("effective_ts").over(by_time).alias("valid_to"),
    ).withColumn(
        "row_hash",
        F.sha2(F.to_json(F.struct("risk_flag", "risk_score", "reason", "valid_to")), 256),
    )


# --- fraud cases ----------------------------------------------------------------------------


def with_fraud_case_reasons(bronze_df: DataFrame) -> DataFrame:
    """Validation of ``historical_fraud_cases`` rows."""
    return with_reasons(
        bronze_df,
        [
            (_missing(F.col("transaction_id")), contract.REASON_MISSING_TRANSACTION_ID),
            (iso_ts(F.col("reported_ts")).isNull(), contract.REASON_INVALID_REPORTED_TS),
            (
                ~F.coalesce(
                    lower_code(F.col("status")).isin(*contract.FRAUD_STATUSES), F.lit(False)
                ),
                contract.REASON_INVALID_FRAUD_STATUS,
            ),
        ],
    )


def to_fraud_case_history(valid_df: DataFrame) -> DataFrame:
    """Typed fraud-case rows (every status change is kept)."""
    return valid_df.select(
        _text(F.col("transaction_id")).alias("transaction_id"),
        lower_code(F.col("status")).alias("status"),
        iso_ts(F.col("reported_ts")).alias("reported_ts"),
        lower_code(F.col("fraud_type")).alias("fraud_type"),
        F.col("_source_file"),
        F.col("_source_modified_at"),
    )


def filter_first_case_row(df: DataFrame) -> DataFrame:
    """An identical status row delivered twice is one row."""
    return _first_per_key(df, ["transaction_id", "status", "reported_ts"], newest=False)


def latest_case_status(history_df: DataFrame, cutoff: Column | None = None) -> DataFrame:
    """The latest status of each case, among rows reported by ``cutoff`` (all when None).

    A later row supersedes an earlier one; at the same ``reported_ts`` a final status
    (confirmed, false_positive) beats ``reported``.
    """
    rows = history_df if cutoff is None else history_df.where(F.col("reported_ts") <= cutoff)
    final_first = F.when(F.col("status") == contract.FRAUD_STATUSES[0], 0).otherwise(1)
    latest = Window.partitionBy("transaction_id").orderBy(
        F.col("reported_ts").desc(), final_first.desc(), F.col("status").desc()
    )
    return (
        rows.withColumn("_rank", F.row_number().over(latest))
        .where("_rank = 1")
        .select(
            "transaction_id",
            "status",
            "fraud_type",
            F.col("reported_ts").alias("status_ts"),
            F.sha2(F.to_json(F.struct("status", "fraud_type", "reported_ts")), 256).alias(
                "row_hash"
            ),
        )
    )
