"""What the data contract fixes, as data: inputs, codes and the required Gold columns.

Every layer (Bronze, Silver and Gold in Spark, their pure-Python online twins), the generator
and the reports read these names from here, so that a column, a code or a status has one
definition. Section numbers are those of ``docs/CONTRACT.md``.

No pyspark here: the prediction service and the generator import this module without a JVM.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from lakehouse.config import deep_merge

# --- 1.1 Session documents (Elasticsearch ``_source``) -------------------------------------

# The shape of one ``_source`` document: a field maps to None (a scalar, which Bronze keeps as
# the text Spark's JSON reader gives it), to a mapping (an object) or to a one-element list
# holding the shape of its elements (a list). Unknown extra fields are ignored by Bronze and
# survive in ``raw_record``. ``lakehouse.bronze.schemas`` builds the Spark schema from it, and
# the Bronze twin checks a document's shape against it.
CART_ITEM_FIELDS: Mapping[str, Any] = dict.fromkeys(
    ("sku", "productName", "category", "quantity", "unitPrice", "weightKg")
)
SESSION_DOCUMENT: Mapping[str, Any] = {
    **dict.fromkeys(("id", "sessionId", "createdDateTime", "eventType")),
    "customer": dict.fromkeys(
        ("customerId", "email", "firstName", "lastName", "phone", "loyaltyTier")
    ),
    "device": dict.fromkeys(("type", "os", "appVersion", "ipAddress")),
    "cart": {"currency": None, "items": [CART_ITEM_FIELDS]},
    "shipping": {
        **dict.fromkeys(("method", "carrier", "warehouseId", "promisedDeliveryDate")),
        "address": dict.fromkeys(("line1", "city", "state", "zipCode", "country")),
    },
    "delivery": dict.fromkeys(("status", "deliveredDateTime")),
}

# Personal data in a session document: Silver keeps keyed tokens of the first four and drops
# names and street lines (CONTRACT 1.1, privacy).
SESSION_PII_FIELDS = (
    "customer.email",
    "customer.phone",
    "device.ipAddress",
    "customer.firstName",
    "customer.lastName",
    "shipping.address.line1",
)

# The example ``_source`` document of CONTRACT section 1.1: a delivered checkout. The service's
# OpenAPI example, the twins' parity tests and the Silver tests start from it (take a copy with
# ``example_session_document`` before changing anything).
EXAMPLE_SESSION_DOCUMENT: Mapping[str, Any] = MappingProxyType(
    {
        "id": "0b541211-6f65-4b6e-bb0c-ded5ad3e78c7",
        "sessionId": "7f0c2a4e-1d7e-4c8e-9d1b-3f1f0e7a2b11",
        "createdDateTime": 1731880381293,
        "eventType": "CHECKOUT_COMPLETED",
        "customer": {
            "customerId": "C-104233",
            "email": "jane.doe@example.com",
            "firstName": "Jane",
            "lastName": "Doe",
            "phone": "+1-555-0100",
            "loyaltyTier": "GOLD",
        },
        "device": {
            "type": "MOBILE",
            "os": "iOS",
            "appVersion": "5.2.1",
            "ipAddress": "203.0.113.7",
        },
        "cart": {
            "currency": "USD",
            "items": [
                {
                    "sku": "SKU-000123",
                    "productName": "Wooden train",
                    "category": "toys",
                    "quantity": 2,
                    "unitPrice": 19.99,
                    "weightKg": 0.4,
                }
            ],
        },
        "shipping": {
            "method": "STANDARD",
            "carrier": "UPS",
            "warehouseId": "WH-07",
            "promisedDeliveryDate": "2024-11-21",
            "address": {
                "line1": "12 Main St",
                "city": "Portland",
                "state": "OR",
                "zipCode": "97201",
                "country": "US",
            },
        },
        "delivery": {"status": "DELIVERED", "deliveredDateTime": 1732230000000},
    }
)


def example_session_document(
    *, without: Iterable[str] = (), changes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A deep copy of ``EXAMPLE_SESSION_DOCUMENT``, free to change.

    Args:
        without: Dotted field paths to leave out, e.g. ``SESSION_PII_FIELDS`` or ``"delivery"``.
        changes: Nested values to set over the copy (mappings merge, other values replace).
    """
    document = copy.deepcopy(dict(EXAMPLE_SESSION_DOCUMENT))
    for path in without:
        *parents, leaf = path.split(".")
        node = document
        for key in parents:
            node = node.get(key, {})
        node.pop(leaf, None)
    return deep_merge(document, changes or {})


