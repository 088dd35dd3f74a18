"""Spark's semantics in Python (``lakehouse.spark_semantics``) equal Spark's, on awkward input."""

from __future__ import annotations

import math
import random
from datetime import date

import pytest
from pyspark.sql import functions as F

from lakehouse.silver.sessions_online import try_money
from lakehouse.spark_semantics import spark_round, try_double, try_int, try_to_date

CAST_TEXTS = [
    "2", " 2", "\t2\n", "+2", "-0", "-2", "2.0", "2.", ".5", "-.5", "1e2", "2147483647",
    "2147483648", "-2147483648", "-2147483649", "\u0662", "\uff12", "2\u00a0", "\x7f2", "\x002",
    "0x10", "1_0", "NaN", "nan", "-NaN", "Infinity", "inf", "-inf", "+Infinity", "1.5f", "1.5D",
    "0x1p3", "0x1.8p1", "1e", "e5", "1E-2", "19.999", "19.995", "19.994999", "-0.001", "-0.005",
    "12345678901.5", "9999999999.99", "9999999999.995", "1e10", "1e9", "", "  ", "\t", "abc",
    "2,5", "00012", "-", "+", ".", "\u0663.5", "1e\u0662", "1.0E-5", "NaNd", "1e400", "4.9E-324",
    "\u20022", "2\u0085", "1.23456789E7", "-0.0", "+.5", "2.675", "1.115",
    # dates
    "2024-11-21", " 2024-11-21 ", "\t2024-11-21\n", "2024-1-5", "2024-01", "2024",
    "2024-11-21T10:00:00Z", "2024-11-21 10:00", "2024-11-21x", "2024-11-21Tjunk", "+2024-11-21",
    "-2024-11-21", "0000-01-01", "12024-01-01", "1234567-01-01", "12345678-01-01", "024-01-01",
    "2024-02-30", "2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "2024/11/21",
    "2024-11-", "2024--21", "2024-11-21-", "2024-011-21", "2024-1", "2024-1-", "2024T", "2024 ",
    "2024-11 ", "2024-11-21\x7f", "\x7f2024-11-21", "2024-11-21\u00a0", "-0001-12-31",
    "2024-13-01", "2024-00-10", "2024-10-00",
]  # fmt: skip


def test_casts_match_spark(spark):
    """The casts Silver applies to item values and promised dates, on awkward text."""
    df = spark.createDataFrame([(t,) for t in CAST_TEXTS], "raw string")
    trimmed = F.trim("raw")
    rows = df.select(
        "raw",
        trimmed.try_cast("int").alias("int"),
        trimmed.try_cast("decimal(12,2)").alias("decimal"),
        trimmed.try_cast("double").alias("double"),
        F.datediff(F.try_to_date(trimmed), F.lit(date(1970, 1, 1))).alias("day"),
    ).collect()
    mismatches = []
    for row in rows:
        text = row["raw"].strip(" ")
        double = try_double(text)
        online = (try_int(text), try_money(text), double, try_to_date(text))
        spark_values = (row["int"], row["decimal"], row["double"], row["day"])
        same_double = (double is None and row["double"] is None) or (
            double is not None
            and row["double"] is not None
            and (double == row["double"] or (math.isnan(double) and math.isnan(row["double"])))
        )
        if online[:2] != spark_values[:2] or online[3] != spark_values[3] or not same_double:
            mismatches.append((row["raw"], online, spark_values))
    assert mismatches == []


def round_probes() -> list[float]:
    """Doubles on and around half units of the last kept decimal, small, large and signed."""
    rng = random.Random(7)
    values = [0.0, -0.0, 2.675, 1.115, -2.675, 0.125, 0.0005, -0.0005, 1e-05, -1e-05, 4.9e-324]
    values += [123456789012.34567, 2.0**52 - 0.5, 2.0**53, 1e16, -1e300, 9.995, 99.9995]
    for _ in range(2_000):
        cents = rng.randrange(-(10**8), 10**8)
        values.append((cents + 0.5) / 100)  # half a cent: a tie on the decimal text
        values.append(cents / 100 + rng.choice([1e-3, 5e-3, 5e-4, 5e-5]))
        values.append(rng.uniform(-1e6, 1e6))
    return values


@pytest.mark.parametrize("decimals", [2, 3, 4])
def test_spark_round_matches_spark(spark, decimals):
    values = round_probes()
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v double")
    rows = df.select("i", F.round("v", decimals).alias("r")).collect()
    mismatches = [
        (values[row["i"]], spark_round(values[row["i"]], decimals), row["r"])
        for row in rows
        if spark_round(values[row["i"]], decimals) != row["r"]
        or math.copysign(1, spark_round(values[row["i"]], decimals)) != math.copysign(1, row["r"])
    ]
    assert mismatches == []
