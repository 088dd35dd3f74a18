"""``observe_many`` counts a batch of values as ``Histogram.observe`` counts them one by one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram

from serving.metrics import PREDICTION_BUCKETS, observe_many


def _samples(histogram: Histogram) -> dict[tuple[str, str], float]:
    (family,) = histogram.collect()
    samples = [s for s in family.samples if not s.name.endswith("_created")]
    return {(s.name, s.labels.get("le", "")): s.value for s in samples}


def _histogram(buckets) -> Histogram:
    return Histogram("h", "test", ["version"], buckets=buckets, registry=CollectorRegistry())


@pytest.mark.parametrize("task", sorted(PREDICTION_BUCKETS))
def test_a_batch_is_counted_as_its_values_one_by_one(task):
    buckets = PREDICTION_BUCKETS[task]
    rng = np.random.default_rng(7)
    top = float(buckets[-1])
    values = np.concatenate(
        [
            rng.uniform(-1, top * 1.5, 500),
            np.asarray(buckets, dtype=float),  # exactly on each bound: that bucket, not the next
            np.nextafter(np.asarray(buckets, dtype=float), np.inf),  # just above: the next
        ]
    )
    one_by_one, batched = _histogram(buckets), _histogram(buckets)
    for value in values.tolist():
        one_by_one.labels("1").observe(value)
    observe_many(batched.labels("1"), values[:300])
    observe_many(batched.labels("1"), values[300:])  # adds to what is there
    observe_many(batched.labels("1"), np.empty(0))
    expected, got = _samples(one_by_one), _samples(batched)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    assert got[("h_count", "")] == len(values)


def test_a_nan_is_in_no_bucket_and_turns_the_sum_nan():
    one_by_one, batched = _histogram((1, 2)), _histogram((1, 2))
    values = np.array([0.5, math.nan, 1.5])
    for value in values.tolist():
        one_by_one.labels("1").observe(value)
    observe_many(batched.labels("1"), values)
    expected, got = _samples(one_by_one), _samples(batched)
    assert math.isnan(got.pop(("h_sum", ""))) and math.isnan(expected.pop(("h_sum", "")))
    assert got == expected
    assert got[("h_count", "")] == 2