EVENT_TYPES = ("SESSION_START", "PRODUCT_VIEW", "ADD_TO_CART", "CHECKOUT_COMPLETED")
CHECKOUT = "CHECKOUT_COMPLETED"

# --- 1.2 Payment feeds (CSV) ----------------------------------------------------------------

TRANSACTIONS = "payment_transactions"
ACCOUNTS = "account_details"
RISK = "external_risk_feed"
FRAUD_CASES = "historical_fraud_cases"
PAYMENT_FEEDS = (TRANSACTIONS, ACCOUNTS, RISK, FRAUD_CASES)

TRANSACTION_COLUMNS = (
    "transaction_id",
    "transaction_ts",
    "source_account_id",
    "destination_account_id",
    "amount",
    "currency",
    "channel",
    "merchant_category",
    "card_number",
    "ip_address",
    "device_id",
)
ACCOUNT_COLUMNS = (
    "account_id",
    "account_type",
    "holder_name",
    "email",
    "country",
    "kyc_status",
    "created_date",
    "updated_at",
)
RISK_COLUMNS = ("account_id", "risk_flag", "risk_score", "reason", "effective_ts")
FRAUD_CASE_COLUMNS = ("transaction_id", "fraud_type", "status", "reported_ts")
# The canonical columns of each feed, in the order Bronze stores them.
FEED_COLUMNS: Mapping[str, tuple[str, ...]] = {
    TRANSACTIONS: TRANSACTION_COLUMNS,
    ACCOUNTS: ACCOUNT_COLUMNS,
    RISK: RISK_COLUMNS,
    FRAUD_CASES: FRAUD_CASE_COLUMNS,
}
# Personal data among them: Silver keeps keyed tokens (and a card's last four digits).
FEED_PII_COLUMNS: Mapping[str, tuple[str, ...]] = {
    TRANSACTIONS: ("card_number", "ip_address"),
    ACCOUNTS: ("holder_name", "email"),
}

CHANNELS = ("web", "mobile", "pos", "api")
KYC_STATUSES = ("verified", "pending", "failed")
FRAUD_STATUSES = ("reported", "confirmed", "false_positive")
CONFIRMED = "confirmed"
RISK_FLAGS = ("0", "1")

# --- 3 Quarantine reason codes --------------------------------------------------------------

# Files refused whole (audit/refused_files), CONTRACT section 2.5. The complete records read
# before the damage are kept and carry the file's reason in Bronze's ``_file_error``.
FILE_TRUNCATED_GZIP = "truncated_gzip"
FILE_CORRUPT_GZIP = "corrupt_gzip"
FILE_NOT_GZIP = "not_gzip"
FILE_UNDECODABLE_TEXT = "undecodable_text"
FILE_UNKNOWN_CSV_DIALECT = "unknown_csv_dialect"
FILE_UNKNOWN_CSV_HEADER = "unknown_csv_header"
FILE_TOO_LARGE = "file_too_large"
FILE_REASONS = (
    FILE_TOO_LARGE,
    FILE_TRUNCATED_GZIP,
    FILE_CORRUPT_GZIP,
    FILE_NOT_GZIP,
    FILE_UNDECODABLE_TEXT,
    FILE_UNKNOWN_CSV_DIALECT,
    FILE_UNKNOWN_CSV_HEADER,
)

