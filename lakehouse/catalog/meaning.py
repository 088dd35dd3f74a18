"""What each table and column of the lake means, as the catalog shows it (``DESCRIBE TABLE
EXTENDED``, ``SHOW TBLPROPERTIES``, a BI tool's column list).

The texts follow the contract (``docs/CONTRACT.md`` section 2): the Gold columns' meanings are
its words, checked by ``tests/catalog/test_meaning.py``. Every table also says where its rows
come from, who owns it and which class of personal data it holds (``docs/PRIVACY.md``):

- ``clear``: personal data in clear text (Bronze, quarantine: the records as they arrived);
- ``tokenized``: keyed tokens instead of direct identifiers, plus ids and quasi-identifiers;
- ``pseudonymous``: ids (customer, account, record) and ZIP codes, no direct identifier;
- ``none``: no value of a record (counts, reasons, file names, hashes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lakehouse.contract import (
    ACCOUNTS,
    FEED_PII_COLUMNS,
    FRAUD_CASES,
    PAYMENT_FEEDS,
    RISK,
    TRANSACTIONS,
)
from lakehouse.tables import (
    BATCH_LEDGER,
    BRONZE_SESSIONS,
    ERASURES,
    EXPECTATIONS,
    FEATURE_DRIFT,
    FILE_RETRIES,
    GOLD_DELIVERY_FEATURES,
    GOLD_DELIVERY_PREDICTIONS,
    GOLD_FRAUD_SCORES,
    GOLD_MODEL_PERFORMANCE,
    GOLD_PAYMENTS_UNIFIED,
    INFERENCE_LOG,
    QUARANTINE_REFERENCE,
    QUARANTINE_RELEASES,
    QUARANTINE_REPLAYS,
    QUARANTINE_SESSIONS,
    REFUSED_FILES,
    ROW_WARNINGS,
    SCHEMA_DRIFT,
    SILVER_ACCOUNT_CHANGES,
    SILVER_ACCOUNTS,
    SILVER_FRAUD_CASE_HISTORY,
    SILVER_FRAUD_CASES,
    SILVER_HOLIDAYS,
    SILVER_RISK_EVENTS,
    SILVER_RISK_INTERVALS,
    SILVER_SESSIONS,
    SILVER_TRANSACTIONS,
    SILVER_WAREHOUSES,
    SILVER_ZIP_CODES,
    Table,
)

PII_CLASSES = ("clear", "encrypted", "tokenized", "pseudonymous", "none")


@dataclass(frozen=True)
class Meaning:
    """A table's description in the catalog.

    Attributes:
        rows: What one row is (the table comment starts with "One row per ...").
        source: The feed or process its rows come from.
        pii: The class of personal data the table holds (one of ``PII_CLASSES``).
        upstream: The tables it is built from, by catalog name without prefix.
        columns: Column -> comment, for the columns that need one.
        pii_columns: Column -> the form of personal data it holds (e.g. ``token``).
    """

    rows: str
    source: str
    pii: str
    upstream: tuple[str, ...] = ()
    columns: Mapping[str, str] = field(default_factory=dict)
    pii_columns: Mapping[str, str] = field(default_factory=dict)

    @property
    def comment(self) -> str:
        """The table comment."""
        return f"One row per {self.rows}."


# --- Gold: the contract's words (section 2.1) --------------------------------------------------

DELIVERY_COLUMNS = {
    "record_id": "the record id (section 1.1)",
    "event_ts": "`createdDateTime`, normalised, UTC",
    "day_of_year": "day of the year of `event_ts` (UTC), 1 to 366",
    "day_of_week": "0 = Monday ... 6 = Sunday (UTC)",
    "hour_of_day": "hour of `event_ts` in UTC, 0 to 23",
    "zip_code": "destination zip, exactly 5 characters",
    "shipping_method": "`shipping.method`",
    "warehouse_id": "`shipping.warehouseId`",
    "distance_km": "great-circle distance from the warehouse to the destination zip; null when "
    "either is unknown",
    "item_count": "units in the cart (sum of quantities)",
    "total_weight_kg": "sum of quantity × weight",  # noqa: RUF001 (the contract's words)
    "order_value": "sum of quantity × unit price",  # noqa: RUF001
    "delivery_days": "calendar days, in UTC, from the order date to the delivery date; null "
    "while undelivered",
    # the project's extra columns
    "session_id": "the session the checkout belongs to",
    "customer_id": "the customer's id (pseudonymous)",
    "order_date": "date of `event_ts`, UTC",
    "is_weekend": "the order date is a Saturday or a Sunday (UTC)",
    "ship_state": "the destination's state",
    "carrier": "`shipping.carrier`",
    "is_remote_area": "the destination zip is in a remote area; false for an unknown zip",
    "is_known_zip": "the destination zip is in the zip-code reference",
    "line_count": "lines in the cart",
    "promised_days": "days from the order date to the promised delivery date",
    "is_holiday": "the order date is a public holiday",
    "days_to_next_holiday": "days from the order date to the next public holiday",
    "holidays_in_window": "holidays within `sessions.holiday_window_days` of the order date",
    "session_event_count": "events of the session up to the checkout (analysis only)",
    "session_product_views": "product views of the session up to the checkout (analysis only)",
    "session_add_to_carts": "add-to-cart events of the session up to the checkout (analysis only)",
    "session_duration_s": "seconds from the session's first event to the checkout (analysis only)",
    "delivery_status": "the delivery's latest status",
    "delivered_date": "the delivery date (UTC); null while undelivered",
    "row_hash": "SHA-256 of the row's content, so a rebuild rewrites only rows that changed",
}

PAYMENTS_COLUMNS = {
    "transaction_id": "the transaction's id",
    "transaction_ts": "UTC",
    "source_account_id": "the paying account's id",
    "destination_account_id": "the receiving account's id",
    "amount": "the amount, in `currency`",
    "currency": "ISO 4217 code",
    "channel": "`web`, `mobile`, `pos` or `api`",
    "src_account_type": "the source account's attributes as they were at `transaction_ts`",
    "src_country": "the source account's attributes as they were at `transaction_ts`",
    "src_kyc_status": "the source account's attributes as they were at `transaction_ts`",
    "src_account_age_days": "days from the account's `created_date` to the transaction date, "
    "as known then",
    "dst_account_type": "the same for the destination account",
    "dst_country": "the same for the destination account",
    "dst_kyc_status": "the same for the destination account",
    "dst_account_age_days": "the same for the destination account",
    "src_risk_flag": "0/1 as the risk feed said at `transaction_ts`; 0 when it said nothing",
    "dst_risk_flag": "0/1 as the risk feed said at `transaction_ts`; 0 when it said nothing",
    "fraud_flag": "true only for a case **confirmed** by the label cutoff; false when unlabeled",
    "label_is_mature": "the transaction is older than the label-maturity window at the cutoff",
    # the project's extra columns
    "merchant_category": "the merchant's category",
    "hour_of_day": "hour of `transaction_ts` in UTC, 0 to 23",
    "day_of_week": "0 = Monday ... 6 = Sunday (UTC)",
    "is_cross_border": "the two accounts' countries differ; null when a country is unknown",
    "src_prior_txn_count": "the source account's transactions strictly before this one",
    "is_first_pair": "the first transaction from this source to this destination",
    "src_amount_mean_before": "the mean amount of the source account's earlier transactions",
    "src_amount_zscore": "this amount against the source account's earlier amounts, in "
    "standard deviations",
    "label_status": "the case's latest status by the cutoff",
    "row_hash": "SHA-256 of the row's content, so a rebuild rewrites only rows that changed",
}

# the velocity windows' columns are named after `payments.velocity_windows_s` (1h, 24h, 7d)
VELOCITY_PREFIXES = {
    "src_txn_count_": "the source account's transactions in the {window} strictly before this one",
    "src_txn_amount_": "the source account's amount in the {window} strictly before this one",
}


def velocity_comment(column: str) -> str | None:
    """The comment of a velocity column (``src_txn_count_24h``), or None."""
    for prefix, text in VELOCITY_PREFIXES.items():
        if column.startswith(prefix):
            return text.format(window=column.removeprefix(prefix))
    return None


PREDICTION_COLUMNS = {
    "model_name": "the registered model that answered",
    "model_version": "its version in the registry",
    "source_table": "the Gold table the rows were read from",
    "source_table_version": "its Delta version",
    "scored_at": "when the batch was scored (UTC)",
}

QUARANTINE_COLUMNS = {
    "reason": "the first reason code (CONTRACT section 2.3)",
    "reasons": "every reason code of the row",
    "raw_record": "the rejected record as it arrived, encrypted (it holds personal data)",
    "source_file": "the landing file the row came from",
    "record_index": "the row's position in its file",
    "bronze_batch_id": "the Bronze batch that ingested it",
    "quarantined_at": "when it was quarantined (UTC)",
}

BRONZE_FEED_COLUMNS = {
    "raw_record": "the row as it arrived (JSON), encrypted (it holds personal data)",
    "_extra_columns": "columns the feed does not name, kept as they arrived, values encrypted",
    "_missing_columns": "columns of the feed absent from the file",
    "is_malformed": "the row could not be parsed",
    "parse_error": "why it could not be parsed",
    "_file_error": "the reason of a refused file whose complete rows were kept, else null",
    "_source_file": "the landing file",
    "_batch_id": "the ingest batch",
    "_ingested_at": "when it was ingested (UTC)",
}

TOKEN = "token: HMAC-SHA256 of the normalised value under the lake's secret key"
# the raw zones' form (lakehouse.bronze.encryption)
ENCRYPTED = "encrypted: AES-256-GCM under a key derived from the lake's secret key"


def _bronze_feed(feed: str) -> Meaning:
    columns = (*FEED_PII_COLUMNS.get(feed, ()), "raw_record", "_extra_columns")
    pii = dict.fromkeys(columns, ENCRYPTED)
    return Meaning(
        rows=f"CSV row of the `{feed}` feed, every column a string as it arrived",
        source=feed,
        pii="encrypted",
        columns=BRONZE_FEED_COLUMNS,
        pii_columns=pii,
    )


def _quarantine(source: str, pii: Mapping[str, str] | None = None) -> Meaning:
    return Meaning(
        rows=f"rejected row of `{source}`, with its reasons",
        source=source,
        pii="encrypted",
        columns=QUARANTINE_COLUMNS,
        pii_columns=pii or {"raw_record": ENCRYPTED},
    )


def _audit(rows: str, source: str = "pipeline", **columns: str) -> Meaning:
    return Meaning(rows=rows, source=source, pii="none", columns=columns)


SESSIONS_PII = {
    "customer_email_token": TOKEN,
    "customer_phone_token": TOKEN,
    "device_ip_token": TOKEN,
    "customer_id": "pseudonymous id",
    "zip_code": "quasi-identifier",
}

MEANINGS: dict[Table, Meaning] = {
    BRONZE_SESSIONS: Meaning(
        rows="exported record (an Elasticsearch hit or line), as it arrived",
        source="sessions",
        pii="encrypted",
        columns={
            "export_shape": "`hit`, `search_response` or `source`",
            "source": "the parsed `_source` document, its personal fields encrypted",
            "raw_record": "the record as it arrived, encrypted (it holds personal data)",
            "_file_error": "the reason of a refused file whose complete records were kept",
        },
        pii_columns={"source": f"personal fields {ENCRYPTED}", "raw_record": ENCRYPTED},
    ),
    **{Table("bronze", feed): _bronze_feed(feed) for feed in PAYMENT_FEEDS},
    SILVER_SESSIONS: Meaning(
        rows="record id (its newest export), typed, personal data tokenized",
        source="sessions",
        pii="tokenized",
        upstream=("bronze.sessions",),
        columns={
            "customer_email_token": "the customer's e-mail as a keyed token",
            "customer_phone_token": "the customer's phone number as a keyed token",
            "device_ip_token": "the device's IP address as a keyed token",
            "event_ts_format": "how `createdDateTime` was written: `epoch_ms`, `epoch_seconds` "
            "or `iso8601`",
        },
        pii_columns=SESSIONS_PII,
    ),
    SILVER_ZIP_CODES: Meaning("key (`zip_code`) of the zip-code reference", "reference", "none"),
    SILVER_WAREHOUSES: Meaning(
        "key (`warehouse_id`) of the warehouse reference", "reference", "none"
    ),
    SILVER_HOLIDAYS: Meaning("key (`date`, `country`): a public holiday", "reference", "none"),
    SILVER_TRANSACTIONS: Meaning(
        rows="transaction id (its first export), typed, the card tokenized",
        source=TRANSACTIONS,
        pii="tokenized",
        upstream=(f"bronze.{TRANSACTIONS}",),
        columns={
            "card_token": "the card number as a keyed token",
            "card_last4": "the card number's last four digits",
            "ip_token": "the payer's IP address as a keyed token",
        },
        pii_columns={
            "card_token": TOKEN,
            "ip_token": TOKEN,
            "card_last4": "partial card number",
            "source_account_id": "pseudonymous id",
            "destination_account_id": "pseudonymous id",
            "_extra_columns": f"unknown columns (may hold personal data), values {ENCRYPTED}",
        },
    ),
    SILVER_ACCOUNT_CHANGES: Meaning(
        rows="(account, `updated_at`) snapshot row, names and e-mails tokenized",
        source=ACCOUNTS,
        pii="tokenized",
        upstream=(f"bronze.{ACCOUNTS}",),
        columns={
            "holder_name_token": "the holder's name as a keyed token",
            "email_token": "the holder's e-mail as a keyed token",
        },
        pii_columns={
            "holder_name_token": TOKEN,
            "email_token": TOKEN,
            "account_id": "pseudonymous id",
        },
    ),
    SILVER_ACCOUNTS: Meaning(
        rows="account version (type 2): `valid_from` inclusive, `valid_to` exclusive",
        source=ACCOUNTS,
        pii="tokenized",
        upstream=("silver.account_changes",),
        columns={
            "valid_from": "when this version starts to hold (inclusive)",
            "valid_to": "when it stops holding (exclusive); null while current",
        },
        pii_columns={"account_id": "pseudonymous id"},
    ),
    SILVER_RISK_EVENTS: Meaning(
        rows="(account, `effective_ts`) event of the external risk feed",
        source=RISK,
        pii="pseudonymous",
        upstream=(f"bronze.{RISK}",),
        pii_columns={"account_id": "pseudonymous id"},
    ),
    SILVER_RISK_INTERVALS: Meaning(
        rows="(account, `valid_from`) interval during which a risk flag held",
        source=RISK,
        pii="pseudonymous",
        upstream=("silver.risk_events",),
        pii_columns={"account_id": "pseudonymous id"},
    ),
    SILVER_FRAUD_CASE_HISTORY: Meaning(
        rows="(transaction, status, `reported_ts`) status change of a fraud case",
        source=FRAUD_CASES,
        pii="pseudonymous",
        upstream=(f"bronze.{FRAUD_CASES}",),
    ),
    SILVER_FRAUD_CASES: Meaning(
        rows="transaction with a fraud case: its latest status",
        source=FRAUD_CASES,
        pii="pseudonymous",
        upstream=("silver.fraud_case_history",),
    ),
    QUARANTINE_SESSIONS: _quarantine("sessions"),
    **{Table("quarantine", feed): _quarantine(feed) for feed in PAYMENT_FEEDS},
    QUARANTINE_REFERENCE: Meaning(
        rows="rejected reference row, with its reasons and its `reference_table`",
        source="reference",
        pii="none",
        columns=QUARANTINE_COLUMNS,
    ),
    GOLD_DELIVERY_FEATURES: Meaning(
        rows="checkout (`CHECKOUT_COMPLETED`), keyed by `record_id`: delivery-date features",
        source="sessions",
        pii="pseudonymous",
        upstream=(
            "silver.sessions",
            "silver.zip_codes",
            "silver.warehouses",
            "silver.holidays",
        ),
        columns=DELIVERY_COLUMNS,
        pii_columns={"customer_id": "pseudonymous id", "zip_code": "quasi-identifier"},
    ),
    GOLD_PAYMENTS_UNIFIED: Meaning(
        rows="transaction, keyed by `transaction_id`, point-in-time correct: fraud features "
        "and labels",
        source="payments",
        pii="pseudonymous",
        upstream=(
            f"silver.{TRANSACTIONS}",
            "silver.accounts",
            "silver.risk_intervals",
            "silver.fraud_cases",
        ),
        columns=PAYMENTS_COLUMNS,
        pii_columns={
            "source_account_id": "pseudonymous id",
            "destination_account_id": "pseudonymous id",
        },
    ),
    GOLD_DELIVERY_PREDICTIONS: Meaning(
        rows="scored checkout (`lakehouse score delivery`)",
        source="ml",
        pii="pseudonymous",
        upstream=("gold.delivery_features",),
        columns={
            **PREDICTION_COLUMNS,
            "predicted_delivery_days": "the model's answer, in calendar days",
            "predicted_delivery_date": "the order date plus the predicted days",
        },
    ),
    GOLD_FRAUD_SCORES: Meaning(
        rows="scored transaction (`lakehouse score fraud`)",
        source="ml",
        pii="pseudonymous",
        upstream=("gold.payments_unified",),
        columns={
            **PREDICTION_COLUMNS,
            "fraud_probability": "the model's probability of fraud",
            "is_fraud": "the probability is at least the decision threshold",
            "decision_threshold": "the champion's threshold when scored",
        },
    ),
    GOLD_MODEL_PERFORMANCE: Meaning(
        rows="(model version, day) of answers judged by the outcomes that arrived since",
        source="ml",
        pii="none",
        upstream=("audit.inference_log", "gold.delivery_features", "gold.payments_unified"),
    ),
    BATCH_LEDGER: _audit("(step, source, batch) with its counts", metrics="counts of the batch"),
    REFUSED_FILES: _audit(
        "(refused file, batch): why a landing file was not ingested",
        error="the error's first line, never file content",
    ),
    FILE_RETRIES: _audit("(source, retry, file): a replaced refused file read again"),
    ROW_WARNINGS: _audit(
        "(kept row, batch): a row kept in Silver with an auxiliary field unknown or unreadable"
    ),
    EXPECTATIONS: _audit("(validation, check) of an expectation suite", source="quality"),
    SCHEMA_DRIFT: _audit("(feed, ingested batch): the fields seen and how they drifted"),
    QUARANTINE_REPLAYS: _audit("(source, replay): a replay of quarantined rows"),
    QUARANTINE_RELEASES: _audit("(source, quarantined row) a replay released to Silver"),
    INFERENCE_LOG: Meaning(
        rows="answer of the prediction service or of `lakehouse score`",
        source="serving",
        pii="pseudonymous",
        columns={"features_hash": "BLAKE2b of the request's features; no raw values"},
        pii_columns={"record_id": "pseudonymous id"},
    ),
    FEATURE_DRIFT: _audit(
        "(champion, Gold version, feature): the newest rows against the training data",
        source="ml",
    ),
    ERASURES: _audit("erasure request (`lakehouse forget`) and what it removed", source="privacy"),
}


def meaning_of(table: Table) -> Meaning:
    """The table's meaning.

    Raises:
        KeyError: For a table the catalog does not describe (a new table must be added here).
    """
    return MEANINGS[table]


def column_comment(table: Table, column: str) -> str | None:
    """The comment of one column, or None when the catalog says nothing of it."""
    meaning = MEANINGS[table]
    if column in meaning.columns:
        return meaning.columns[column]
    if table == GOLD_PAYMENTS_UNIFIED:
        return velocity_comment(column)
    return None
