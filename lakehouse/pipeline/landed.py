"""A micro-batch of landed files, checked whole before any record is read.

Shared by the sessions and payments ingest steps: each file of the batch is checked on the
executors (``lakehouse.io.landing.check_files``); whole files go to the ordinary readers, a
refused file's complete records before the damage are written to ``<lake>/_salvage/<source>/``
and read from there under the refused file's own path (and deleted once the batch is
recorded), and every refused file is recorded in ``audit/refused_files``. A file above
``ingest.max_file_mb`` is refused unread.

A refused file is not read again on every run: the discovery stream has seen it. When a new
upload replaces it under the same name (another size or modification time),
``retry_replaced_files`` reads it again in a retry batch, numbered apart from the stream's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from lakehouse.bronze.payments import map_header
from lakehouse.config import Settings
from lakehouse.contract import FILE_TOO_LARGE, FILE_UNKNOWN_CSV_HEADER
from lakehouse.io.file_check import sha256_hex
from lakehouse.io.landing import (
    check_files,
    delete_file,
    list_files,
    list_landed_files,
    write_salvage,
)
from lakehouse.io.ledger import read_ledger
from lakehouse.io.refused import (
    RefusedFile,
    plan_retry,
    read_refused,
    read_retries,
    record_refused,
)
from lakehouse.io.streams import BatchHandler
from lakehouse.tables import BATCH_LEDGER, FILE_RETRIES, REFUSED_FILES

log = logging.getLogger(__name__)

SALVAGE_LAYER = "_salvage"
# Retry batches write under their own idempotence lane, and are numbered apart from the
# discovery stream's batches (Bronze's ``_batch_id``, the ledger's ``batch_id``): retry n is
# batch RETRY_BATCH_BASE + n.
RETRY_LANE = ":retry"
RETRY_BATCH_BASE = 1 << 40


def retry_lane(batch_id: int) -> str:
    """The idempotence lane a batch writes under: the stream's (``""``) or the retries'."""
    return RETRY_LANE if batch_id >= RETRY_BATCH_BASE else ""


@dataclass(frozen=True)
class Salvage:
    """A refused file's trustworthy lines, written where the readers can read them."""

    file: RefusedFile
    uri: str
    check: Row  # the refused file's check (its CSV dialect and header, for a CSV)

    @property
    def name(self) -> str:
        return self.uri.rsplit("/", 1)[-1]


@dataclass
class LandedBatch:
    """The files of one ingest micro-batch, as their checks sorted them."""

    source: str
    refused_table: str
    checks: list = field(default_factory=list)
    whole: list[str] = field(default_factory=list)  # loadable paths of the whole files
    salvaged: list[Salvage] = field(default_factory=list)
    refused: list[RefusedFile] = field(default_factory=list)

    def kept_per_file(self, bronze_batch: DataFrame) -> dict[str, int]:
        """Records kept from each refused file, counted in the batch's Bronze rows."""
        if not self.salvaged:
            return {}
        rows = (
            bronze_batch.where(F.col("_file_error").isNotNull())
            .groupBy("_source_file")
            .count()
            .collect()
        )
        return {r["_source_file"]: int(r["count"]) for r in rows}

    def record(self, spark: SparkSession, batch_id: int, kept: dict[str, int]) -> dict[str, int]:
        """Record the refused files (exactly once per batch) and delete the salvage files (a
        replayed batch writes them again from the landing zone: they hold raw records, PII
        included, which belong in Bronze only); returns the ledger's file counts."""
        record_refused(
            spark,
            self.refused_table,
            source=self.source,
            batch_id=batch_id,
            files=[replace(f, records_kept=kept.get(f.path, 0)) for f in self.refused],
            lane=retry_lane(batch_id),
        )
        for salvage in self.salvaged:
            delete_file(spark, salvage.uri)
        return {
            "files_read": len(self.checks),
            "files_ingested": len(self.checks) - len(self.refused),
            "files_refused": len(self.refused),
        }


def read_checked_files(
    spark: SparkSession, settings: Settings, source: str, files_df: DataFrame, kind: str
) -> LandedBatch:
    """Check the batch's files (``path`` and ``length`` of the discovery stream), sort them,
    and write each refused file's complete records where the readers can read them."""
    max_bytes = settings.ingest.max_file_mb * 1024 * 1024
    files = files_df.select("path", "length").collect()
    batch = LandedBatch(source, settings.table_path(*REFUSED_FILES))
    batch.checks = check_files(spark, [f["path"] for f in files if f["length"] <= max_bytes], kind)
    too_large = list_files(spark, [f["path"] for f in files if f["length"] > max_bytes])
    salvage_folder = settings.table_path(SALVAGE_LAYER, source)
    for check in batch.checks:
        if check["reason"] is None:
            batch.whole.append(check["load_path"])
            continue
        refused = _refused(check, check["reason"], check["error"])
        batch.refused.append(refused)
        if check["salvaged"]:
            # named by path and content: a replayed batch rewrites the same file
            name = f"{sha256_hex(refused.path.encode())[:16]}-{refused.sha256[:16]}"
            extension = "csv" if check["delimiter"] else "txt"
            uri = write_salvage(spark, salvage_folder, f"{name}.{extension}", check["salvaged"])
            batch.salvaged.append(Salvage(refused, uri, check))
    for listed in too_large:
        error = f"{listed['length']} bytes, above ingest.max_file_mb={settings.ingest.max_file_mb}"
        batch.refused.append(_refused(listed, FILE_TOO_LARGE, error))
    batch.checks += too_large
    return batch