# Bronze: a record that cannot be parsed at all.
ERROR_MALFORMED_JSON = "malformed_json"
ERROR_NOT_A_DOCUMENT = "not_a_session_document"
ERROR_MALFORMED_ROW = "malformed_csv_row"
# A CSV header names one column twice and a row gives the two different values.
ERROR_AMBIGUOUS_COLUMN = "ambiguous_column"

# Silver sessions, in the order they are checked; a row carries all that apply and ``reason``
# names the first.
REASON_MISSING_RECORD_ID = "missing_record_id"
REASON_MISSING_CREATED_TS = "missing_created_ts"
REASON_INVALID_CREATED_TS = "invalid_created_ts"
REASON_CREATED_TS_OUT_OF_RANGE = "created_ts_out_of_range"
REASON_INVALID_EVENT_TYPE = "invalid_event_type"
REASON_INVALID_ZIP = "invalid_zip_code"
REASON_INVALID_CART_ITEM = "invalid_cart_item"
# Units in the cart add up beyond a 32-bit int (Gold's item_count): no real cart does.
REASON_CART_QUANTITY_OUT_OF_RANGE = "cart_quantity_out_of_range"
REASON_INVALID_DELIVERED_TS = "invalid_delivered_ts"
REASON_INVALID_PROMISED_DATE = "invalid_promised_date"
SESSION_REASONS = (
    REASON_MISSING_RECORD_ID,
    REASON_MISSING_CREATED_TS,
    REASON_INVALID_CREATED_TS,
    REASON_CREATED_TS_OUT_OF_RANGE,
    REASON_INVALID_EVENT_TYPE,
    REASON_INVALID_CART_ITEM,
    REASON_CART_QUANTITY_OUT_OF_RANGE,
)
# Auxiliary fields present but unreadable: the record is kept with the field null, and the code
# is recorded in audit/row_warnings (CONTRACT 2.3).
SESSION_WARNINGS = (
    REASON_INVALID_ZIP,
    REASON_INVALID_DELIVERED_TS,
    REASON_INVALID_PROMISED_DATE,
)

# Silver payment feeds, per feed in the order they are checked.
REASON_MISSING_TRANSACTION_ID = "missing_transaction_id"
REASON_INVALID_TRANSACTION_TS = "invalid_transaction_ts"
REASON_INVALID_AMOUNT = "invalid_amount"
REASON_NEGATIVE_AMOUNT = "negative_amount"
REASON_MISSING_SOURCE_ACCOUNT = "missing_source_account"
REASON_INVALID_CHANNEL = "invalid_channel"
REASON_MISSING_ACCOUNT_ID = "missing_account_id"
REASON_INVALID_UPDATED_AT = "invalid_updated_at"
REASON_INVALID_KYC_STATUS = "invalid_kyc_status"
REASON_INVALID_CREATED_DATE = "invalid_created_date"
REASON_INVALID_EFFECTIVE_TS = "invalid_effective_ts"
REASON_INVALID_RISK_FLAG = "invalid_risk_flag"
REASON_INVALID_RISK_SCORE = "invalid_risk_score"
REASON_INVALID_REPORTED_TS = "invalid_reported_ts"
REASON_INVALID_FRAUD_STATUS = "invalid_fraud_status"
PAYMENT_REASONS: Mapping[str, tuple[str, ...]] = {
    TRANSACTIONS: (
        REASON_MISSING_TRANSACTION_ID,
        REASON_INVALID_TRANSACTION_TS,
        REASON_INVALID_AMOUNT,
        REASON_NEGATIVE_AMOUNT,
        REASON_MISSING_SOURCE_ACCOUNT,
    ),
    ACCOUNTS: (
        REASON_MISSING_ACCOUNT_ID,
        REASON_INVALID_UPDATED_AT,
    ),
    RISK: (
        REASON_MISSING_ACCOUNT_ID,
        REASON_INVALID_EFFECTIVE_TS,
        REASON_INVALID_RISK_FLAG,
    ),
    FRAUD_CASES: (
        REASON_MISSING_TRANSACTION_ID,
        REASON_INVALID_REPORTED_TS,
        REASON_INVALID_FRAUD_STATUS,
    ),
}
# Warnings: an auxiliary field unknown or unreadable. The row is kept (the field as it came,
# or null when unreadable) and recorded in audit/row_warnings; a row whose key, time and main
# value are valid is never lost for an auxiliary field.
PAYMENT_WARNINGS: Mapping[str, tuple[str, ...]] = {
    TRANSACTIONS: (REASON_INVALID_CHANNEL,),
    ACCOUNTS: (REASON_INVALID_KYC_STATUS, REASON_INVALID_CREATED_DATE),
    RISK: (REASON_INVALID_RISK_SCORE,),
    FRAUD_CASES: (),
}

