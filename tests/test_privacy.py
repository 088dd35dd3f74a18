import hashlib
import hmac

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from lakehouse.privacy import (
    hmac_token,
    normalize_email,
    normalize_email_py,
    token_of,
    with_token_key,
)

VALUES = ["jane.doe@example.com", "", "ünïcødé ✓", "x" * 500, None]


@pytest.mark.parametrize("key", [b"k", b"secret-key-of-moderate-length", b"L" * 100])
def test_spark_hmac_equals_python_hmac(spark, key):
    df = spark.createDataFrame([(v,) for v in VALUES], StructType([StructField("v", StringType())]))
    actual = {
        r["v"]: r["t"]
        for r in with_token_key(df, key).select("v", hmac_token(F.col("v")).alias("t")).collect()
    }
    for value in VALUES:
        expected = (
            None if value is None else hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
        )
        assert actual[value] == expected == token_of(value, key)


def test_tokens_are_stable_per_value_and_differ_per_key():
    assert token_of("a@b.c", b"k1") == token_of("a@b.c", b"k1")
    assert token_of("a@b.c", b"k1") != token_of("a@b.c", b"k2")
    assert token_of("a@b.c", b"k1") != token_of("a@b.d", b"k1")


def test_email_normalisation_twins(spark):
    raw = ["  Jane.Doe@Example.COM ", "   ", None]
    df = spark.createDataFrame([(v,) for v in raw], StructType([StructField("v", StringType())]))
    spark_values = [r[0] for r in df.select(normalize_email(F.col("v"))).collect()]
    assert spark_values == ["jane.doe@example.com", None, None]
    assert [normalize_email_py(v) for v in raw] == spark_values
