"""Gold ``payments_unified`` settings and model columns: shared by Spark and the online twin.

No pyspark here, so that ``lakehouse.gold.payments`` (Spark), ``lakehouse.gold.payments_online``
(the service) and the fraud model read one definition.
"""

from __future__ import annotations

from collections.abc import Mapping

from lakehouse.contract import velocity_columns

# Velocity windows (name -> seconds) when configuration names none.
DEFAULT_VELOCITY_WINDOWS_S = {"1h": 3_600, "24h": 86_400, "7d": 604_800}

FRAUD_LABEL = "fraud_flag"
FRAUD_CATEGORICAL_FEATURES = [
    "channel",
    "currency",
    "merchant_category",
    "src_account_type",
    "src_country",
    "src_kyc_status",
    "dst_account_type",
    "dst_country",
    "dst_kyc_status",
]
FRAUD_BOOLEAN_FEATURES = ["src_risk_flag", "dst_risk_flag", "is_cross_border", "is_first_pair"]


def fraud_numeric_features(windows: Mapping[str, int]) -> list[str]:
    """The numeric model features for the given velocity windows."""
    velocity = velocity_columns(windows)
    return [
        "amount",
        "src_account_age_days",
        "dst_account_age_days",
        "hour_of_day",
        "day_of_week",
        *velocity,
        "src_prior_txn_count",
        "src_amount_mean_before",
        "src_amount_zscore",
    ]


def fraud_model_features(windows: Mapping[str, int]) -> list[str]:
    """Every column the fraud model reads: all computable online from one transaction plus the
    service's account history and recent-transactions state (never a label column)."""
    return fraud_numeric_features(windows) + FRAUD_BOOLEAN_FEATURES + FRAUD_CATEGORICAL_FEATURES
