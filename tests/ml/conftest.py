"""Fixtures for the model tests: a lake in ``tmp_path`` and small synthetic Gold tables."""

from __future__ import annotations

import pytest

from lakehouse.config import load_settings
from lakehouse.tables import GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED
from tests.support.gold import FAST_OVERRIDES, delivery_rows, fraud_rows, write_gold


@pytest.fixture
def ml_settings(tmp_path):
    """Settings whose lake (and MLflow store) live in ``tmp_path``."""
    return load_settings("local", lake=str(tmp_path / "lake"), overrides=FAST_OVERRIDES)


@pytest.fixture
def delivery_gold(spark, ml_settings):
    """gold/delivery_features with 1,500 delivered checkouts at version 1; yields 1.

    Version 0 (a first, smaller build) exists too, so training must pin the right one.
    """
    write_gold(spark, ml_settings, GOLD_DELIVERY_FEATURES, delivery_rows(100, seed=0))
    return write_gold(spark, ml_settings, GOLD_DELIVERY_FEATURES, delivery_rows(1500, seed=1))


@pytest.fixture
def fraud_gold(spark, ml_settings):
    """gold/payments_unified with 6,000 mature transactions; yields its version."""
    frame = fraud_rows(6000, seed=2, windows=ml_settings.payments.velocity_windows_s)
    return write_gold(spark, ml_settings, GOLD_PAYMENTS_UNIFIED, frame)
