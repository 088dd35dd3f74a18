"""Bronze transforms for Elasticsearch session exports: whole files in, one row per record out.

Three export shapes occur side by side (CONTRACT 1.1): NDJSON of hits, a (pretty-printed)
search-API response, and NDJSON of bare ``_source`` documents. Each record keeps its raw text,
its parsed form, and where it came from; malformed records are kept and flagged.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.bronze.schemas import (
    CORRUPT_RECORD_COLUMN,
    HIT_OR_SOURCE_SCHEMA,
    SEARCH_RESPONSE_SCHEMA,
    SESSION_SOURCE_SCHEMA,
)
from lakehouse.contract import ERROR_MALFORMED_JSON, ERROR_NOT_A_DOCUMENT

SHAPE_HIT = "hit"
SHAPE_SEARCH_RESPONSE = "search_response"
SHAPE_SOURCE = "source"

_JSON_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD_COLUMN}
_LINE_BREAK = r"\r?\n"


def _blank_to_null(value: Column) -> Column:
    trimmed = F.trim(value)
    return F.when(trimmed != "", trimmed)


def explode_export_records(files_df: DataFrame) -> DataFrame:
    """Split whole export files into records.

    Args:
        files_df: One row per file: ``value`` (the text), ``source_file``, ``source_modified_at``
            and optionally ``file_error`` (the reason of a refused file whose records are kept).

    Returns:
        One row per non-blank NDJSON line or per search-response hit, with ``raw_record``,
        ``_record_index`` (1-based line or hit number), ``is_search_response`` and
        ``_file_error``.
    """
    hits = F.from_json("value", SEARCH_RESPONSE_SCHEMA).getField("hits").getField("hits")
    lines = F.split("value", _LINE_BREAK)
    # The shape travels inside each array element: a column computed from the whole file next
    # to the explode would be re-evaluated for every record (a full re-parse of the file each).
    records = F.when(
        F.ltrim("value").startswith("{") & hits.isNotNull(),
        F.transform(
            hits, lambda hit: F.struct(hit.alias("text"), F.lit(True).alias("in_response"))
        ),
    ).otherwise(
        F.transform(
            lines, lambda line: F.struct(line.alias("text"), F.lit(False).alias("in_response"))
        )
    )
    file_error = (
        F.col("file_error") if "file_error" in files_df.columns else F.lit(None).cast("string")
    )
    return (
        files_df.select(
            "source_file",
            "source_modified_at",
            file_error.alias("file_error"),
            F.posexplode(records).alias("position", "record"),
        )
        .where(F.trim("record.text") != "")
        .select(
            F.col("record.text").alias("raw_record"),
            F.col("record.in_response").alias("is_search_response"),
            (F.col("position") + 1).cast("int").alias("_record_index"),
            F.col("source_file").alias("_source_file"),
            F.col("source_modified_at").alias("_source_modified_at"),
            F.col("file_error").alias("_file_error"),
        )
    )


def with_parsed_record(records_df: DataFrame) -> DataFrame:
    """Parse each raw record as a hit or a bare ``_source`` document.

    Adds ``record_id`` (``id``, else the hit's ``_id``), ``export_shape``, ``es_index``,
    ``es_id``, ``source`` (the ``_source`` struct), ``is_malformed`` and ``parse_error``.
    """
    # Parse once into a column; every expression below reads that column, never re-parses.
    parsed_df = records_df.withColumn(
        "_parsed", F.from_json("raw_record", HIT_OR_SOURCE_SCHEMA, _JSON_OPTIONS)
    )
    parsed = F.col("_parsed")
    bare_source = F.struct(*[parsed.getField(f.name).alias(f.name) for f in SESSION_SOURCE_SCHEMA])
    is_hit = parsed.getField("_source").isNotNull() | parsed.getField("_id").isNotNull()
    source = F.when(is_hit, parsed.getField("_source")).otherwise(bare_source)
    has_document_field = F.lit(False)
    for field in SESSION_SOURCE_SCHEMA.fieldNames():
        has_document_field = has_document_field | source.getField(field).isNotNull()
    is_corrupt = parsed.isNull() | parsed.getField(CORRUPT_RECORD_COLUMN).isNotNull()
    parse_error = F.when(is_corrupt, F.lit(ERROR_MALFORMED_JSON)).when(
        ~is_hit & ~has_document_field, F.lit(ERROR_NOT_A_DOCUMENT)
    )
    return (
        parsed_df.withColumn("_is_hit", is_hit)
        .withColumn("_source_doc", source)
        .withColumn("_parse_error", parse_error)
        .select(
            "*",
            F.coalesce(
                _blank_to_null(F.col("_parsed._source.id")),
                _blank_to_null(F.col("_parsed.id")),
                _blank_to_null(F.col("_parsed._id")),
            ).alias("record_id"),
            F.when(F.col("is_search_response"), F.lit(SHAPE_SEARCH_RESPONSE))
            .when(F.col("_is_hit"), F.lit(SHAPE_HIT))
            .otherwise(F.lit(SHAPE_SOURCE))
            .alias("export_shape"),
            F.col("_parsed._index").alias("es_index"),
            F.col("_parsed._id").alias("es_id"),
            F.when(F.col("_parse_error").isNull(), F.col("_source_doc")).alias("source"),
            F.col("_parse_error").isNotNull().alias("is_malformed"),
            F.col("_parse_error").alias("parse_error"),
        )
        .drop("_parsed", "_is_hit", "_source_doc", "_parse_error")
    )


def with_ingestion_metadata(records_df: DataFrame, batch_id: int) -> DataFrame:
    """Stamp the ingestion batch and time, and fix the Bronze column order."""
    return records_df.select(
        "record_id",
        "export_shape",
        "es_index",
        "es_id",
        "source",
        "raw_record",
        "is_malformed",
        "parse_error",
        "_source_file",
        "_source_modified_at",
        "_record_index",
        "_file_error",
        F.lit(batch_id).cast("long").alias("_batch_id"),
        F.current_timestamp().alias("_ingested_at"),
    )


def to_bronze_sessions(files_df: DataFrame) -> DataFrame:
    """Whole export files to parsed Bronze records (without the batch stamp)."""
    return files_df.transform(explode_export_records).transform(with_parsed_record)
