"""Landing-zone discovery: incremental, exactly-once file sources.

Spark's file stream source keeps the list of files it has read in its checkpoint, so with the
``availableNow`` trigger each run reads every file that arrived since the last run, once.
Names starting with ``_`` or ``.`` are in-flight uploads and are never read (Spark's own hidden
file rule, plus a glob that also covers the ``_metadata*`` names that rule lets through).
Discovery reads no content: each micro-batch's files are then checked whole on the executors
(``check_files``, rules in ``lakehouse.io.file_check``) before the readers below parse them.
"""

from __future__ import annotations

import re

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakehouse.config import IngestSettings
from lakehouse.errors import LakehouseError
from lakehouse.io.delta import name_for
from lakehouse.io.file_check import CsvDialect, check_csv, decode_file, sha256_hex

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


_GLOB_CHARS = re.compile(r"([\\\[\]{}*?])")


def literal_path(path: str) -> str:
    """``path`` with Hadoop's glob characters escaped: Spark's readers expand a path as a glob,
    so a landed file named ``a[1].csv`` would otherwise match nothing."""
    return _GLOB_CHARS.sub(r"\\\1", path)


def path_exists(spark: SparkSession, uri: str) -> bool:
    """Whether a local path or object-store URI exists (through Hadoop's FileSystem)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return bool(fs.exists(path))


def stream_delta_changes(spark: SparkSession, path: str) -> DataFrame:
    """Rows appended to a Delta table since the consuming query's checkpoint. Commits that
    delete or rewrite rows (``lakehouse forget``'s erasures) are skipped: they bring no new
    rows, and what they removed downstream was removed there too."""
    reader = spark.readStream.format("delta").option("skipChangeCommits", "true")
    name = name_for(spark, path)  # a checkpoint serves either: it follows the table's id
    return reader.table(name) if name is not None else reader.load(path)


def stream_new_file_paths(spark: SparkSession, folder: str, settings: IngestSettings) -> DataFrame:
    """New files under ``folder`` as (``path``, ``modified_at``, ``length``), content unread.

    The binary-file source reads a file's bytes only when ``content`` is selected, so this is
    the file stream source used purely for exactly-once discovery.
    """
    return (
        _discovery(spark.readStream)
        .option("maxFileAge", settings.max_file_age)
        .option("maxFilesPerTrigger", settings.max_files_per_trigger)
        .load(folder)
        .select("path", F.col("modificationTime").alias("modified_at"), "length")
    )


def list_landed_files(spark: SparkSession, folder: str) -> DataFrame:
    """Every file the discovery stream would see under ``folder`` (same filter), content
    unread: ``load_path`` (the stream's ``path``), ``path`` (as ``_metadata.file_path`` and the
    refused-files table name it), ``modified_at`` and ``length``."""
    return _discovery(spark.read).load(folder).select(*_file_columns())


def _discovery(reader):
    """The discovery stream's source and filter, on a stream or batch reader."""
    return (
        reader.format("binaryFile")
        .schema(BINARY_FILE_SCHEMA)
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", IN_FLIGHT_GLOB)
    )


def _file_columns() -> list:
    """A listed file: ``load_path`` (the reader's ``path``), ``path`` (as
    ``_metadata.file_path`` names it), ``modified_at`` and ``length``."""
    return [
        F.col("path").alias("load_path"),
        F.col("_metadata.file_path").alias("path"),
        F.col("modificationTime").alias("modified_at"),
        "length",
    ]


def read_csv_positional(
    spark: SparkSession,
    paths: list[str],
    names: list[str],
    dialect: CsvDialect = CsvDialect(",", '"'),
) -> DataFrame:
    """Read CSV files that share one header and dialect, every column a string named by
    ``names``.

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
        .option("sep", dialect.delimiter)
        # RFC 4180: a quote inside a quoted field is doubled (Spark's default escape is \\)
        .option("quote", dialect.quote)
        .option("escape", dialect.quote)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt_record")
        .option("encoding", "UTF-8")
        .csv([literal_path(p) for p in paths])
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


# --- Whole-file checks ------------------------------------------------------------------------

KIND_TEXT = "text"
KIND_CSV = "csv"

FILE_CHECK_SCHEMA = StructType(
    [
        StructField("reason", StringType()),
        StructField("error", StringType()),
        StructField("sha256", StringType()),
        # the complete lines before the damage of a refused file (null for a whole file)
        StructField("salvaged", StringType()),
        StructField("delimiter", StringType()),
        StructField("quote", StringType()),
        StructField("header", ArrayType(StringType())),
    ]
)


def _check_content(kind: str, path: str, content: bytes | None) -> tuple:
    data = bytes(content or b"")
    if kind == KIND_CSV:
        checked = check_csv(path, data)
        decoded, dialect, header = checked.decoded, checked.dialect, checked.header
    else:
        decoded, dialect, header = decode_file(path, data), None, []
    refused = decoded.reason is not None
    return (
        decoded.reason,
        decoded.error,
        sha256_hex(data),
        decoded.text if refused and decoded.text else None,
        dialect.delimiter if dialect else None,
        dialect.quote if dialect else None,
        header,
    )


def check_files(spark: SparkSession, paths: list[str], kind: str) -> list:
    """Check each landed file whole on the executors (``lakehouse.io.file_check``).

    Returns:
        One row per file: ``load_path`` (to read it by), ``path`` (as the readers'
        ``_metadata.file_path`` spells it), ``modified_at``, ``length`` and the fields of
        ``FILE_CHECK_SCHEMA``.
    """
    if not paths:
        return []
    check = F.udf(lambda path, content: _check_content(kind, path, content), FILE_CHECK_SCHEMA)
    return (
        spark.read.format("binaryFile")
        .load([literal_path(p) for p in paths])
        .select(
            F.col("path").alias("load_path"),
            F.col("_metadata.file_path").alias("path"),
            F.col("modificationTime").alias("modified_at"),
            "length",
            check(F.col("path"), F.col("content")).alias("check"),
        )
        .select("load_path", "path", "modified_at", "length", "check.*")
        .orderBy("modified_at", "path")
        .collect()
    )


def list_files(spark: SparkSession, paths: list[str]) -> list:
    """``load_path``, ``path``, ``modified_at`` and ``length`` of files, content unread."""
    if not paths:
        return []
    return (
        spark.read.format("binaryFile")
        .load([literal_path(p) for p in paths])
        .select(*_file_columns())
        .collect()
    )


def delete_file(spark: SparkSession, uri: str) -> None:
    """Delete one file (local or object store); a file already gone is fine."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(path, False)


def write_salvage(spark: SparkSession, folder: str, name: str, text: str) -> str:
    """Write a refused file's trustworthy lines to ``folder/name`` (plain UTF-8), for the
    ordinary readers to read like any landed file. Returns the file's URI."""
    return write_text(spark, f"{folder.rstrip('/')}/{name}", text)


def write_text(spark: SparkSession, uri: str, text: str) -> str:
    """Write ``text`` (UTF-8) to ``uri``, replacing a file there, through Hadoop's file system
    (any scheme the session can write: a local path, ``s3a://``). Returns the file's URI."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    out = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).create(path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()
    return path.toString()


def read_whole_texts(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Files as rows of whole text (gzip decompressed by name): ``value``, ``source_file``,
    ``source_modified_at``."""
    return (
        spark.read.format("text")
        .option("wholetext", "true")
        .load([literal_path(p) for p in paths])
        .select(
            "value",
            F.col("_metadata.file_path").alias("source_file"),
            F.col("_metadata.file_modification_time").alias("source_modified_at"),
        )
    )
