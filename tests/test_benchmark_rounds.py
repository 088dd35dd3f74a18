"""The benchmarks' quality rounds: interleaved so that warm-up favours no mode, judged by the
medians (no Spark: the runs are stand-ins with known durations)."""

from __future__ import annotations

from collections import Counter

from benchmarks.common import QUALITY_MODES, quality_round_order, quality_rounds


def test_over_three_rounds_each_mode_runs_once_in_each_place():
    order = quality_round_order(3)
    assert len(order) == 3 * len(QUALITY_MODES)
    places = Counter((mode, i % len(QUALITY_MODES)) for i, (_, mode) in enumerate(order))
    assert set(places.values()) == {1}
    assert [number for number, _ in order] == sorted(number for number, _ in order)


def test_the_overhead_is_the_median_with_against_the_median_without():
    # one slow "off" run (a noisy neighbour) must not make the quality work look free
    durations = {
        "off": [100.0, 160.0, 104.0],
        "suites": [108.0, 106.0, 110.0],
        "on": [112.0, 115.0, 118.0],
    }
    calls, runs = [], Counter()

    def run(mode: str, label: str) -> float:
        calls.append(label)
        runs[mode] += 1
        return durations[mode][runs[mode] - 1]

    results: dict = {}
    quality_rounds(results, run, rounds=3)
    assert results["quality_off_s"] == 104.0
    assert results["quality_on_s"] == 115.0
    assert results["quality_overhead_pct"] == round(100 * (115 / 104 - 1), 1)
    assert results["suites_overhead_pct"] == round(100 * (108 / 104 - 1), 1)
    assert results["quality_runs_s"]["off"] == [100.0, 160.0, 104.0]
    assert len(calls) == 9 and len(set(calls)) == 9
