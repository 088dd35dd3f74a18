"""Micro-batching: concurrent requests share model calls, never across model versions."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from lakehouse.features import FeatureRows
from serving.batcher import MicroBatcher


class FakeModel:
    """Scores a row as its ``x`` times ``factor``; records every call's size."""

    def __init__(self, factor: float = 1.0, fail: bool = False) -> None:
        self.factor = factor
        self.fail = fail
        self.calls: list[int] = []

    def predict(self, rows):
        self.calls.append(len(rows))
        if self.fail:
            raise RuntimeError("model broke")
        return np.array([r["x"] * self.factor for r in rows]), rows


def rows(*values):
    return [{"x": v} for v in values]


def test_concurrent_requests_share_one_call_and_get_their_own_rows():
    model = FakeModel()
    seen = []
    batcher = MicroBatcher(0.0, 256, lambda m, inputs, out, s: seen.append(len(out)))

    async def main():
        return await asyncio.gather(*(batcher.predict(model, rows(i, i + 0.5)) for i in range(8)))

    answers = asyncio.run(main())
    assert model.calls == [16] and seen == [16]
    for i, answer in enumerate(answers):
        np.testing.assert_array_equal(answer, [i, i + 0.5])


def test_requests_for_different_model_objects_are_never_mixed():
    old, new = FakeModel(1.0), FakeModel(10.0)
    batcher = MicroBatcher(0.0, 256)

    async def main():
        return await asyncio.gather(
            batcher.predict(old, rows(1)),
            batcher.predict(new, rows(1)),
            batcher.predict(old, rows(2)),
        )

    a, b, c = asyncio.run(main())
    assert (a.tolist(), b.tolist(), c.tolist()) == ([1.0], [10.0], [2.0])
    assert old.calls == [2] and new.calls == [1]


def test_a_full_batch_flushes_at_once_and_a_large_request_goes_alone():
    model = FakeModel()
    batcher = MicroBatcher(60.0, 4)  # a long wait: only the size limit can flush

    async def main():
        small = asyncio.gather(*(batcher.predict(model, rows(i)) for i in range(4)))
        large = batcher.predict(model, rows(*range(10)))
        return await asyncio.wait_for(asyncio.gather(small, large), timeout=5)

    small, large = asyncio.run(main())
    assert [s.tolist() for s in small] == [[0], [1], [2], [3]]
    assert large.tolist() == list(range(10))
    assert sorted(model.calls) == [4, 10]


def test_a_wait_collects_requests_that_arrive_later():
    model = FakeModel()
    batcher = MicroBatcher(0.05, 256)

    async def late(i):
        await asyncio.sleep(0.01)
        return await batcher.predict(model, rows(i))

    async def main():
        return await asyncio.gather(batcher.predict(model, rows(0)), late(1), late(2))

    asyncio.run(main())
    assert model.calls == [3]


def test_a_failing_model_fails_every_request_of_its_batch():
    model = FakeModel(fail=True)
    batcher = MicroBatcher(0.0, 256)

    async def main():
        return await asyncio.gather(
            batcher.predict(model, rows(1)), batcher.predict(model, rows(2)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) for r in results)


def test_a_cancelled_request_does_not_break_the_others():
    model = FakeModel()
    batcher = MicroBatcher(0.02, 256)

    async def main():
        gone = asyncio.ensure_future(batcher.predict(model, rows(1)))
        kept = asyncio.ensure_future(batcher.predict(model, rows(2)))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await kept

    assert asyncio.run(main()).tolist() == [2]


class ColumnModel(FakeModel):
    """Records what each call was given."""

    def __init__(self) -> None:
        super().__init__()
        self.given: list = []

    def predict(self, rows):
        self.given.append(rows)
        return super().predict(rows)


def test_requests_held_as_columns_are_scored_as_columns_in_their_order():
    model = ColumnModel()
    batcher = MicroBatcher(0.0, 256)
    parts = [FeatureRows({"x": (i, i + 0.5), "y": ("a", None)}) for i in range(3)]

    async def main():
        return await asyncio.gather(*(batcher.predict(model, part) for part in parts))

    answers = asyncio.run(main())
    (given,) = model.given
    assert isinstance(given, FeatureRows)
    assert given.columns == {"x": [0, 0.5, 1, 1.5, 2, 2.5], "y": ["a", None] * 3}
    assert [a.tolist() for a in answers] == [[0, 0.5], [1, 1.5], [2, 2.5]]


def test_requests_with_other_columns_or_as_mappings_are_scored_as_mappings():
    model = ColumnModel()
    batcher = MicroBatcher(0.0, 256)
    parts = [FeatureRows({"x": (1,)}), FeatureRows({"x": (2,), "z": (0,)}), rows(3)]

    async def main():
        return await asyncio.gather(*(batcher.predict(model, part) for part in parts))

    answers = asyncio.run(main())
    assert model.given == [[{"x": 1}, {"x": 2, "z": 0}, {"x": 3}]]
    assert [a.tolist() for a in answers] == [[1], [2], [3]]
    with pytest.raises(ValueError, match="different columns"):
        FeatureRows.joined(parts[:2])
