"""Schema drift: what a feed's batch looks like next to the contract and to its previous batch.

Pure rules, no Spark (``lakehouse.quality.drift_audit`` observes batches and records them).
A batch's shape is a flat mapping of field paths to kinds:

- session documents: dotted paths into the ``_source`` document (``shipping.address.zipCode``;
  a list's elements are ``cart.items[]``, their fields ``cart.items[].sku``; a name holding
  ``.``, ``[``, ``]``, a space or a backquote is written in backquotes), each of kind
  ``object``, ``array``, ``string``, ``number``, ``boolean``, ``null`` (only ever null) or
  ``mixed`` (kinds that do not merge, e.g. a string in one document and a number in another);
- CSV feeds: the feed's columns, each ``number`` (at least 95% of its non-empty values are
  numbers), ``text`` (at most 5% are), ``mixed`` or ``empty``, and each column the contract
  does not name, of kind ``extra``.

Three kinds of drift (CONTRACT section 3, "Schema drift"):

- ``new``: a field or column the contract does not name, first seen in this batch (a document
  reports only the topmost unknown path, not everything under it);
- ``missing``: a field the contract requires (a CSV feed's column; a session document's
  ``createdDateTime`` and ``eventType``) absent from the whole batch, or a document field the
  previous batch had that is gone while the object holding it is still there;
- ``retyped``: a field whose shape breaks the contract (an object where a value belongs, a
  value where a list belongs), or whose kind changed since the previous batch (a number
  become text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NEW = "new"
MISSING = "missing"
RETYPED = "retyped"
DRIFT_KINDS = (NEW, MISSING, RETYPED)

OBJECT = "object"
ARRAY = "array"
SCALAR = "scalar"  # the contract's word for any value (Bronze keeps it as text)
STRING = "string"
NUMBER = "number"
BOOLEAN = "boolean"
NULL = "null"
MIXED = "mixed"
TEXT = "text"
EMPTY = "empty"
EXTRA = "extra"

SCALAR_KINDS = frozenset({STRING, NUMBER, BOOLEAN})

# Session documents may lack any field (CONTRACT 1.1); without these a record cannot be kept.
SESSION_REQUIRED_FIELDS = ("createdDateTime", "eventType")

# A CSV column is numeric when this share of its non-empty values are numbers, text when at
# most 1 minus this share are: a few unreadable values are a row-level matter, not drift.
KIND_SHARE = 0.95

# A batch's shape is recorded with at most this many fields (a feed keyed by ids, such as a map
# of sku -> quantity, would otherwise grow without bound), and at most this many drifts.
MAX_FIELDS = 2000
MAX_DRIFTS = 200


@dataclass(frozen=True)
class Drift:
    """One difference: ``kind`` (new, missing, retyped), the ``field`` (path or column), what
    was expected (the contract's shape, or the previous batch's kind) and what was seen."""

    kind: str
    field: str
    expected: str | None
    observed: str | None

    def describe(self) -> str:
        """One line for humans."""
        if self.kind == NEW:
            return f"new {self.field} ({self.observed})"
        if self.kind == MISSING:
            seen = f", {self.observed}" if self.observed else ""
            return f"missing {self.field} (expected {self.expected}{seen})"
        return f"retyped {self.field} ({self.expected} -> {self.observed})"


# --- paths ----------------------------------------------------------------------------------

_PLAIN_NAME = re.compile(r"[^.\[\]` ]+")


def _name(name: str) -> str:
    if _PLAIN_NAME.fullmatch(name):
        return name
    return "`" + name.replace("`", "``") + "`"


def _child(path: str, name: str) -> str:
    return f"{path}.{_name(name)}" if path else _name(name)


def parent_path(path: str) -> str:
    """``a.b.c`` -> ``a.b``; ``a.b[]`` -> ``a.b``; ``a`` -> ``""`` (the document)."""
    if path.endswith("[]"):
        return path[:-2]
    depth, quoted = 0, False
    for i in range(len(path) - 1, -1, -1):
        char = path[i]
        if char == "`":
            quoted = not quoted
        elif char == "." and not quoted and depth == 0:
            return path[:i]
    return ""


def contract_fields(shape: Mapping[str, Any], path: str = "") -> dict[str, str]:
    """The paths of a contract shape (``lakehouse.contract.SESSION_DOCUMENT``) and their kinds:
    ``object``, ``array`` or ``scalar``."""
    fields: dict[str, str] = {}
    for name, spec in shape.items():
        fields.update(_contract_field(_child(path, name), spec))
    return fields


def _contract_field(path: str, spec: Any) -> dict[str, str]:
    if spec is None:
        return {path: SCALAR}
    if isinstance(spec, list):
        return {path: ARRAY, **_contract_field(path + "[]", spec[0])}
    return {path: OBJECT, **contract_fields(spec, path)}


# --- variant schemas ------------------------------------------------------------------------

_NUMBER_TYPES = ("TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL")


def scalar_kind(type_name: str) -> str:
    """The kind of a Spark variant type name (``BIGINT``, ``DECIMAL(4,2)``, ``STRING``...)."""
    base = type_name.split("(", 1)[0].strip().upper()
    if base in _NUMBER_TYPES:
        return NUMBER
    if base == "BOOLEAN":
        return BOOLEAN
    if base == "VOID":
        return NULL
    if base == "VARIANT":
        return MIXED
    return STRING  # STRING, and the dates, times and binaries a variant may hold


class _SchemaReader:
    """Reads the type string of ``schema_of_variant_agg``:
    ``OBJECT<a: BIGINT, `b c`: ARRAY<OBJECT<d: STRING>>, e: DECIMAL(4,2)>``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def fields(self) -> dict[str, str]:
        out: dict[str, str] = {}
        self._type("", out)
        self._space()
        if self.at != len(self.text):
            raise ValueError(f"unexpected text at {self.at} in a variant schema: {self.text!r}")
        return out

    def _space(self) -> None:
        while self.at < len(self.text) and self.text[self.at] == " ":
            self.at += 1

    def _expect(self, char: str) -> None:
        self._space()
        if not self.text.startswith(char, self.at):
            raise ValueError(f"expected {char!r} at {self.at} in a variant schema: {self.text!r}")
        self.at += 1

    def _word(self) -> str:
        self._space()
        start, text = self.at, self.text
        while self.at < len(text) and (text[self.at].isalnum() or text[self.at] == "_"):
            self.at += 1
        if self.text.startswith("(", self.at):  # DECIMAL(4,2)
            self.at = self.text.index(")", self.at) + 1
        return self.text[start : self.at]

    def _field_name(self) -> str:
        self._space()
        if not self.text.startswith("`", self.at):
            start = self.at
            self.at = self.text.index(":", self.at)
            return self.text[start : self.at].strip()
        name, self.at = [], self.at + 1
        while True:
            end = self.text.index("`", self.at)
            name.append(self.text[self.at : end])
            if self.text.startswith("``", end):
                name.append("`")
                self.at = end + 2
            else:
                self.at = end + 1
                return "".join(name)

    def _type(self, path: str, out: dict[str, str]) -> None:
        word = self._word()
        upper = word.upper()
        if upper == "OBJECT":
            if path:
                out[path] = OBJECT
            self._expect("<")
            self._space()
            if self.text.startswith(">", self.at):
                self.at += 1
                return
            while True:
                name = self._field_name()
                self._expect(":")
                self._type(_child(path, name), out)
                self._space()
                if self.text.startswith(",", self.at):
                    self.at += 1
                    continue
                self._expect(">")
                return
        if upper == "ARRAY":
            out[path] = ARRAY
            self._expect("<")
            self._type(path + "[]", out)
            self._expect(">")
            return
        if not word:
            raise ValueError(f"expected a type at {self.at} in a variant schema: {self.text!r}")
        out[path] = scalar_kind(word)


