from datetime import datetime

from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse.silver.dedupe import first_per_key, transform_newest_per_key

ROWS = [
    # key, modified, file, index, value
    ("a", datetime(2024, 1, 2), "f2", 1, "a-newest"),
    ("a", datetime(2024, 1, 1), "f1", 7, "a-old"),
    ("a", datetime(2024, 1, 2), "f1", 9, "a-same-time-earlier-file"),
    ("b", datetime(2024, 1, 1), "f1", 1, "b-only"),
    ("c", None, "f1", 2, "c-no-time"),
    ("c", datetime(2023, 1, 1), "f1", 3, "c-oldest-but-timed"),
    ("d", datetime(2024, 1, 1), "f1", 4, "d-first-index"),
    ("d", datetime(2024, 1, 1), "f1", 5, "d-later-index"),
    (None, datetime(2024, 1, 1), "f1", 6, "null-key-old"),
    (None, datetime(2024, 1, 3), "f1", 8, "null-key-new"),
]
SCHEMA = "key string, modified timestamp, file string, idx int, value string"
ORDER = ("modified", "file", "idx")


def test_keeps_the_newest_row_of_each_key_like_a_window(spark):
    df = spark.createDataFrame(ROWS, SCHEMA)
    result = transform_newest_per_key(df, ["key"], ORDER, lambda d: d)
    by_window = first_per_key(df, ["key"], [F.struct(*ORDER).desc()])
    assert_df_equality(result, by_window, ignore_row_order=True, ignore_column_order=True)
    assert sorted(result.toPandas()["value"]) == sorted(
        ["a-newest", "b-only", "c-oldest-but-timed", "d-later-index", "null-key-new"]
    )


def test_the_transform_sees_only_the_kept_rows(spark):
    df = spark.createDataFrame(ROWS, SCHEMA)
    seen = []

    def transform(kept):
        seen.append(kept.count())
        return kept.select("key", F.upper("value").alias("value"))

    result = transform_newest_per_key(df, ["key"], ORDER, transform)
    assert seen == [5]
    assert result.where(F.col("key") == "a").first()["value"] == "A-NEWEST"


def test_unrepeated_keys_pass_through(spark):
    df = spark.createDataFrame([r for r in ROWS if r[0] == "b"], SCHEMA)
    assert transform_newest_per_key(df, ["key"], ORDER, lambda d: d).collect() == df.collect()
