"""Online twin of ``lakehouse.bronze.sessions``: one decoded document as Bronze reads it.

Bronze reads each session document against ``SESSION_SOURCE_SCHEMA`` (built from
``lakehouse.contract.SESSION_DOCUMENT``), where every scalar is kept as the text Spark's JSON
reader gives it: a JSON number becomes Java's ``Double.toString`` (or its digits, for an
integer), an object or a list in a string field its compact JSON, ``true`` the text ``true``.
A value of the wrong shape where an object or a list belongs makes the record malformed
(``malformed_json``); a bare document without any session field is ``not_a_session_document``.
The record id is the document's ``id``, else the hit's ``_id``, trimmed of spaces.

No pyspark here: the prediction service runs this for every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from lakehouse.contract import ERROR_MALFORMED_JSON, ERROR_NOT_A_DOCUMENT, SESSION_DOCUMENT
from lakehouse.features import FeatureError
from lakehouse.spark_semantics import java_double_text, trim_to_null

# The field a FeatureError names when the document as a whole is at fault.
DOCUMENT_FIELD = "_source"

_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _json_escape(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch < " ":
            out.append(_SHORT_ESCAPES.get(ch) or f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_compact(value: Any) -> str:
    """Jackson's compact JSON of an object or list kept in a string field."""
    if isinstance(value, Mapping):
        inner = ",".join(f"{_json_escape(str(k))}:{_json_compact(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_compact(v) for v in value) + "]"
    if isinstance(value, str):
        return _json_escape(value)
    if value is None:
        return "null"
    return json_text(value)


def json_text(value: Any) -> str | None:
    """The text Bronze holds for a JSON value read into a string field (None for null)."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return java_double_text(value)
    if isinstance(value, Mapping | list | tuple):
        return _json_compact(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float | Decimal):
        return java_double_text(float(value))
    return str(value)


_STRUCT, _ARRAY = "struct", "array"


def _shape_of(fields: Mapping[str, Any]) -> tuple:
    """The fields of a contract shape that must hold an object or a list (strings take any)."""
    shape = []
    for name, spec in fields.items():
        if isinstance(spec, Mapping):
            shape.append((name, _STRUCT, _shape_of(spec)))
        elif isinstance(spec, list):
            element = spec[0]
            shape.append(
                (name, _ARRAY, _shape_of(element) if isinstance(element, Mapping) else None)
            )
    return tuple(shape)


_SOURCE_SHAPE = _shape_of(SESSION_DOCUMENT)
_SOURCE_FIELDS = tuple(SESSION_DOCUMENT)


def _is_object(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _is_list(value: Any) -> bool:
    return type(value) is list or isinstance(value, list | tuple)


def _well_shaped(obj: Mapping, shape: tuple) -> bool:
    """Whether every value where Spark's schema wants an object or a list is one (fast path)."""
    for name, kind, inner in shape:
        value = obj.get(name)
        if value is None:
            continue
        if kind is _STRUCT:
            if type(value) is not dict and not isinstance(value, Mapping):
                return False
            if inner and not _well_shaped(value, inner):
                return False
        elif type(value) is not list and not isinstance(value, list | tuple):
            return False
        elif inner is not None:
            for element in value:
                if element is None:
                    continue
                if type(element) is not dict and not isinstance(element, Mapping):
                    return False
                if inner and not _well_shaped(element, inner):
                    return False
    return True


def _misshapen(obj: Mapping, shape: tuple, path: str) -> str | None:
    """Path of the first value where Spark's schema wants an object or a list and gets another."""
    if _well_shaped(obj, shape):
        return None
    for name, kind, inner in shape:
        value = obj.get(name)
        if value is None:
            continue
        where = path + name
        if kind is _STRUCT:
            if not _is_object(value):
                return where
            bad = _misshapen(value, inner, where + ".")
            if bad:
                return bad
            continue
        if not _is_list(value):
            return where
        if inner is None:
            continue
        for i, element in enumerate(value):
            if element is None:
                continue
            if not _is_object(element):
                return f"{where}[{i}]"
            bad = _misshapen(element, inner, f"{where}[{i}].")
            if bad:
                return bad
    return None


def _blank_to_null(value: Any) -> str | None:
    """Bronze's ``_blank_to_null``: the text trimmed of spaces, None when nothing is left."""
    return trim_to_null(json_text(value))


def parse_document(document: Any) -> tuple[Mapping | None, str | None, str]:
    """Bronze's ``with_parsed_record`` for one document already decoded from JSON.

    Args:
        document: A bare ``_source`` document or a hit (``{"_id": ..., "_source": {...}}``).

    Returns:
        The ``_source`` document, the record id, and the prefix of field paths in the request
        (``_source.`` for a hit, nothing for a bare document).

    Raises:
        FeatureError: For a record Bronze marks malformed, with Bronze's ``parse_error``.
    """
    if not isinstance(document, Mapping):
        raise FeatureError(
            DOCUMENT_FIELD, ERROR_MALFORMED_JSON, "the document is not a JSON object"
        )
    wrapped = document.get("_source")
    is_hit = wrapped is not None or document.get("_id") is not None
    bad = None
    if wrapped is not None and not _is_object(wrapped):
        bad = "_source"
    bad = bad or _misshapen(document, _SOURCE_SHAPE, "")
    if bad is None and wrapped is not None:
        bad = _misshapen(wrapped, _SOURCE_SHAPE, "_source.")
    if bad is not None:
        raise FeatureError(bad, ERROR_MALFORMED_JSON, f"{bad}: not the object or list expected")
    if not is_hit and all(document.get(name) is None for name in _SOURCE_FIELDS):
        raise FeatureError(
            DOCUMENT_FIELD, ERROR_NOT_A_DOCUMENT, "no field of a session document is set"
        )
    record_id = (
        (_blank_to_null(wrapped.get("id")) if wrapped is not None else None)
        or _blank_to_null(document.get("id"))
        or _blank_to_null(document.get("_id"))
    )
    return (wrapped if is_hit else document), record_id, ("_source." if is_hit else "")