def variant_fields(schema: str | None, under: str | None = None) -> dict[str, str]:
    """The paths and kinds of the documents a ``schema_of_variant_agg`` result describes; the
    document itself is the path ``""``. With ``under``, the documents are the values of that
    top-level field (a hit's ``_source``): its paths, re-rooted; none when no record had it."""
    if not schema:
        return {}
    fields = _SchemaReader(schema).fields()
    if under is None:
        return fields
    top = _name(under)
    out = {}
    for path, kind in fields.items():
        if path == top:
            if kind != OBJECT:  # as for a whole document: an object root goes without saying
                out[""] = kind
        elif path.startswith(top + ".") or path.startswith(top + "["):
            out[path[len(top) :].removeprefix(".")] = kind
    return out


def merge_fields(*shapes: Mapping[str, str]) -> dict[str, str]:
    """Several shapes' paths as ``schema_of_variant_agg`` would have merged them over all their
    documents at once: one kind per path, ``null`` giving way to any other, two different kinds
    becoming ``mixed``, and nothing kept under a ``mixed`` path (a variant has no fields)."""
    merged: dict[str, str] = {}
    for shape in shapes:
        for path, kind in shape.items():
            was = merged.get(path, NULL)
            merged[path] = kind if was in (NULL, kind) else (was if kind == NULL else MIXED)
    mixed = {path for path, kind in merged.items() if kind == MIXED}
    return {path: kind for path, kind in merged.items() if not _under_any(path, mixed)}


def _under_any(path: str, parents: set[str]) -> bool:
    while path:
        path = parent_path(path)
        if path in parents:
            return True
    return False


# --- rules ----------------------------------------------------------------------------------


def _compatible(expected: str, observed: str) -> bool:
    if observed in (NULL, MIXED):
        return True  # nothing to judge by, or a mix of values (numbers and strings) for a value
    if expected == SCALAR:
        return observed in SCALAR_KINDS
    return expected == observed


