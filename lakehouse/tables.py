"""Names of the lake's tables: ``<lake>/<layer>/<name>`` (CONTRACT section 2)."""

from __future__ import annotations

from typing import NamedTuple

from lakehouse.contract import PAYMENT_FEEDS, TRANSACTIONS


class Table(NamedTuple):
    """A table's place in the lake."""

    layer: str
    name: str

    @property
    def key(self) -> str:
        """``layer/name``, as used in lineage records and on the command line."""
        return f"{self.layer}/{self.name}"


# The sources, as `--source` names them: each has one module in lakehouse/pipeline.
SOURCES = ("reference", "sessions", "payments", "inference_log")

BRONZE_SESSIONS = Table("bronze", "sessions")
SILVER_SESSIONS = Table("silver", "sessions")
QUARANTINE_SESSIONS = Table("quarantine", "sessions")
SILVER_ZIP_CODES = Table("silver", "zip_codes")
SILVER_WAREHOUSES = Table("silver", "warehouses")
SILVER_HOLIDAYS = Table("silver", "holidays")
GOLD_DELIVERY_FEATURES = Table("gold", "delivery_features")
BATCH_LEDGER = Table("audit", "batch_ledger")
REFUSED_FILES = Table("audit", "refused_files")
FILE_RETRIES = Table("audit", "file_retries")
ROW_WARNINGS = Table("audit", "row_warnings")
EXPECTATIONS = Table("audit", "expectations")
SCHEMA_DRIFT = Table("audit", "schema_drift")
QUARANTINE_RELEASES = Table("audit", "quarantine_releases")
QUARANTINE_REPLAYS = Table("audit", "quarantine_replays")

SILVER_TRANSACTIONS = Table("silver", TRANSACTIONS)
SILVER_ACCOUNT_CHANGES = Table("silver", "account_changes")
SILVER_ACCOUNTS = Table("silver", "accounts")
SILVER_RISK_EVENTS = Table("silver", "risk_events")
SILVER_RISK_INTERVALS = Table("silver", "risk_intervals")
SILVER_FRAUD_CASE_HISTORY = Table("silver", "fraud_case_history")
SILVER_FRAUD_CASES = Table("silver", "fraud_cases")
GOLD_PAYMENTS_UNIFIED = Table("gold", "payments_unified")

# Batch predictions (`lakehouse score`), written with the same model versions the service uses.
GOLD_DELIVERY_PREDICTIONS = Table("gold", "delivery_predictions")
GOLD_FRAUD_SCORES = Table("gold", "fraud_scores")
PREDICTION_TABLES = (GOLD_DELIVERY_PREDICTIONS, GOLD_FRAUD_SCORES)
# Every answer of the service and of `lakehouse score` (lakehouse.inference_log).
INFERENCE_LOG = Table("audit", "inference_log")
# Those answers judged by the outcomes that arrived since (lakehouse.gold.model_performance).
GOLD_MODEL_PERFORMANCE = Table("gold", "model_performance")
# Each new Gold version's newest rows beside the champion's training data, per feature
# (lakehouse.ml.feature_drift).
FEATURE_DRIFT = Table("audit", "feature_drift")
# Rejected rows of the reference data (lakehouse.pipeline.reference).
QUARANTINE_REFERENCE = Table("quarantine", "reference")
# What each `lakehouse forget` request removed (lakehouse.erasure).
ERASURES = Table("audit", "erasures")

ALL_TABLES = (
    BRONZE_SESSIONS,
    SILVER_SESSIONS,
    QUARANTINE_SESSIONS,
    SILVER_ZIP_CODES,
    SILVER_WAREHOUSES,
    SILVER_HOLIDAYS,
    GOLD_DELIVERY_FEATURES,
    *(Table("bronze", feed) for feed in PAYMENT_FEEDS),
    SILVER_TRANSACTIONS,
    SILVER_ACCOUNT_CHANGES,
    SILVER_ACCOUNTS,
    SILVER_RISK_EVENTS,
    SILVER_RISK_INTERVALS,
    SILVER_FRAUD_CASE_HISTORY,
    SILVER_FRAUD_CASES,
    *(Table("quarantine", feed) for feed in PAYMENT_FEEDS),
    GOLD_PAYMENTS_UNIFIED,
    BATCH_LEDGER,
    REFUSED_FILES,
    FILE_RETRIES,
    ROW_WARNINGS,
    EXPECTATIONS,
    SCHEMA_DRIFT,
    QUARANTINE_RELEASES,
    QUARANTINE_REPLAYS,
    *PREDICTION_TABLES,
    INFERENCE_LOG,
    GOLD_MODEL_PERFORMANCE,
    FEATURE_DRIFT,
)

# Every table the catalog names (lakehouse.catalog): those above and the two that maintenance
# and the kill tests leave alone.
NAMED_TABLES = (*ALL_TABLES, QUARANTINE_REFERENCE, ERASURES)


def parse_table(key: str) -> Table:
    """``"gold/delivery_features"`` or ``"gold.delivery_features"`` (its catalog name) ->
    ``Table("gold", "delivery_features")``."""
    text = key.strip().strip("/")
    separator = "/" if "/" in text else "."
    layer, sep, name = text.partition(separator)
    if not sep or not layer or not name or "/" in name or "." in name:
        raise ValueError(
            f"a table is named layer.name or layer/name, e.g. gold.delivery_features; got {key!r}"
        )
    return Table(layer, name)
