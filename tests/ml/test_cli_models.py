"""The model commands end to end through click (the retraining policy: test_retraining.py)."""

from __future__ import annotations

import re

from click.testing import CliRunner

from lakehouse.cli import cli
from lakehouse.errors import EXIT_PROMOTION_REFUSED
from tests.support.gold import FAST_OVERRIDES


def invoke(settings, *args, last=()):
    """Run ``lakehouse *args`` on the test lake with the fast settings, then ``last``."""
    overrides = [a for o in FAST_OVERRIDES for a in ("--set", o)]
    return CliRunner().invoke(
        cli, [*args, "--lake", settings.lake_root, *overrides, *last], catch_exceptions=False
    )


def test_train_promote_models_reproduce_rollback(spark, ml_settings, delivery_gold):
    trained = invoke(ml_settings, "train", "delivery")
    assert trained.exit_code == 0, trained.output
    assert "test: mae=" in trained.output and "(baseline " in trained.output
    run_id = re.search(r"run ([0-9a-f]{32})", trained.output).group(1)

    promoted = invoke(ml_settings, "promote", "delivery")
    assert promoted.exit_code == 0, promoted.output
    assert "delivery_date v1 is champion" in promoted.output

    again = invoke(ml_settings, "promote", "delivery")
    assert again.exit_code == 1 and "has no challenger" in again.output

    models = invoke(ml_settings, "models")
    assert "delivery_date v1 @champion" in models.output
    assert f"gold/delivery_features@v{delivery_gold}" in models.output

    # a much weaker challenger: the gate refuses it and shows both scores; --force overrides,
    # and rollback brings the better one back
    weak = [
        "--set", "ml.delivery.candidates.gradient_boosting.max_iter=1",
        "--set", "ml.delivery.candidates.linear.alpha=100000",
    ]  # fmt: skip
    trained_weak = invoke(ml_settings, "train", "delivery", last=weak)
    assert trained_weak.exit_code == 0, trained_weak.output
    refused = invoke(ml_settings, "promote", "delivery")
    assert refused.exit_code == EXIT_PROMOTION_REFUSED, refused.output  # an outcome: 3
    assert "challenger v2" in refused.output and "champion v1" in refused.output
    forced = invoke(ml_settings, "promote", "delivery", "--force")
    assert forced.exit_code == 0 and "forced_promotion: delivery_date v2 is champion" in (
        forced.output
    )
    back = invoke(ml_settings, "rollback", "delivery")
    assert back.exit_code == 0 and "v1" in back.output, back.output

    reproduced = invoke(ml_settings, "reproduce", run_id)
    assert reproduced.exit_code == 0, reproduced.output
    assert "reproduced: identical" in reproduced.output

    no_previous = invoke(ml_settings, "rollback", "delivery")
    assert no_previous.exit_code == 1 and "no previous champion" in no_previous.output

    dry = invoke(ml_settings, "maintain", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"kept v{delivery_gold}: needed by delivery_date v1 @champion" in dry.output

    unknown = invoke(ml_settings, "train", "weather")
    assert unknown.exit_code == 2 and "weather" in unknown.output