def document_drift(
    contract: Mapping[str, str],
    observed: Mapping[str, str],
    previous: Mapping[str, str] | None,
    required: Sequence[str] = (),
) -> list[Drift]:
    """The drifts of one batch of documents (paths and kinds, see the module's docstring)
    against the contract's paths and the previous batch's (None for a feed's first batch)."""
    if not observed:
        return []
    before = previous or {}
    drifts: list[Drift] = []
    root = observed.get("")
    if root is not None and root != OBJECT:
        drifts.append(Drift(RETYPED, "(document)", OBJECT, root))
    for path, kind in sorted(observed.items()):
        if not path:
            continue
        expected = contract.get(path)
        if expected is None:
            parent = parent_path(path)
            if parent and contract.get(parent) not in (OBJECT, ARRAY):
                pass  # under an unknown or retyped field: only that one is reported
            elif path not in before:
                drifts.append(Drift(NEW, path, None, kind))
        elif not _compatible(expected, kind):
            drifts.append(Drift(RETYPED, path, expected, kind))
            continue
        was = before.get(path)
        if was is not None and _retyped_since(was, kind):
            drifts.append(Drift(RETYPED, path, f"{was} in the previous batch", kind))
    for path in required:
        if path not in observed:
            drifts.append(Drift(MISSING, path, "present", "absent from every record"))
    for path, was in sorted(before.items()):
        if path in observed or path in required or was in (OBJECT, NULL):
            continue
        parent = parent_path(path)
        if (not parent or parent in observed) and (not parent or observed[parent] != NULL):
            drifts.append(Drift(MISSING, path, f"{was} as in the previous batch", "absent"))
    return drifts


def _retyped_since(was: str, kind: str) -> bool:
    """A kind change worth reporting: between two value kinds, or between a value, an object
    and a list (``null`` and ``mixed`` say nothing)."""
    settled = SCALAR_KINDS | {OBJECT, ARRAY}
    return was in settled and kind in settled and was != kind


@dataclass(frozen=True)
class HeaderGroup:
    """The files of a CSV batch that share one header: how many, the names no feed column
    takes (``extra``, later duplicates of a known column left out) and the feed columns the
    header lacks (``missing``)."""

    files: int
    extra: tuple[str, ...]
    missing: tuple[str, ...]


def csv_fields(column_kinds: Mapping[str, str], groups: Iterable[HeaderGroup]) -> dict[str, str]:
    """A CSV batch's shape: the feed columns' kinds, and each unknown column as ``extra``."""
    fields = dict(column_kinds)
    for group in groups:
        fields.update(dict.fromkeys(group.extra, EXTRA))
    return fields


def csv_drift(
    feed_columns: Sequence[str],
    groups: Sequence[HeaderGroup],
    column_kinds: Mapping[str, str],
    previous: Mapping[str, str] | None,
) -> list[Drift]:
    """The drifts of one CSV batch: unknown columns first seen, feed columns some of its files
    lack (every batch they lack them), and columns whose kind changed since the previous batch
    (``number`` and ``text``)."""
    before = previous or {}
    drifts: list[Drift] = []
    seen: set[str] = set()
    for group in groups:
        for name in group.extra:
            if name not in seen and before.get(name) != EXTRA:
                drifts.append(Drift(NEW, name, None, EXTRA))
            seen.add(name)
    files = sum(g.files for g in groups)
    for column in feed_columns:
        lacking = sum(g.files for g in groups if column in g.missing)
        if lacking:
            absent = f"absent in {lacking} of {files} files"
            drifts.append(Drift(MISSING, column, "a column", absent))
            continue
        was, kind = before.get(column), column_kinds.get(column)
        if was in (NUMBER, TEXT) and kind in (NUMBER, TEXT) and was != kind:
            drifts.append(Drift(RETYPED, column, f"{was} in the previous batch", kind))
    return drifts


def column_kind(non_empty: int, numeric: int) -> str:
    """A CSV column's kind from its counts of non-empty and numeric values."""
    if not non_empty:
        return EMPTY
    share = numeric / non_empty
    if share >= KIND_SHARE:
        return NUMBER
    if share <= 1 - KIND_SHARE:
        return TEXT
    return MIXED


def bounded(fields: Mapping[str, str], drifts: Sequence[Drift]):
    """What a batch's record keeps: at most ``MAX_FIELDS`` fields (the shortest paths first, so
    a feed keyed by ids keeps its known structure) and ``MAX_DRIFTS`` drifts; with whether
    anything was left out."""
    kept = dict(sorted(fields.items(), key=lambda item: (item[0].count("."), item[0]))[:MAX_FIELDS])
    return kept, list(drifts[:MAX_DRIFTS]), len(kept) < len(fields) or len(drifts) > MAX_DRIFTS


__all__ = [
    "DRIFT_KINDS",
    "MISSING",
    "NEW",
    "RETYPED",
    "SESSION_REQUIRED_FIELDS",
    "Drift",
    "HeaderGroup",
    "bounded",
    "column_kind",
    "contract_fields",
    "csv_drift",
    "csv_fields",
    "document_drift",
    "merge_fields",
    "parent_path",
    "variant_fields",
]
