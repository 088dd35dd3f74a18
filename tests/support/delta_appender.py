"""A writer process for the log-store test: appends rows to one Delta table, one commit each.

``python -m tests.support.delta_appender TABLE_URI WRITER COMMITS`` builds its own Spark
session with Delta's DynamoDB log store (``storage.log_store: dynamodb``; endpoint, region and
credentials from the AWS environment, as in production) and appends ``COMMITS`` one-row
commits tagged ``WRITER``.
"""

from __future__ import annotations

import sys

from lakehouse.config import SparkSettings, StorageSettings
from lakehouse.spark import get_spark

SMALL = {
    "spark.master": "local[1]",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.driver.memory": "1g",
}


def main(table: str, writer: str, commits: int) -> None:
    spark = get_spark(
        SparkSettings(), extra_conf=SMALL, storage=StorageSettings(log_store="dynamodb")
    )
    for i in range(commits):
        row = spark.createDataFrame([(writer, i)], "writer string, commit int")
        row.write.format("delta").mode("append").save(table)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
