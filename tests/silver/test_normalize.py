"""Timestamp and zip normalisation: expected values, and the Python twins agree with Spark."""

from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from lakehouse.silver.normalize import (
    epoch_or_iso_format,
    normalize_zip,
    parse_epoch_or_iso,
    strip_control,
    upper_code,
)
from lakehouse.silver.normalize_online import (
    _epoch_micros,
    epoch_or_iso_micros_py,
    normalize_zip_py,
    parse_epoch_or_iso_py,
    strip_control_py,
    upper_code_py,
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


# Text on which a careless twin and Spark part ways: whitespace other than spaces (Spark's trim
# strips spaces only), Java's $ before a final line break, ISO forms the cast reads its own way,
# instants a Python datetime cannot hold, and numbers whose scaling overflows decimal(38,6).
PARITY_TIMESTAMPS = [
    "1731880381293",
    "\t1731880381293",
    "1731880381293\n",
    "1731880381293\r\n",
    "1731880381293\u2028",
    "\u0661731880381293",
    "-1731880381",
    "1e5",
    "-1.5e0",
    "1.731880381293E12",
    "1731880381293.0000005",
    "1731880381293.0000004",
    "99999999999.9999995",
    "1e28",
    "1e29",
    "1e30",
    "-1e25",
    "-1e26",
    "-1e27",
    "1e31",
    "99999999999999999999999999999999",
    "100000000000000000000000000000000",
    "1e40",
    "1e2147483647",
    "1e2147483648",
    "1e-2147483647",
    "1e9999",
    "1e10000",
    "1e-9999",
    "1e-10000",
    "1e-2147483648",
    "1e-99999999999",
    "9223372036854775.807",
    "9223372036854775.808",
    "9223372036854775807e-3",
    "253402300800000",
    "253402300799999",
    "-62135596800001",
    "2024-11-17T21:53:01.293Z",
    "2024-11-17 21:53:01.293",
    "2024-11-17T21:53:01.293UTC",
    "2024-11-17T21:53:01.293 UTC",
    "2024-11-17T21:53Z",
    "2024-11-17T21:53",
    "2024-11-17T21:53:1Z",
    "2024-11-17T21:53:01.Z",
    "2024-11-17T21:53:01.1234567891Z",
    "2024-11-17T21:53:01Z\n",
    "2024-11-17T21:53:01Z\x7f",
    "2024-11-17T21:53:01Z\x00",
    "2024-11-17T21:53:01Z\u2028",
    "2024-11-17T21:53:01+1:00",
    "2024-11-17T21:53:01+01:0",
    "2024-11-17T21:53:01+0130",
    "2024-11-17T21:53:01-18:00",
    "2024-11-17T21:53:01+18:01",
    "2024-11-17T21:53:01GMT+2",
    "2024-11-17T21:53:01PST",
    "2024-11-17T21:53:01America/New_York",
    "2024-11-17T21:53:01Mars/Olympus",
    "2024-11-17t21:53:01z",
    "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2024-11-17T24:00:00Z",
    "2024-11-17T23:60:00Z",
    "2024-11-17T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "0000-02-29T12:00:00Z",
    "0000-03-01T00:00:00Europe/Paris",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59.999999-01:00",
    "10000-01-01T00:00:00Z",
    "+2024-11-17T21:53:01Z",
    " 2024-11-17T21:53:01Z ",
    "\t2024-11-17T21:53:01Z",
    "\u0662024-11-17T21:53:01Z",
    "true",
    "",
    "  ",
    None,
]


@pytest.mark.parametrize("seconds_below", [SECONDS_BELOW, 0])
def test_timestamp_twin_equals_spark_exactly(spark, seconds_below):
    df = spark.createDataFrame([(raw,) for raw in PARITY_TIMESTAMPS], SCHEMA)
    spark_us = [
        r["us"]
        for r in df.select(
            F.unix_micros(parse_epoch_or_iso(F.col("raw"), seconds_below)).alias("us")
        ).collect()
    ]
    online_us = [epoch_or_iso_micros_py(raw, seconds_below) for raw in PARITY_TIMESTAMPS]
    differ = [
        (raw, o, s)
        for raw, o, s in zip(PARITY_TIMESTAMPS, online_us, spark_us, strict=True)
        if o != s
    ]
    assert differ == []
    # the cases meant to parse did, and the datetime twin agrees wherever a datetime fits
    assert sum(us is not None for us in spark_us) > 25
    for raw, us in zip(PARITY_TIMESTAMPS, spark_us, strict=True):
        ts = parse_epoch_or_iso_py(raw, seconds_below)
        if ts is not None:
            assert (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) == us


def test_huge_numbers_do_not_fail_the_batch(spark):
    """1e29 ms and more overflow decimal(38,6) when scaled: null, not an ANSI error."""
    raws = ["1e29", "1e30", "-1e27", "1e31", "99999999999999999999999999999999", "1e2147483647"]
    df = spark.createDataFrame([(raw,) for raw in raws], SCHEMA)
    rows = df.select(parse_epoch_or_iso(F.col("raw"), SECONDS_BELOW).alias("ts")).collect()
    assert [r["ts"] for r in rows] == [None] * len(raws)


def test_year_0_and_10000_are_instants_a_datetime_cannot_hold():
    assert epoch_or_iso_micros_py("253402300800000", SECONDS_BELOW) == 253_402_300_800_000_000
    assert parse_epoch_or_iso_py("253402300800000", SECONDS_BELOW) is None
    assert epoch_or_iso_micros_py("0000-01-01T00:00:00Z", SECONDS_BELOW) == -62_167_219_200_000_000
    assert parse_epoch_or_iso_py("0000-01-01T00:00:00Z", SECONDS_BELOW) is None


PARITY_TEXTS = [
    "02139",
    "2139",
    " 2139 ",
    "2139\n",
    "2139\r",
    "02139\r\n",
    "\t02139",
    "02139\u2028",
    "97201-1234\n",
    "972011234\n",
    "\u0660\u0662\u0661\u0663\u0669",
    "express",
    " express ",
    "express\t",
    "\u00a0express",
    "trav\x00el",
    "\x1bexpress\x07",
    "ex\x0bpress\x7f",
    "",
    "   ",
    None,
]


def test_zip_and_code_twins_equal_spark(spark):
    df = spark.createDataFrame([(raw,) for raw in PARITY_TEXTS], SCHEMA)
    rows = df.select(
        normalize_zip(F.col("raw")).alias("zip"), upper_code(F.col("raw")).alias("code")
    ).collect()
    spark_values = [(r["zip"], r["code"]) for r in rows]
    online_values = [(normalize_zip_py(raw), upper_code_py(raw)) for raw in PARITY_TEXTS]
    assert online_values == spark_values
    # a line break after a zip no longer passes Java's $ (it made the zip "2139\n")
    assert dict(zip(PARITY_TEXTS, spark_values, strict=True))["2139\n"] == (None, "2139\n")


def test_plain_digits_take_the_decimal_paths_answer():
    # runs of digits skip Decimal; the general numeric path (checked against Spark above) is
    # the reference at every boundary: seconds vs ms, decimal(38,6) digits, the long range
    edges = [0, 1, SECONDS_BELOW - 1, SECONDS_BELOW, 1_731_880_381_293, 10**31, 10**32 - 1]
    edges += [10**32, 9_223_372_036_854_775, 9_223_372_036_854_776, 2**63, 10**39, 10**40]
    texts = [str(n) for n in edges] + ["0001731880381293", " 1731880381293 ", "9" * 41]
    for below in (SECONDS_BELOW, 0):
        for text in texts:
            assert epoch_or_iso_micros_py(text, below) == _epoch_micros(text.strip(), below)
            assert epoch_or_iso_micros_py(text, below) == epoch_or_iso_micros_py(
                text.strip() + ".0", below
            ), text


def test_control_characters_are_stripped_alike(spark):
    texts = ["trav\x00el", "a\tb\nc", "\x01\x08\x0b\x0c\x0d\x1f!", "\x7f\u0085é", "", None]
    rows = spark.createDataFrame([(t,) for t in texts], SCHEMA).select(
        strip_control(F.col("raw")).alias("clean")
    )
    spark_values = [r["clean"] for r in rows.collect()]
    assert spark_values == [strip_control_py(t) for t in texts]
    # NUL and the C0 controls go; tab and line feed stay; DEL and C1 are not C0
    assert spark_values[:4] == ["travel", "a\tb\nc", "!", "\x7f\u0085é"]