def _refused(check: Row, reason: str, error: str | None) -> RefusedFile:
    # the reason and error describe the bytes, never their content
    log.warning("refused %s: %s (%s)", check["path"], reason, error)
    return RefusedFile(
        path=check["path"],
        size=int(check["length"]),
        modified_at=check["modified_at"],
        sha256=check.asDict().get("sha256"),
        reason=reason,
        error=error,
    )


def refuse_unknown_headers(batch: LandedBatch, feed: str, aliases) -> None:
    """Refuse the CSVs whose header names none of ``feed``'s columns (a file of another feed,
    or one without a header row): read by position, every row would be quarantined for a
    missing key, hiding what really went wrong."""

    def unknown(check: Row) -> bool:
        header = check["header"]
        return bool(header) and not map_header(feed, header, aliases).canonical

    error = f"the header names none of the {feed} columns"
    for check in [c for c in batch.checks if c["reason"] is None and unknown(c)]:
        batch.whole.remove(check["load_path"])
        batch.refused.append(_refused(check, FILE_UNKNOWN_CSV_HEADER, error))
    batch.salvaged = [s for s in batch.salvaged if not unknown(s.check)]


def with_salvaged_sources(rows_df: DataFrame, salvaged: list[Salvage]) -> DataFrame:
    """Give rows read from salvage files their refused file's path, modification time and
    reason (``_file_error``, null for rows of whole files)."""
    name = F.element_at(F.split(F.col("_source_file"), "/"), -1)

    def lookup(values: dict[str, object]) -> Column:
        if not values:
            return F.lit(None)
        return F.create_map(*[F.lit(x) for pair in values.items() for x in pair])[name]

    by_name = {s.name: s.file for s in salvaged}
    path = lookup({n: f.path for n, f in by_name.items()})
    modified = lookup({n: f.modified_at for n, f in by_name.items()})
    reason = lookup({n: f.reason for n, f in by_name.items()})
    return (
        rows_df.withColumn("_file_error", reason.cast("string"))
        .withColumn("_source_file", F.coalesce(path.cast("string"), F.col("_source_file")))
        .withColumn(
            "_source_modified_at",
            F.coalesce(modified.cast("timestamp"), F.col("_source_modified_at")),
        )
    )


def retry_replaced_files(
    spark: SparkSession, settings: Settings, source: str, folder: str, handler: BatchHandler
) -> int:
    """Read again, in one retry batch, the refused files of ``source`` under ``folder`` that a
    new upload replaced (a size or modification time that no refusal or earlier retry saw), or
    every still-refused file when ``ingest.retry_refused`` is set (after a fix on this side).

    The retry's files are recorded in ``audit/file_retries`` before they are read, so a retry
    cut short (no ledger row) is run again with the same files and batch id, and its writes,
    each idempotent per batch, happen once. Returns how many retry batches ran.
    """
    retries_path = settings.table_path(*FILE_RETRIES)
    planned = read_retries(spark, retries_path, source)
    ran = 0
    last = max((r["retry_id"] for r in planned), default=None)
    if last is not None and not _retry_recorded(spark, settings, source, last):
        files = [r for r in planned if r["retry_id"] == last]
        log.warning("%s: retry %d did not finish; running it again", source, last)
        handler(_files_frame(spark, files), RETRY_BATCH_BASE + last)
        ran += 1
    refused = (
        read_refused(spark, settings.table_path(*REFUSED_FILES))
        .where(F.col("source") == source)
        .select("path", "size", "modified_at", "batch_id")
        .collect()
    )
    open_paths = _still_refused(refused, planned)
    if not open_paths:
        return ran
    seen = {(r["path"], r["size"], r["modified_at"]) for r in refused}
    seen |= {(r["path"], r["length"], r["modified_at"]) for r in planned}
    listed = (
        list_landed_files(spark, folder).where(F.col("path").isin(sorted(open_paths))).collect()
    )
    due = [
        f
        for f in listed
        if settings.ingest.retry_refused or (f["path"], f["length"], f["modified_at"]) not in seen
    ]
    if not due:
        return ran
    retry_id = 0 if last is None else last + 1
    log.info("%s: %d refused file(s) replaced; retry %d reads them", source, len(due), retry_id)
    plan_retry(spark, retries_path, source=source, retry_id=retry_id, files=due)
    handler(_files_frame(spark, due), RETRY_BATCH_BASE + retry_id)
    return ran + 1


def _still_refused(refused: list[Row], planned: list[Row]) -> set[str]:
    """Paths whose last reading refused them: never retried, or refused by their last retry
    (a file a retry ingested is, like every ingested file, not read again)."""
    last_retry = {}
    for row in planned:
        last_retry[row["path"]] = max(last_retry.get(row["path"], -1), row["retry_id"])
    refused_in = {(r["path"], r["batch_id"]) for r in refused}
    return {
        r["path"]
        for r in refused
        if r["path"] not in last_retry
        or (r["path"], RETRY_BATCH_BASE + last_retry[r["path"]]) in refused_in
    }


def _retry_recorded(spark: SparkSession, settings: Settings, source: str, retry_id: int) -> bool:
    return (
        read_ledger(spark, settings.table_path(*BATCH_LEDGER))
        .where(
            (F.col("step") == "bronze")
            & (F.col("source") == source)
            & (F.col("batch_id") == RETRY_BATCH_BASE + retry_id)
        )
        .limit(1)
        .count()
        > 0
    )


def _files_frame(spark: SparkSession, files: list[Row]) -> DataFrame:
    """A retry's files in the shape of the discovery stream's batches."""
    return spark.createDataFrame(
        [(f["load_path"], f["modified_at"], int(f["length"])) for f in files],
        "path string, modified_at timestamp, length long",
    )
