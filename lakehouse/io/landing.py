"""Landing-zone discovery: incremental, exactly-once file sources.

Spark's file stream source keeps the list of files it has read in its checkpoint, so with the
``availableNow`` trigger each run reads every file that arrived since the last run, once.
Names starting with ``_`` or ``.`` are in-flight uploads and are never read (Spark's own hidden
file rule, plus a glob that also covers the ``_metadata*`` names that rule lets through).
"""

from __future__ import annotations

import csv
import io

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BinaryType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakehouse.config import IngestSettings
from lakehouse.errors import LakehouseError

IN_FLIGHT_GLOB = "[!_.]*"
# The binary-file source's fixed schema (a stream must be given it explicitly).
BINARY_FILE_SCHEMA = StructType(
    [
        StructField("path", StringType(), False),
        StructField("modificationTime", TimestampType(), False),
        StructField("length", LongType(), False),
        StructField("content", BinaryType()),
    ]
)


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


def stream_new_file_paths(spark: SparkSession, folder: str, settings: IngestSettings) -> DataFrame:
    """New files under ``folder`` as (``path``, ``modified_at``, ``length``), content unread.

    The binary-file source reads a file's bytes only when ``content`` is selected, so this is
    the file stream source used purely for exactly-once discovery.
    """
    return (
        spark.readStream.format("binaryFile")
        .schema(BINARY_FILE_SCHEMA)
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", IN_FLIGHT_GLOB)
        .option("maxFileAge", settings.max_file_age)
        .option("maxFilesPerTrigger", settings.max_files_per_trigger)
        .load(folder)
        .select("path", F.col("modificationTime").alias("modified_at"), "length")
    )


def read_first_line(spark: SparkSession, uri: str) -> str:
    """The first line of a (possibly gzip-compressed) text file, through Hadoop's FileSystem."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(uri)
    stream = path.getFileSystem(conf).open(path)
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(path)
    if codec is not None:
        stream = codec.createInputStream(stream)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
    try:
        return reader.readLine() or ""
    finally:
        reader.close()


def read_csv_positional(spark: SparkSession, paths: list[str], names: list[str]) -> DataFrame:
    """Read CSV files that share one header, every column a string named by ``names``.

    Quoted fields may span lines; a row that does not fit the header is kept with its text in
    ``_corrupt_record``. Adds ``_source_file`` and ``_source_modified_at``.
    """
    schema = StructType(
        [StructField(n, StringType()) for n in names]
        + [StructField("_corrupt_record", StringType())]
    )
    return (
        spark.read.schema(schema)
        .option("header", "true")
        .option("enforceSchema", "true")
        .option("multiLine", "true")
        # RFC 4180: a quote inside a quoted field is doubled (Spark's default escape is \\)
        .option("quote", '"')
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt_record")
        .option("encoding", "UTF-8")
        .csv(paths)
        .withColumn("_source_file", F.col("_metadata.file_path"))
        .withColumn("_source_modified_at", F.col("_metadata.file_modification_time"))
    )


class MissingColumnsError(LakehouseError, ValueError):
    """A CSV lacks columns its contract requires."""


def read_csv_by_header(spark: SparkSession, path: str, required: list[str]) -> DataFrame:
    """Read a CSV with every column as a string, matched by header name (not position).

    Adds ``_raw`` (the row as JSON), ``_source_file`` and ``_record_index``.

    Raises:
        MissingColumnsError: When a required column is absent from the header.
    """
    df = (
        spark.read.option("header", "true")
        .option("inferSchema", "false")
        .option("multiLine", "true")
        .option("encoding", "UTF-8")
        .csv(path)
    )
    renamed = df.toDF(*[c.strip().lstrip("\ufeff").lower() for c in df.columns])
    missing = [c for c in required if c not in renamed.columns]
    if missing:
        raise MissingColumnsError(f"{path}: missing column(s) {missing}; found {renamed.columns}")
    return renamed.select(
        *required,
        F.to_json(F.struct(*renamed.columns)).alias("_raw"),
        F.col("_metadata.file_path").alias("_source_file"),
        F.monotonically_increasing_id().cast("int").alias("_record_index"),
    )


def read_csv_header(spark: SparkSession, uri: str) -> list[str]:
    """The column names in a CSV file's header row (RFC 4180 quoting); empty for an empty file."""
    return next(csv.reader(io.StringIO(read_first_line(spark, uri))), [])
