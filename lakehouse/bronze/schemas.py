"""Bronze schemas: what the raw landing files are parsed with. Declared once, never inferred.

Values whose type varies in the wild (timestamps, zip codes, numbers) are read as strings here:
Spark's JSON reader keeps the text of any token in a string field, so nothing is lost before
Silver decides what each value means.
"""

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


def _strings(*names: str) -> list[StructField]:
    return [StructField(n, StringType()) for n in names]


CART_ITEM_SCHEMA = StructType(
    _strings("sku", "productName", "category", "quantity", "unitPrice", "weightKg")
)

# One Elasticsearch `_source` document (CONTRACT 1.1). Unknown extra fields are ignored here
# and survive in `raw_record`.
SESSION_SOURCE_SCHEMA = StructType(
    [
        *_strings("id", "sessionId", "createdDateTime", "eventType"),
        StructField(
            "customer",
            StructType(
                _strings("customerId", "email", "firstName", "lastName", "phone", "loyaltyTier")
            ),
        ),
        StructField("device", StructType(_strings("type", "os", "appVersion", "ipAddress"))),
        StructField(
            "cart",
            StructType(
                [
                    StructField("currency", StringType()),
                    StructField("items", ArrayType(CART_ITEM_SCHEMA)),
                ]
            ),
        ),
        StructField(
            "shipping",
            StructType(
                [
                    *_strings("method", "carrier", "warehouseId", "promisedDeliveryDate"),
                    StructField(
                        "address",
                        StructType(_strings("line1", "city", "state", "zipCode", "country")),
                    ),
                ]
            ),
        ),
        StructField("delivery", StructType(_strings("status", "deliveredDateTime"))),
    ]
)

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
