"""Delta Lake reads, writes, merges and time travel: the only module that touches tables."""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse.errors import first_line
from lakehouse.io.faults import failpoint, table_name

log = logging.getLogger(__name__)

# A commit or checkpoint of the Delta log (``00000000000000000003.json``,
# ``...003.checkpoint.parquet``, ``...003.checkpoint.0000000001.0000000002.parquet``)
COMMIT_FILE = re.compile(r"^\d{20}\.(json|checkpoint\.)")

# Commit metadata key under which a derived table records the versions it was built from.
SOURCE_VERSIONS_KEY = "source_versions"


@dataclass(frozen=True)
class TableVersion:
    """A Delta table at one version: what a model or a Gold build read."""

    path: str
    version: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"path": self.path, "version": self.version}


def is_delta_table(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` holds a Delta table: one with at least one commit.

    A local table is looked up on disk, not through Spark's cache of Delta logs, which can
    remember a folder as empty after its first commit was renamed into place.
    """
    folder = _local_folder(path)
    if folder is not None:
        log_dir = folder / "_delta_log"
        return log_dir.is_dir() and any(COMMIT_FILE.match(p.name) for p in log_dir.iterdir())
    return DeltaTable.isDeltaTable(spark, path)


def _forget_cached_log(spark: SparkSession, path: str) -> None:
    """Drop Spark's cached Delta log of ``path`` (it may hold the table as not existing)."""
    jvm = spark.sparkContext._jvm
    jvm.org.apache.spark.sql.delta.DeltaLog.invalidateCache(
        spark._jsparkSession, jvm.org.apache.hadoop.fs.Path(path)
    )


def latest_version(spark: SparkSession, path: str) -> int | None:
    """The newest version of the table, or None when there is no table yet."""
    if not is_delta_table(spark, path):
        return None
    row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    return int(row["version"]) if row else None


# Commits that reorganise files or settings without changing a table's rows.
MAINTENANCE_OPERATIONS = (
    "OPTIMIZE",
    "VACUUM START",
    "VACUUM END",
    "SET TBLPROPERTIES",
    "UNSET TBLPROPERTIES",
    # column comments (lakehouse.catalog)
    "CHANGE COLUMN",
    "CHANGE COLUMNS",
)


def _data_commits(spark: SparkSession, path: str) -> DataFrame:
    """The table's history without its maintenance commits."""
    history_df = DeltaTable.forPath(spark, path).history()
    return history_df.where(~F.col("operation").isin(*MAINTENANCE_OPERATIONS))


def latest_data_version(spark: SparkSession, path: str) -> int | None:
    """The newest version whose commit changed rows (maintenance commits skipped), or None."""
    if not is_delta_table(spark, path):
        return None
    row = _data_commits(spark, path).agg(F.max("version").alias("version")).first()
    return None if row is None or row["version"] is None else int(row["version"])


def has_new_data(spark: SparkSession, path: str, since_version: int | None) -> bool:
    """Whether rows changed after ``since_version`` (None: whether the table has any data)."""
    latest = latest_data_version(spark, path)
    if latest is None:
        return False
    return since_version is None or latest > since_version


def sources_changed(
    spark: SparkSession, recorded: Mapping[str, int | None], paths: Mapping[str, str]
) -> bool:
    """Whether any source (key -> path) has new rows since the versions a build recorded.

    Maintenance commits (OPTIMIZE, VACUUM, properties) do not count, so compacting Silver
    does not rebuild Gold or retrain a model.
    """
    if set(recorded) != set(paths):
        return True
    return any(has_new_data(spark, paths[key], recorded[key]) for key in paths)


def version_timestamps(spark: SparkSession, path: str) -> dict[int, Any]:
    """Commit time of every version still in the log."""
    rows = DeltaTable.forPath(spark, path).history().select("version", "timestamp").collect()
    return {int(r["version"]): r["timestamp"] for r in rows}


# Tables that the session's catalog names (``lakehouse.catalog.bind_names``): normalized
# path -> (database, table). A read of such a path goes through its name, so the metastore
# sees it (lineage, grants), as long as the name still points at that path.
_NAMED: dict[str, tuple[str, str]] = {}


def normal_location(uri: str) -> str:
    """A table location as the metastore and the settings may each spell it, made comparable
    (``file:/x/`` and ``/x`` are one folder)."""
    if uri.startswith("file:"):
        uri = "/" + uri.removeprefix("file:").lstrip("/")
    return uri.rstrip("/")


def name_tables(names: Mapping[str, tuple[str, str]]) -> None:
    """Read these tables (path -> (database, table)) by name from now on, in this process."""
    _NAMED.update({normal_location(path): name for path, name in names.items()})


def catalog_location(spark: SparkSession, database: str, table: str) -> str | None:
    """Where a name points, as the session's catalog says (no Delta log is read), or None
    when the name is not registered."""
    jvm = spark.sparkContext._jvm
    ident = jvm.org.apache.spark.sql.catalyst.TableIdentifier(table, jvm.scala.Some(database))
    session_catalog = spark._jsparkSession.sessionState().catalog()
    if not session_catalog.tableExists(ident):
        return None
    return session_catalog.getTableMetadata(ident).location().toString()


def name_for(spark: SparkSession, path: str) -> str | None:
    """The name to read ``path`` by (``gold.delivery_features``), or None to read it by path:
    not named, or its name was dropped or moved since (the lake is the truth: a lost catalog
    costs a read by path, with a warning)."""
    named = _NAMED.get(normal_location(path))
    if named is None:
        return None
    database, table = named
    full = f"`{database}`.`{table}`"
    try:
        location = catalog_location(spark, database, table)
    except Exception as exc:  # the metastore went away: paths still read every table
        log.warning(
            "catalog: cannot look up %s (%s); this process reads every table by path",
            full,
            first_line(exc),
        )
        _NAMED.clear()  # one failed lookup, not one (with the client's retries) per read
        return None
    if location is None or normal_location(location) != normal_location(path):
        log.warning("catalog: %s no longer names %s; reading it by path", full, table_name(path))
        _NAMED.pop(normal_location(path), None)
        return None
    log.debug("reading %s by name", f"{database}.{table}")
    return full


def read_table(
    spark: SparkSession,
    path: str,
    *,
    version: int | None = None,
    timestamp: str | None = None,
) -> DataFrame:
    """Read a table, optionally as of a version or a timestamp (time travel); by its name
    when the session's catalog names it (``name_for``), else by path.

    Args:
        spark: The session.
        path: Table folder or URI.
        version: ``versionAsOf``; exclusive with ``timestamp``.
        timestamp: ``timestampAsOf``, e.g. ``"2024-11-17 21:53:01"`` (UTC).
    """
    if version is not None and timestamp is not None:
        raise ValueError("give either version or timestamp, not both")
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    if timestamp is not None:
        reader = reader.option("timestampAsOf", timestamp)
    name = name_for(spark, path)
    return reader.table(name) if name is not None else reader.load(path)


def _local_folder(path: str) -> Path | None:
    """The folder of a table on a local (or mounted) file system; None for object storage."""
    if path.startswith("file:"):
        return Path(path.removeprefix("file:").removeprefix("//"))
    return None if "://" in path else Path(path)


def creating_folder(path: str) -> Path | None:
    """Where a new local table's first commit is written before it is renamed into place."""
    folder = _local_folder(path)
    return None if folder is None else folder.with_name(f".{folder.name}.creating")


def _write_table(
    spark: SparkSession, path: str, write: Callable[[str], None], *, new: bool | None = None
) -> None:
    """Run ``write(location)`` for the table at ``path``, so that a crash at any instant
    leaves either no table or a readable one.

    A write to an existing table is one atomic commit. A new table on object storage exists
    only once its first commit object does, so it is written in place. But on a file system
    Delta makes ``_delta_log/`` before the first commit, and a crash in between would leave a
    folder that no reader can open: there the first write goes to a hidden sibling folder,
    renamed into place once committed (a rename within a folder is atomic). ``new`` says
    whether the table is yet to be created; None looks it up.
    """
    name = table_name(path)
    failpoint(f"write:{name}")
    if new is None:
        new = not is_delta_table(spark, path)
    staging = creating_folder(path) if new else None
    if staging is None:
        write(path)
        failpoint(f"committed:{name}")
        return
    target = _local_folder(path)
    shutil.rmtree(staging, ignore_errors=True)  # a crashed first write's
    write(str(staging))
    failpoint(f"commit:{name}")
    if target.exists():
        # under the lake's lock nobody else creates it: what is there has no commit (a crash
        # before this writer existed), so no reader could open it and nothing refers to it
        if is_delta_table(spark, path):
            raise RuntimeError(f"{path} appeared while its first commit was being written")
        shutil.rmtree(target)
    staging.rename(target)
    _forget_cached_log(spark, path)
    _forget_cached_log(spark, str(staging))
    failpoint(f"committed:{name}")


def append_once(
    df: DataFrame, path: str, *, app_id: str, batch_id: int, merge_schema: bool = False
) -> None:
    """Append ``df`` exactly once per ``(app_id, batch_id)``.

    Delta's idempotent writes record the pair in the commit, so a streaming micro-batch that is
    replayed after a crash (the sink committed, the checkpoint did not) writes nothing twice.
    ``merge_schema`` lets the append add new (nullable) columns, for a Bronze table written
    by an older release.
    """

    def write(location: str) -> None:
        writer = df.write.format("delta").mode("append")
        if merge_schema:
            writer = writer.option("mergeSchema", "true")
        writer.option("txnAppId", app_id).option("txnVersion", batch_id).save(location)

    _write_table(df.sparkSession, path, write)


def ensure_table(spark: SparkSession, path: str, schema_df: DataFrame) -> DeltaTable:
    """Create an empty table with ``schema_df``'s schema when none exists, and return it."""
    if not is_delta_table(spark, path):
        _write_table(
            spark,
            path,
            lambda location: schema_df.limit(0).write.format("delta").mode("append").save(location),
            new=True,
        )
    return DeltaTable.forPath(spark, path)


def last_commit_metadata(spark: SparkSession, path: str) -> dict[str, Any]:
    """The JSON ``userMetadata`` of the newest commit that carried any, else ``{}``."""
    if not is_delta_table(spark, path):
        return {}
    row = (
        DeltaTable.forPath(spark, path)
        .history()
        .where(F.col("userMetadata").isNotNull())
        .orderBy(F.col("version").desc())
        .select("userMetadata")
        .first()
    )
    if row is None:
        return {}
    try:
        return json.loads(row["userMetadata"])
    except (TypeError, json.JSONDecodeError):
        return {}


def source_versions_at(spark: SparkSession, path: str, version: int) -> dict[str, int]:
    """The source versions recorded by the newest commit at or before ``version`` that has any.

    Commits without metadata (OPTIMIZE, a manual fix) do not change what a version was built
    from, so the lookup walks back past them.
    """
    rows = (
        DeltaTable.forPath(spark, path)
        .history()
        .where((F.col("version") <= version) & F.col("userMetadata").isNotNull())
        .orderBy(F.col("version").desc())
        .select("userMetadata")
        .collect()
    )
    for row in rows:
        try:
            metadata = json.loads(row["userMetadata"])
        except (TypeError, json.JSONDecodeError):
            continue
        if SOURCE_VERSIONS_KEY in metadata:
            return dict(metadata[SOURCE_VERSIONS_KEY])
    return {}


def recorded_source_versions(spark: SparkSession, path: str) -> dict[str, int]:
    """The source versions a derived table recorded at its last build."""
    return dict(last_commit_metadata(spark, path).get(SOURCE_VERSIONS_KEY, {}))


def overwrite_with_sources(
    df: DataFrame, path: str, source_versions: Mapping[str, int], extra: Mapping[str, Any] = ()
) -> None:
    """Overwrite a table and stamp the commit with the source versions it was built from."""
    metadata = {SOURCE_VERSIONS_KEY: dict(source_versions), **dict(extra)}

    def write(location: str) -> None:
        (
            df.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option("userMetadata", json.dumps(metadata, sort_keys=True))
            .save(location)
        )

    _write_table(df.sparkSession, path, write)


def merge_with_sources(
    spark: SparkSession,
    source_df: DataFrame,
    path: str,
    *,
    keys: list[str],
    source_versions: Mapping[str, int],
    change_column: str,
    delete_missing: bool = True,
    extra_metadata: Mapping[str, Any] = (),
) -> None:
    """Make the table at ``path`` equal ``source_df`` with the fewest row changes.

    Rows are matched on ``keys``; a matched row is rewritten only when ``change_column`` (a
    content hash) differs, new rows are inserted and, with ``delete_missing``, rows no longer
    in the source are deleted. The commit records ``source_versions``.
    """
    if not is_delta_table(spark, path):
        overwrite_with_sources(source_df, path, source_versions, dict(extra_metadata))
        return
    failpoint(f"write:{table_name(path)}")
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    with _build_metadata(spark, source_versions, extra_metadata):
        merge = (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(source_df.alias("s"), condition)
            .whenMatchedUpdateAll(condition=f"NOT (t.`{change_column}` <=> s.`{change_column}`)")
            .whenNotMatchedInsertAll()
        )
        if delete_missing:
            merge = merge.whenNotMatchedBySourceDelete()
        merge.execute()


@contextmanager
def _build_metadata(
    spark: SparkSession, source_versions: Mapping[str, int], extra: Mapping[str, Any]
):
    """The session's commits carry a build's metadata (its source versions, and ``extra``)
    while the block runs."""
    metadata = {SOURCE_VERSIONS_KEY: dict(source_versions), **dict(extra)}
    spark.conf.set(_USER_METADATA_CONF, json.dumps(metadata, sort_keys=True))
    try:
        yield
    finally:
        spark.conf.unset(_USER_METADATA_CONF)


def merge_partial(
    spark: SparkSession,
    rows_df: DataFrame,
    scope_df: DataFrame,
    path: str,
    *,
    keys: list[str],
    source_versions: Mapping[str, int],
    change_column: str,
    extra_metadata: Mapping[str, Any] = (),
) -> None:
    """Make the rows of the table at ``path`` whose keys are in ``scope_df`` equal ``rows_df``,
    in one commit, leaving every other row alone: the publication of an incremental build.

    ``rows_df`` holds the rebuilt rows (their keys are in scope too); a row of the scope that
    ``rows_df`` lacks is deleted, a matched row is rewritten only when ``change_column`` differs,
    a new one is inserted. The commit records ``source_versions`` like ``merge_with_sources``.
    """
    columns = rows_df.columns
    gone = scope_df.select(*keys).distinct().join(rows_df.select(*keys), on=keys, how="left_anti")
    deleted = F.col("_deleted")
    source = rows_df.withColumn("_deleted", F.lit(False)).unionByName(
        gone.withColumn("_deleted", F.lit(True)), allowMissingColumns=True
    )
    failpoint(f"write:{table_name(path)}")
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    values = {c: f"s.`{c}`" for c in columns}
    with _build_metadata(spark, source_versions, extra_metadata):
        (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(source.alias("s"), condition)
            .whenMatchedDelete(condition=deleted)
            .whenMatchedUpdate(
                condition=f"NOT (t.`{change_column}` <=> s.`{change_column}`)", set=values
            )
            .whenNotMatchedInsert(condition=~deleted, values=values)
            .execute()
        )
    failpoint(f"committed:{table_name(path)}")


# --- change data feed: what an incremental build reads ---------------------------------------

CHANGE_FEED_PROPERTY = "delta.enableChangeDataFeed"


def ensure_change_feed(spark: SparkSession, path: str) -> bool:
    """Make the table record its row changes (Delta's change data feed) from its next commit
    on; whether it had to (a ``SET TBLPROPERTIES`` commit, which changes no row)."""
    if table_properties(spark, path).get(CHANGE_FEED_PROPERTY, "").lower() == "true":
        return False
    set_table_property(spark, path, CHANGE_FEED_PROPERTY, "true")
    return True


def read_changes(spark: SparkSession, path: str, after: int, through: int) -> DataFrame:
    """The rows the commits after version ``after`` up to ``through`` inserted, deleted or
    updated (both images), with ``_change_type``, ``_commit_version`` and ``_commit_timestamp``.

    Lazy: a range the table did not record changes for fails when the frame is first
    evaluated (``DELTA_MISSING_CHANGE_DATA``).
    """
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", after + 1)
        .option("endingVersion", through)
        .load(path)
    )


def last_build(spark: SparkSession, path: str) -> dict[str, Any] | None:
    """The metadata of the build that made the table's rows what they are: that of its newest
    commit that changed rows (maintenance skipped) when it recorded source versions (a build,
    or an erasure, which keeps them); None otherwise (a restore, a manual write, no table)."""
    if not is_delta_table(spark, path):
        return None
    row = _data_commits(spark, path).orderBy(F.col("version").desc()).select("userMetadata").first()
    try:
        metadata = json.loads(row["userMetadata"]) if row is not None else None
    except (TypeError, json.JSONDecodeError):
        return None
    return metadata if isinstance(metadata, dict) and SOURCE_VERSIONS_KEY in metadata else None


_TXN_APP_ID_CONF = "spark.databricks.delta.write.txnAppId"
_TAG_LOOKBACK = 10  # commits searched for an earlier attempt of a replayed batch
_TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"
_USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


@contextmanager
def _idempotent_dml(spark: SparkSession, txn: tuple[str, int] | None, tag: str | None):
    """Delta's idempotent DML for the session while the block runs: a commit that carries
    ``txn`` (app id, version) is made once, a second attempt is skipped; ``tag`` goes to the
    commit's ``userMetadata``."""
    if txn is None:
        yield
        return
    confs = {_TXN_APP_ID_CONF: txn[0], _TXN_VERSION_CONF: str(txn[1]), _USER_METADATA_CONF: tag}
    for key, value in confs.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key in confs:
            spark.conf.unset(key)


def merge_into(
    spark: SparkSession,
    rows_df: DataFrame,
    path: str,
    schema: StructType,
    keys: tuple[str, ...],
    update_condition: str | None,
    *,
    txn: tuple[str, int] | None = None,
) -> tuple[int, int]:
    """MERGE ``rows_df`` into the table at ``path`` by ``keys``; returns (inserted, updated).

    The table is created with ``schema`` when it does not exist yet. ``update_condition``
    (``s.``/``t.`` aliases) says when a matched row is replaced; None makes the merge
    insert-only, so the first row of a key wins for good.

    ``txn`` (app id, batch id) makes the write happen once: a batch replayed after a crash
    that came after its commit writes nothing again, and gets the counts of the commit it
    made the first time (read from the table's history, where the commit is tagged).
    """
    table = ensure_table(spark, path, spark.createDataFrame([], schema))
    before = latest_version(spark, path)
    tag = None if txn is None else f"{txn[0]}:{txn[1]}"
    if txn is not None and (earlier := _tagged_commit_metrics(spark, path, tag)) is not None:
        return earlier
    if table.detail().first()["numFiles"] == 0:
        # Nothing to match against (the first load): a plain append does the same, minus
        # the join and the source materialisation a MERGE costs.
        def append(location: str) -> None:
            writer = rows_df.write.format("delta").mode("append")
            if txn is not None:
                writer = writer.option("txnAppId", txn[0]).option("txnVersion", txn[1])
                writer = writer.option("userMetadata", tag)
            writer.save(location)

        _write_table(spark, path, append, new=False)
        if latest_version(spark, path) == before:
            return 0, 0
        return int(_last_operation_metrics(spark, path).get("numOutputRows", 0)), 0
    failpoint(f"write:{table_name(path)}")
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    merge = table.alias("t").merge(rows_df.alias("s"), condition)
    if update_condition is not None:
        merge = merge.whenMatchedUpdateAll(condition=update_condition)
    with _idempotent_dml(spark, txn, tag):
        merge.whenNotMatchedInsertAll().execute()
    failpoint(f"committed:{table_name(path)}")
    if latest_version(spark, path) == before:
        return 0, 0
    metrics = _last_operation_metrics(spark, path)
    return _inserted_updated(metrics)


def _inserted_updated(metrics: Mapping[str, str]) -> tuple[int, int]:
    if "numTargetRowsInserted" not in metrics:  # an append
        return int(metrics.get("numOutputRows", 0)), 0
    return int(metrics.get("numTargetRowsInserted", 0)), int(metrics.get("numTargetRowsUpdated", 0))


def _tagged_commit_metrics(spark: SparkSession, path: str, tag: str) -> tuple[int, int] | None:
    """(inserted, updated) of the commit tagged ``tag`` (an earlier attempt of the same
    batch), or None when there is none. Only the recent history is read: a replayed batch
    is the last one its step wrote."""
    rows = (
        DeltaTable.forPath(spark, path)
        .history(_TAG_LOOKBACK)
        .where(F.col("userMetadata") == tag)
        .select("operationMetrics")
        .limit(1)
        .collect()
    )
    return _inserted_updated(rows[0]["operationMetrics"]) if rows else None


def _last_operation_metrics(spark: SparkSession, path: str) -> dict[str, str]:
    return DeltaTable.forPath(spark, path).history(1).first()["operationMetrics"]


def history(spark: SparkSession, path: str, limit: int | None = None) -> DataFrame:
    """The table's versions, newest first, with operation and operation metrics."""
    table = DeltaTable.forPath(spark, path)
    return table.history(limit) if limit else table.history()


# --- maintenance: compaction, vacuum, table properties ---------------------------------------

_RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"


def version_ages_s(spark: SparkSession, path: str) -> dict[int, float]:
    """Seconds since each version still in the log was committed."""
    # computed in the JVM, so no time-zone conversion can skew the ages
    rows = (
        DeltaTable.forPath(spark, path)
        .history()
        .select(
            "version",
            (F.unix_micros(F.current_timestamp()) - F.unix_micros("timestamp")).alias("age_us"),
        )
        .collect()
    )
    return {int(r["version"]): r["age_us"] / 1e6 for r in rows}


def table_properties(spark: SparkSession, path: str) -> dict[str, str]:
    """The table's properties (``TBLPROPERTIES``)."""
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").select("properties").first()
    return dict(detail["properties"] or {})


def set_table_property(spark: SparkSession, path: str, key: str, value: str) -> None:
    """Set one table property (a commit of its own)."""
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('{key}' = '{value}')")


def compact(spark: SparkSession, path: str) -> int:
    """OPTIMIZE (bin-packing compaction); returns how many files it replaced."""
    metrics = (
        DeltaTable.forPath(spark, path)
        .optimize()
        .executeCompaction()
        .select("metrics.numFilesRemoved")
        .first()
    )
    return int(metrics[0] or 0) if metrics else 0


@contextmanager
def _short_retention_allowed(spark: SparkSession):
    # Delta refuses horizons under the table's deleted-file retention unless told; callers
    # compute the horizon from what must stay readable, so the check is theirs to make.
    previous = spark.conf.get(_RETENTION_CHECK_CONF, "true")
    spark.conf.set(_RETENTION_CHECK_CONF, "false")
    try:
        yield
    finally:
        spark.conf.set(_RETENTION_CHECK_CONF, previous)


def vacuum(spark: SparkSession, path: str, retain_hours: int, *, dry_run: bool = False) -> int:
    """VACUUM files no version newer than ``retain_hours`` uses.

    Returns:
        With ``dry_run``, how many files would be deleted; else 0 (the files are deleted).
    """
    with _short_retention_allowed(spark):
        if dry_run:
            return spark.sql(f"VACUUM delta.`{path}` RETAIN {retain_hours} HOURS DRY RUN").count()
        DeltaTable.forPath(spark, path).vacuum(retain_hours)
        return 0


# --- erasure: deletes made once, and the data files that still hold deleted rows -------------
ERASURE_KEY = "erasure"


def delete_once(
    spark: SparkSession, path: str, identifiers: DataFrame, condition, *, request: str
) -> int:
    """Delete the rows that match ``condition`` with any row of ``identifiers`` (a MERGE of the
    table ``t`` with ``s``: the commit records the condition, never the values), once per
    erasure ``request``; the rows deleted.

    The commit carries the request's id in its ``userMetadata`` (and the metadata of the newest
    commit that had any, so a Gold table keeps the source versions it was built from) and a
    Delta transaction id, so a rerun after a crash commits nothing twice and finds the count of
    the earlier attempt.
    """
    earlier = erasure_deletes(spark, path).get(request)
    if earlier is not None:
        return earlier
    tag = json.dumps({**last_commit_metadata(spark, path), ERASURE_KEY: request}, sort_keys=True)
    with _idempotent_dml(spark, (f"erasure:{request}", 0), tag):
        (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(identifiers.alias("s"), condition)
            .whenMatchedDelete()
            .execute()
        )
    failpoint(f"committed:{table_name(path)}")
    return erasure_deletes(spark, path).get(request, 0)


def erasure_deletes(spark: SparkSession, path: str) -> dict[str, int]:
    """Rows deleted by each erasure request's commit in the table's history."""
    rows = (
        DeltaTable.forPath(spark, path)
        .history()
        .where(F.col("userMetadata").contains(f'"{ERASURE_KEY}"'))
        .select("userMetadata", "operationMetrics")
        .collect()
    )
    found = {}
    for row in rows:
        try:
            request = json.loads(row["userMetadata"])[ERASURE_KEY]
        except (TypeError, KeyError, json.JSONDecodeError):
            continue
        found[request] = int((row["operationMetrics"] or {}).get("numTargetRowsDeleted", 0))
    return found


def _hadoop_path(spark: SparkSession, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(jvm.java.net.URI(uri))
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


CHANGE_DATA_FOLDER = "_change_data"


def stored_data_files(
    spark: SparkSession, path: str, *, change_data_only: bool = False
) -> list[str]:
    """Every data file in the table's folder, whichever versions use it (the current one, older
    ones, none): the files time travel and a VACUUM not yet run can still read, and the change
    data feed's files (row images of updates and deletes); only those with
    ``change_data_only``."""
    root, fs = _hadoop_path(spark, path if "://" in path else Path(path).resolve().as_uri())
    if not fs.exists(root):
        return []
    files, listing = [], fs.listFiles(root, True)
    while listing.hasNext():
        uri = listing.next().getPath().toUri().toString()
        relative = uri[len(root.toUri().toString()) :].lstrip("/")
        change_data = relative.startswith(f"{CHANGE_DATA_FOLDER}/")
        if not relative.endswith(".parquet") or (change_data_only and not change_data):
            continue
        if change_data or not relative.startswith(("_", ".")):
            files.append(uri)
    return files


def current_data_files(spark: SparkSession, path: str) -> set[str]:
    """The names of the data files the table's current version reads."""
    return {uri.rsplit("/", 1)[-1] for uri in spark.read.format("delta").load(path).inputFiles()}


def remove_data_files(spark: SparkSession, uris: list[str]) -> int:
    """Delete data files from storage (local or object store); how many were there."""
    removed = 0
    for uri in uris:
        file, fs = _hadoop_path(spark, uri)
        removed += bool(fs.delete(file, False))
    return removed
