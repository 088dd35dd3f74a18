"""Timestamp and zip normalisation: expected values, and the Python twins agree with Spark."""

from datetime import UTC, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from lakehouse.silver.normalize import (
    epoch_or_iso_format,
    normalize_zip,
    normalize_zip_py,
    parse_epoch_or_iso,
    parse_epoch_or_iso_py,
)

SECONDS_BELOW = 100_000_000_000
WORKED = datetime(2024, 11, 17, 21, 53, 1, 293000, tzinfo=UTC)

TIMESTAMP_CASES = [
    ("1731880381293", WORKED, "epoch_ms"),
    (" 1731880381293 ", WORKED, "epoch_ms"),
    ("1731880381293.0", WORKED, "epoch_ms"),
    ("1731880381", datetime(2024, 11, 17, 21, 53, 1, tzinfo=UTC), "epoch_seconds"),
    ("1731880381.293", WORKED, "epoch_seconds"),
    ("2024-11-17T21:53:01.293Z", WORKED, "iso8601"),
    ("2024-11-17T23:53:01.293+02:00", WORKED, "iso8601"),
    ("2024-11-17 21:53:01.293", WORKED, "iso8601"),
    ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC), "iso8601"),
    ("not-a-date", None, None),
    ("2024-13-45T00:00:00Z", None, None),
    ("", None, None),
    (None, None, None),
]

ZIP_CASES = [
    ("97201", "97201"),
    ("97201-1234", "97201"),
    ("972011234", "97201"),
    ("2139", "02139"),
    ("501", "00501"),
    (" 02139 ", "02139"),
    ("ABCDE", None),
    ("9720-1234", None),
    ("123456", None),
    ("", None),
    (None, None),
]

SCHEMA = StructType([StructField("raw", StringType())])


def test_timestamps_every_variant(spark):
    df = spark.createDataFrame([(raw,) for raw, _, _ in TIMESTAMP_CASES], SCHEMA)
    rows = df.select(
        "raw",
        parse_epoch_or_iso(F.col("raw"), SECONDS_BELOW).alias("ts"),
        epoch_or_iso_format(F.col("raw"), SECONDS_BELOW).alias("fmt"),
    ).collect()
    actual = {r["raw"]: (r["ts"].replace(tzinfo=UTC) if r["ts"] else None, r["fmt"]) for r in rows}
    for raw, expected_ts, expected_format in TIMESTAMP_CASES:
        ts, fmt = actual[raw]
        assert ts == expected_ts, raw
        if expected_ts is not None:
            assert fmt == expected_format, raw


@pytest.mark.parametrize(("raw", "expected", "_fmt"), TIMESTAMP_CASES)
def test_timestamp_python_twin(raw, expected, _fmt):
    assert parse_epoch_or_iso_py(raw, SECONDS_BELOW) == expected


def test_python_twin_accepts_json_numbers():
    assert parse_epoch_or_iso_py(1731880381293, SECONDS_BELOW) == WORKED
    assert parse_epoch_or_iso_py(1731880381, SECONDS_BELOW) == WORKED.replace(microsecond=0)
    assert parse_epoch_or_iso_py(True, SECONDS_BELOW) is None


def test_zip_codes_every_variant(spark):
    df = spark.createDataFrame([(raw,) for raw, _ in ZIP_CASES], SCHEMA)
    actual = {
        r["raw"]: r["zip"]
        for r in df.select("raw", normalize_zip(F.col("raw")).alias("zip")).collect()
    }
    assert actual == dict(ZIP_CASES)
    for raw, expected in ZIP_CASES:
        assert normalize_zip_py(raw) == expected, raw
    assert normalize_zip_py(2139) == "02139"
