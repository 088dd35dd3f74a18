"""``audit/inference_log``, the service's answers appended from the files it drops, and
``gold/model_performance``, those answers judged by the outcomes that arrived since.

Each service replica writes its answers in batches, as Parquet files under
``<lake>/_inference_log/`` (``serving.inference_log``). This step, part of ``lakehouse ingest``
and ``run``, appends the files' rows to the Delta table (partitioned by day, each row with its
``source_file``) and then deletes the files. A crash between the append and the deletes is
harmless: the next run skips the rows of every file the table already holds, then deletes the
files. A file that Spark cannot read as Parquet (a truncated or foreign upload) is moved to
``_inference_log/_refused/`` with a logged reason, never deleted.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from lakehouse.config import Settings
from lakehouse.gold.model_performance import KEYS
from lakehouse.inference_log import INCOMING_FOLDER, INFERENCE_LOG_SCHEMA, incoming_folder
from lakehouse.io.delta import _write_table, is_delta_table, latest_version, read_table
from lakehouse.io.landing import delete_file, list_landed_files, literal_path, path_exists
from lakehouse.pipeline.report import StepReport
from lakehouse.pipeline.steps import GoldSpec, run_gold
from lakehouse.tables import (
    GOLD_DELIVERY_FEATURES,
    GOLD_MODEL_PERFORMANCE,
    GOLD_PAYMENTS_UNIFIED,
    INFERENCE_LOG,
)

log = logging.getLogger(__name__)

REFUSED_FOLDER = "_refused"
SOURCE = "inference_log"
SCHEMA = from_arrow_schema(INFERENCE_LOG_SCHEMA)  # the service's file schema, in Spark's terms


def append_rows(df: DataFrame, settings: Settings, **txn: object) -> None:
    """Append rows of the inference log's columns (plus ``source_file``) to its table.

    ``txn``: ``app_id`` and ``version`` for an idempotent append (Delta's ``txnAppId``).
    """
    target = settings.table_path(*INFERENCE_LOG)

    def write(location: str) -> None:
        writer = df.write.format("delta").mode("append").partitionBy("day")
        if txn:
            writer = writer.option("txnAppId", txn["app_id"]).option("txnVersion", txn["version"])
        writer.save(location)

    _write_table(df.sparkSession, target, write)


def _refuse(spark: SparkSession, folder: str, path: str, reason: str) -> None:
    """Move an unreadable file aside (``_refused/``), so that it is kept and not retried."""
    jvm = spark.sparkContext._jvm
    source = jvm.org.apache.hadoop.fs.Path(path)
    fs = source.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    target_dir = jvm.org.apache.hadoop.fs.Path(f"{folder}/{REFUSED_FOLDER}")
    fs.mkdirs(target_dir)
    fs.rename(source, jvm.org.apache.hadoop.fs.Path(target_dir, source.getName()))
    log.error(
        "inference log: %s refused (%s), moved to %s/", source.getName(), reason, REFUSED_FOLDER
    )


def _readable(spark: SparkSession, folder: str, paths: list[str]) -> list[str]:
    """The files that read as Parquet of the log's schema; the others are refused."""
    try:
        spark.read.schema(SCHEMA).parquet(*map(literal_path, paths)).count()
        return paths
    except Exception:  # at least one is bad: find which
        pass
    good = []
    for path in paths:
        try:
            spark.read.schema(SCHEMA).parquet(literal_path(path)).count()
            good.append(path)
        except Exception as error:
            _refuse(spark, folder, path, type(error).__name__)
    return good


def ingest_inference_log(spark: SparkSession, settings: Settings) -> StepReport:
    """Append the service's new inference-log files to ``audit/inference_log``."""
    report = StepReport(step="ingest", source=SOURCE, table=INFERENCE_LOG.key)
    folder = incoming_folder(settings.lake_root, settings.serve.inference_log.folder)
    files = []
    if path_exists(spark, folder):
        listed = list_landed_files(spark, folder).select("path").collect()
        files = sorted(
            r["path"]
            for r in listed
            if r["path"].endswith(".parquet") and f"/{REFUSED_FOLDER}/" not in r["path"]
        )
    if not files:
        report.skipped_reason = f"no new files under {INCOMING_FOLDER}/"
        return report
    files = _readable(spark, folder, files)
    target = settings.table_path(*INFERENCE_LOG)
    if files:
        rows = (
            spark.read.schema(SCHEMA)
            .parquet(*map(literal_path, files))
            .withColumn("source_file", F.col("_metadata.file_path"))
        )
        if is_delta_table(spark, target):
            done = (
                read_table(spark, target)
                .where(F.col("source_file").isin(files))
                .select("source_file")
                .distinct()
            )
            rows = rows.join(done, "source_file", "left_anti")
        rows = rows.select(*SCHEMA.fieldNames(), "source_file").cache()
        try:
            count = rows.count()
            if count:
                append_rows(rows, settings)
        finally:
            rows.unpersist()
        report.add_batch(0, {"files_read": len(files), "records_written": count})
    for path in files:
        delete_file(spark, path)
    if is_delta_table(spark, target):
        report.version = latest_version(spark, target)
    return report


def build_model_performance(spark: SparkSession, settings: Settings) -> StepReport:
    """(Re)build ``gold/model_performance`` when the inference log or an outcome table moved;
    the run's job metrics get each aliased model's live figures (``lakehouse.monitoring``)."""
    from lakehouse.gold.delivery import with_row_hash
    from lakehouse.gold.model_performance import SCHEMA as PERFORMANCE_SCHEMA
    from lakehouse.gold.model_performance import to_model_performance

    def build(frames) -> DataFrame:
        built = to_model_performance(
            frames[INFERENCE_LOG.key],
            frames[GOLD_DELIVERY_FEATURES.key],
            frames[GOLD_PAYMENTS_UNIFIED.key],
        )
        return with_row_hash(built, PERFORMANCE_SCHEMA.fieldNames())

    spec = GoldSpec(
        step="gold",
        source=SOURCE,
        target=GOLD_MODEL_PERFORMANCE,
        inputs=(INFERENCE_LOG, GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED),
        required=(INFERENCE_LOG,),
        build=build,
        keys=KEYS,
    )
    return run_gold(spark, settings, spec)
