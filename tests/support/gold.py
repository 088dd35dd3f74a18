"""Small synthetic Gold tables with real signal, written as Delta with lineage metadata.

Used by the model, notebook and service tests; the fixtures that build them live in the
conftests.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from lakehouse.gold.payments_rules import fraud_model_features
from lakehouse.io.delta import overwrite_with_sources

METHODS = {"STANDARD": 5, "EXPRESS": 2, "OVERNIGHT": 1}
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

# small and fast, but the same code paths as production
FAST_OVERRIDES = [
    "ml.importance_rows=300",
    "ml.bootstrap.resamples=200",
    "ml.delivery.candidates.gradient_boosting.max_iter=60",
    "ml.fraud.candidates.gradient_boosting.max_iter=60",
    "ml.maintain.min_retention_hours=0",
    "ml.maintain.safety_margin_s=0",
]


def delivery_rows(n: int, seed: int, start: dt.datetime = START) -> pd.DataFrame:
    """Checkouts whose delivery days follow the method, distance, weekday and zip region."""
    rng = np.random.default_rng(seed)
    method = rng.choice(list(METHODS), n, p=[0.6, 0.3, 0.1])
    promised = np.array([METHODS[m] for m in method])
    offsets = pd.to_timedelta(np.sort(rng.uniform(0, 120, n)), unit="D").floor("ms")
    ts = pd.to_datetime(start) + offsets
    distance = rng.uniform(5, 3000, n)
    zip_region = rng.integers(0, 40, n)
    remote = rng.random(n) < 0.05
    days = (
        promised
        + distance / 1200
        + 2.0 * remote
        + (zip_region % 7 == 0) * 1.5
        + (ts.dayofweek.to_numpy() >= 5)
        + rng.normal(0, 0.4, n)
    )
    return pd.DataFrame(
        {
            "record_id": [f"r-{seed}-{i:06d}" for i in range(n)],
            "event_ts": ts,
            "day_of_year": ts.dayofyear.astype("int32"),
            "day_of_week": ts.dayofweek.astype("int32"),
            "hour_of_day": ts.hour.astype("int32"),
            "distance_km": np.round(distance, 3),
            "item_count": rng.integers(1, 6, n).astype("int32"),
            "total_weight_kg": np.round(rng.uniform(0.1, 20, n), 3),
            "order_value": np.round(rng.uniform(5, 500, n), 2),
            "promised_days": promised.astype("int32"),
            "days_to_next_holiday": rng.integers(0, 60, n).astype("int32"),
            "holidays_in_window": rng.integers(0, 2, n).astype("int32"),
            "is_weekend": ts.dayofweek.to_numpy() >= 5,
            "is_remote_area": remote,
            "is_holiday": rng.random(n) < 0.03,
            "shipping_method": method,
            "carrier": rng.choice(["UPS", "FEDEX", "USPS"], n),
            "warehouse_id": rng.choice([f"WH-{i:02d}" for i in range(5)], n),
            "ship_state": rng.choice(["OR", "CA", "NY", "TX"], n),
            "zip_code": [f"{97000 + r * 7:05d}" for r in zip_region],
            "delivery_days": np.maximum(np.round(days), 0).astype("int32"),
        }
    )


def fraud_rows(n: int, seed: int, windows: dict[str, int]) -> pd.DataFrame:
    """Transactions whose fraud hinges on an interaction (a burst from a fresh pair at night)."""
    rng = np.random.default_rng(seed)
    offsets = pd.to_timedelta(np.sort(rng.uniform(0, 90, n)), unit="D").floor("ms")
    ts = pd.to_datetime(START) + offsets
    burst = rng.random(n) < 0.1
    first_pair = rng.random(n) < 0.3
    night = ts.hour.to_numpy() < 6
    flagged = rng.random(n) < 0.05
    logit = -5.5 + 4.5 * (burst & first_pair) + 2.5 * flagged + 1.5 * (burst & night)
    fraud = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "transaction_id": [f"t-{seed}-{i:06d}" for i in range(n)],
            "transaction_ts": ts,
            "amount": np.round(rng.lognormal(4, 1, n), 2),
            "src_account_age_days": rng.integers(0, 2000, n).astype("int32"),
            "dst_account_age_days": rng.integers(0, 2000, n).astype("int32"),
            "hour_of_day": ts.hour.astype("int32"),
            "day_of_week": ts.dayofweek.astype("int32"),
            "src_prior_txn_count": rng.integers(0, 300, n).astype("int64"),
            "src_amount_mean_before": np.round(rng.lognormal(4, 0.5, n), 2),
            "src_amount_zscore": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 1, n)),
            "src_risk_flag": flagged.astype("int32"),
            "dst_risk_flag": (rng.random(n) < 0.05).astype("int32"),
            "is_cross_border": rng.random(n) < 0.2,
            "is_first_pair": first_pair,
            "channel": rng.choice(["web", "mobile", "pos", "api"], n),
            "currency": rng.choice(["USD", "EUR"], n),
            "merchant_category": rng.choice(["grocery", "travel", "electronics"], n),
            "src_account_type": rng.choice(["personal", "business"], n),
            "src_country": rng.choice(["US", "DE", "FR"], n),
            "src_kyc_status": rng.choice(["verified", "pending"], n),
            "dst_account_type": rng.choice(["personal", "business"], n),
            "dst_country": rng.choice(["US", "DE", "FR"], n),
            "dst_kyc_status": rng.choice(["verified", "pending"], n),
            "fraud_flag": fraud,
            "label_is_mature": True,
        }
    )
    for name in windows:
        frame[f"src_txn_count_{name}"] = np.where(burst, rng.integers(3, 9, n), 0).astype("int64")
        frame[f"src_txn_amount_{name}"] = np.round(frame[f"src_txn_count_{name}"] * 50.0, 2)
    missing = set(fraud_model_features(windows)) - set(frame.columns)
    assert not missing, missing
    return frame


def write_gold(spark, settings, table, frame: pd.DataFrame, *, mode: str = "overwrite") -> int:
    """Write ``frame`` to a Gold table with lineage metadata; return the new version."""
    from delta.tables import DeltaTable

    path = settings.table_path(*table)
    df = spark.createDataFrame(frame)
    if mode == "overwrite":
        overwrite_with_sources(df, path, {"silver/synthetic": 3})
    else:
        df.write.format("delta").mode(mode).save(path)
    return int(DeltaTable.forPath(spark, path).history(1).first()["version"])
