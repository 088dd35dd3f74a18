"""Bronze schemas: what the raw landing files are parsed with. Declared once, never inferred.

Values whose type varies in the wild (timestamps, zip codes, numbers) are read as strings here:
Spark's JSON reader keeps the text of any token in a string field, so nothing is lost before
Silver decides what each value means.
"""

from collections.abc import Mapping
from typing import Any

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakehouse.contract import CART_ITEM_FIELDS, SESSION_DOCUMENT


def _struct(fields: Mapping[str, Any]) -> StructType:
    """The Spark schema of a contract shape (``lakehouse.contract.SESSION_DOCUMENT``)."""
    return StructType([StructField(name, _data_type(spec)) for name, spec in fields.items()])


def _data_type(spec: Any) -> DataType:
    if spec is None:
        return StringType()  # any scalar: the JSON reader keeps its text
    if isinstance(spec, list):
        return ArrayType(_data_type(spec[0]))
    return _struct(spec)


CART_ITEM_SCHEMA = _struct(CART_ITEM_FIELDS)

# One Elasticsearch `_source` document (CONTRACT 1.1). Unknown extra fields are ignored here
# and survive in `raw_record`.
SESSION_SOURCE_SCHEMA = _struct(SESSION_DOCUMENT)

CORRUPT_RECORD_COLUMN = "_corrupt_record"

# A line is either a hit (`_index`, `_id`, `_source`) or a bare `_source`: one schema parses
# both in a single pass, and the transform picks whichever part is present.
HIT_OR_SOURCE_SCHEMA = StructType(
    [
        StructField("_index", StringType()),
        StructField("_id", StringType()),
        StructField("_source", SESSION_SOURCE_SCHEMA),
        *SESSION_SOURCE_SCHEMA.fields,
        StructField(CORRUPT_RECORD_COLUMN, StringType()),
    ]
)

# A search-API response; each hit is kept as its own JSON text (a string field keeps the text).
SEARCH_RESPONSE_SCHEMA = StructType(
    [
        StructField(
            "hits",
            StructType([StructField("hits", ArrayType(StringType()))]),
        )
    ]
)

# The whole-file rows the landing reader produces for the sessions source.
LANDING_FILE_SCHEMA = StructType(
    [
        StructField("value", StringType()),
        StructField("source_file", StringType()),
        StructField("source_modified_at", TimestampType()),
    ]
)

BRONZE_SESSIONS_SCHEMA = StructType(
    [
        StructField("record_id", StringType()),
        StructField("export_shape", StringType()),
        StructField("es_index", StringType()),
        StructField("es_id", StringType()),
        StructField("source", SESSION_SOURCE_SCHEMA),
        StructField("raw_record", StringType()),
        StructField("is_malformed", BooleanType(), False),
        StructField("parse_error", StringType()),
        StructField("_source_file", StringType()),
        StructField("_source_modified_at", TimestampType()),
        StructField("_record_index", IntegerType()),
        StructField("_file_error", StringType()),
        StructField("_batch_id", LongType()),
        StructField("_ingested_at", TimestampType()),
    ]
)

__all__ = [
    "BRONZE_SESSIONS_SCHEMA",
    "CART_ITEM_SCHEMA",
    "CORRUPT_RECORD_COLUMN",
    "HIT_OR_SOURCE_SCHEMA",
    "LANDING_FILE_SCHEMA",
    "SEARCH_RESPONSE_SCHEMA",
    "SESSION_SOURCE_SCHEMA",
]
