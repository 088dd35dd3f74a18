"""Landing-zone discovery: incremental, exactly-once file sources.

Spark's file stream source keeps the list of files it has read in its checkpoint, so with the
``availableNow`` trigger each run reads every file that arrived since the last run, once.
Names starting with ``_`` or ``.`` are in-flight uploads and are never read (Spark's own hidden
file rule, plus a glob that also covers the ``_metadata*`` names that rule lets through).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config import IngestSettings

IN_FLIGHT_GLOB = "[!_.]*"


def path_exists(spark: SparkSession, uri: str) -> bool:
    """Whether a local path or object-store URI exists (through Hadoop's FileSystem)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return bool(fs.exists(path))


def stream_whole_files(spark: SparkSession, folder: str, settings: IngestSettings) -> DataFrame:
    """New files under ``folder`` (recursively) as rows of whole text, gzip decompressed.

    Returns:
        A streaming DataFrame: ``value`` (the file's text), ``source_file``,
        ``source_modified_at``.
    """
    return (
        spark.readStream.format("text")
        .option("wholetext", "true")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", IN_FLIGHT_GLOB)
        .option("maxFileAge", settings.max_file_age)
        .option("maxFilesPerTrigger", settings.max_files_per_trigger)
        .load(folder)
        .select(
            "value",
            F.col("_metadata.file_path").alias("source_file"),
            F.col("_metadata.file_modification_time").alias("source_modified_at"),
        )
    )


def stream_delta_changes(spark: SparkSession, path: str) -> DataFrame:
    """Rows appended to a Delta table since the consuming query's checkpoint."""
    return spark.readStream.format("delta").load(path)
