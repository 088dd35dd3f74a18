import json
from datetime import datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql.types import BooleanType, IntegerType, StringType, StructField, StructType

from lakehouse.bronze.schemas import BRONZE_SESSIONS_SCHEMA, LANDING_FILE_SCHEMA
from lakehouse.bronze.sessions import to_bronze_sessions, with_ingestion_metadata

MODIFIED = datetime(2024, 11, 18, 3, 0, 0)
DOC = {
    "id": "rec-1",
    "createdDateTime": 1731880381293,
    "eventType": "CHECKOUT_COMPLETED",
    "customer": {"customerId": "C-1", "email": "a@b.c", "unknownNested": {"x": 1}},
    "shipping": {"address": {"zipCode": 2139, "plus": "extra"}},
    "brandNewTopLevel": [1, 2],
}

PARSED_SCHEMA = StructType(
    [
        StructField("_source_file", StringType()),
        StructField("_record_index", IntegerType()),
        StructField("record_id", StringType()),
        StructField("export_shape", StringType()),
        StructField("es_id", StringType()),
        StructField("is_malformed", BooleanType()),
        StructField("parse_error", StringType()),
        StructField("created", StringType()),
        StructField("zip", StringType()),
    ]
)


def parse(spark, files):
    files_df = spark.createDataFrame(
        [(text, name, MODIFIED) for name, text in files], LANDING_FILE_SCHEMA
    )
    return files_df.transform(to_bronze_sessions).selectExpr(
        "_source_file",
        "_record_index",
        "record_id",
        "export_shape",
        "es_id",
        "is_malformed",
        "parse_error",
        "source.createdDateTime AS created",
        "source.shipping.address.zipCode AS zip",
    )


def test_three_export_shapes_blank_lines_and_bad_records(spark):
    hits = "\n".join(
        [
            json.dumps(
                {"_index": "sessions-2024.11.17", "_id": "hit-1", "_score": 1.0, "_source": DOC}
            ),
            "",
            # no `id` in the document: the hit's `_id` is the record id
            json.dumps(
                {
                    "_index": "sessions-2024.11.17",
                    "_id": "hit-2",
                    "_source": {"createdDateTime": "17"},
                }
            ),
            '{"_id": "cut-off", "_source": {"id": ',
        ]
    )
    response = json.dumps(
        {
            "took": 5,
            "hits": {
                "total": {"value": 2},
                "hits": [{"_id": "r-1", "_source": DOC}, {"_id": "r-2", "_source": {}}],
            },
        },
        indent=2,
    )
    bare = "\n".join([json.dumps(DOC), "[1, 2]", '{"unrelated": true}', "   "]) + "\n"
    expected = spark.createDataFrame(
        [
            ("hits.ndjson", 1, "rec-1", "hit", "hit-1", False, None, "1731880381293", "2139"),
            ("hits.ndjson", 3, "hit-2", "hit", "hit-2", False, None, "17", None),
            # a truncated line keeps what could be read (its id), the document itself is dropped
            ("hits.ndjson", 4, "cut-off", "hit", "cut-off", True, "malformed_json", None, None),
            (
                "response.json",
                1,
                "rec-1",
                "search_response",
                "r-1",
                False,
                None,
                "1731880381293",
                "2139",
            ),
            ("response.json", 2, "r-2", "search_response", "r-2", False, None, None, None),
            ("bare.ndjson", 1, "rec-1", "source", None, False, None, "1731880381293", "2139"),
            ("bare.ndjson", 2, None, "source", None, True, "malformed_json", None, None),
            ("bare.ndjson", 3, None, "source", None, True, "not_a_session_document", None, None),
        ],
        PARSED_SCHEMA,
    )
    actual = parse(
        spark, [("hits.ndjson", hits), ("response.json", response), ("bare.ndjson", bare)]
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_raw_record_keeps_unknown_fields_for_replay(spark):
    files_df = spark.createDataFrame([(json.dumps(DOC), "f", MODIFIED)], LANDING_FILE_SCHEMA)
    raw = json.loads(files_df.transform(to_bronze_sessions).first()["raw_record"])
    assert raw == DOC


def test_windows_line_endings_and_a_pretty_printed_non_response(spark):
    crlf = json.dumps(DOC) + "\r\n" + json.dumps(dict(DOC, id="rec-2")) + "\r\n"
    rows = parse(spark, [("crlf.ndjson", crlf)]).orderBy("_record_index").collect()
    assert [(r["record_id"], r["is_malformed"]) for r in rows] == [
        ("rec-1", False),
        ("rec-2", False),
    ]


@pytest.mark.parametrize("batch_id", [0, 7])
def test_ingestion_metadata_fixes_the_bronze_contract(spark, batch_id):
    files_df = spark.createDataFrame([(json.dumps(DOC), "f", MODIFIED)], LANDING_FILE_SCHEMA)
    bronze_df = with_ingestion_metadata(files_df.transform(to_bronze_sessions), batch_id)
    assert [f.name for f in bronze_df.schema] == BRONZE_SESSIONS_SCHEMA.fieldNames()
    assert [f.dataType for f in bronze_df.schema] == [f.dataType for f in BRONZE_SESSIONS_SCHEMA]
    row = bronze_df.first()
    assert row["_batch_id"] == batch_id
    assert row["_source_modified_at"] == MODIFIED
    assert row["_ingested_at"] is not None
