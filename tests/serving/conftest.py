"""The serving tests' lake and registry, built once per session (helpers: tests/support)."""

from __future__ import annotations

import pytest

from lakehouse.config import load_settings
from lakehouse.ml.promotion import promote
from lakehouse.ml.training import train_model
from lakehouse.tables import GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED
from tests.support.gold import delivery_rows, fraud_rows, write_gold
from tests.support.serving import (
    DELIVERY,
    FRAUD,
    SERVE_OVERRIDES,
    ServingLake,
    write_silver,
)


@pytest.fixture(scope="session")
def serving_lake(spark, tmp_path_factory) -> ServingLake:
    """The lake and registry every serving test reads (aliases restored by who moves them)."""
    lake = tmp_path_factory.mktemp("serving") / "lake"
    settings = load_settings("local", lake=str(lake), overrides=SERVE_OVERRIDES)
    write_gold(spark, settings, GOLD_DELIVERY_FEATURES, delivery_rows(1500, seed=1))
    windows = settings.payments.velocity_windows_s
    write_gold(spark, settings, GOLD_PAYMENTS_UNIFIED, fraud_rows(6000, seed=2, windows=windows))
    write_silver(settings)
    strong = train_model(spark, settings, "delivery")
    promote(spark, settings, DELIVERY)
    fraud = train_model(spark, settings, "fraud")
    promote(spark, settings, FRAUD)
    weak_settings = settings.model_copy(deep=True)
    weak_settings.ml.delivery.candidates = {"linear": {"alpha": 1e4}}
    weak = train_model(spark, weak_settings, "delivery")
    return ServingLake(settings, strong.model_version, weak.model_version, fraud.model_version)
