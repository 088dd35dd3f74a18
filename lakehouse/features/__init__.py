"""Online features for the service: the Bronze, Silver and Gold twins composed, no JVM.

Spark computes the Gold tables in batch; the prediction service computes the same features
for one request at a time. Each layer's pure-Python twin lives beside the Spark code it mirrors
(``lakehouse/{bronze,silver,gold}/*_online.py``); ``delivery_online`` and ``fraud_online`` here
compose them into the entry points the service calls and load their state from the lake
(``lakehouse.io.delta_reader``). Parity tests beside each layer's tests prove twin == Spark.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import chain
from typing import Any, overload


class FeatureError(ValueError):
    """A request value the batch pipeline would quarantine, so no feature can be computed.

    The service answers such a request with 422 and names the field and the reason.

    Attributes:
        field: The input field at fault: a column name of CONTRACT section 1.2 for a payment,
            a path into the document of section 1.1 for a checkout (``shipping.address.zipCode``).
        reason: The Silver quarantine reason code, e.g. ``invalid_amount``.
    """

    def __init__(self, field: str, reason: str, message: str | None = None) -> None:
        self.field = field
        self.reason = reason
        super().__init__(message or f"{field}: {reason}")


class FeatureRows(Sequence[dict[str, Any]]):
    """A batch's feature rows, held as columns.

    A batch computes its features a column at a time and a model reads them a column at a
    time (``serving.fastpath.encode_rows``), so the rows are never built as dicts on the way;
    a row is one when asked for (``rows[i]``, a slice, iteration), as the inference log hashes
    them, off the request's path.

    Attributes:
        columns: Column name -> its values, one per row, every column as long.
    """

    __slots__ = ("_length", "columns")

    def __init__(self, columns: Mapping[str, Sequence[Any]]) -> None:
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self.columns = dict(columns)
        self._length = lengths.pop() if lengths else 0

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            names = tuple(self.columns)
            parts = (values[index] for values in self.columns.values())
            return [dict(zip(names, row, strict=True)) for row in zip(*parts, strict=True)]
        if not -self._length <= index < self._length:
            raise IndexError("row index out of range")
        return {name: values[index] for name, values in self.columns.items()}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = tuple(self.columns)
        for row in zip(*self.columns.values(), strict=True):
            yield dict(zip(names, row, strict=True))

    @classmethod
    def joined(cls, parts: Sequence[FeatureRows]) -> FeatureRows:
        """The rows of ``parts``, one part after the other, still as columns.

        Raises:
            ValueError: The parts do not all have the same columns.
        """
        names = tuple(parts[0].columns) if parts else ()
        if any(tuple(part.columns) != names for part in parts):
            raise ValueError("feature rows with different columns cannot be joined")
        return cls(
            {name: list(chain.from_iterable(p.columns[name] for p in parts)) for name in names}
        )