# Silver reference tables (the zip code reason is the sessions' one).
REASON_INVALID_COORDINATES = "invalid_coordinates"
REASON_MISSING_KEY = "missing_key"
REASON_INVALID_DATE = "invalid_date"
REASON_DUPLICATE_KEY = "duplicate_key"
REFERENCE_REASONS = (
    REASON_INVALID_ZIP,
    REASON_INVALID_COORDINATES,
    REASON_MISSING_KEY,
    REASON_INVALID_DATE,
    REASON_DUPLICATE_KEY,
)

# --- 2 Gold tables --------------------------------------------------------------------------

DELIVERY_FEATURES_COLUMNS = [
    "record_id",
    "session_id",
    "customer_id",
    "event_ts",
    "order_date",
    "day_of_year",
    "day_of_week",
    "hour_of_day",
    "is_weekend",
    "zip_code",
    "ship_state",
    "shipping_method",
    "carrier",
    "warehouse_id",
    "distance_km",
    "is_remote_area",
    "is_known_zip",
    "item_count",
    "line_count",
    "total_weight_kg",
    "order_value",
    "promised_days",
    "is_holiday",
    "days_to_next_holiday",
    "holidays_in_window",
    "session_event_count",
    "session_product_views",
    "session_add_to_carts",
    "session_duration_s",
    "delivery_status",
    "delivered_date",
    "delivery_days",
    "row_hash",
]

# The contract columns of gold/payments_unified; feature_columns follow them.
PAYMENTS_UNIFIED_CONTRACT_COLUMNS = [
    *TRANSACTION_COLUMNS[: TRANSACTION_COLUMNS.index("channel") + 1],
    "src_account_type",
    "src_country",
    "src_kyc_status",
    "src_account_age_days",
    "dst_account_type",
    "dst_country",
    "dst_kyc_status",
    "dst_account_age_days",
    "src_risk_flag",
    "dst_risk_flag",
    "fraud_flag",
    "label_is_mature",
]


def velocity_columns(windows: Mapping[str, int]) -> list[str]:
    """Count and amount of the source account's transactions in each window.

    Args:
        windows: Window name -> length in seconds (only the names matter).
    """
    return [f"src_txn_{kind}_{name}" for name in windows for kind in ("count", "amount")]


def feature_columns(windows: Mapping[str, int]) -> list[str]:
    """The columns of ``gold/payments_unified`` beyond the contract, for the velocity windows.

    Args:
        windows: Window name -> length in seconds (only the names matter).
    """
    return [
        "merchant_category",
        "hour_of_day",
        "day_of_week",
        "is_cross_border",
        *velocity_columns(windows),
        "src_prior_txn_count",
        "is_first_pair",
        "src_amount_mean_before",
        "src_amount_zscore",
        "label_status",
    ]


def payments_unified_columns(windows: Mapping[str, int]) -> list[str]:
    """Every column of ``gold/payments_unified`` but ``row_hash``, in Gold's order."""
    return PAYMENTS_UNIFIED_CONTRACT_COLUMNS + feature_columns(windows)
