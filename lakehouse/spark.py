"""The one SparkSession factory, used by jobs, the CLI, notebooks and tests.

Delta Lake's JVM code is not in the delta-spark wheel: ``make jars`` copies the pinned jars
(``infra/jvm/pom.xml``) into ``.jars/`` and this factory puts exactly those files on the
classpath. Nothing is resolved from a repository when a session starts, so it works offline.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from pyspark import SparkContext
from pyspark.sql import SparkSession

from lakehouse.config import PROJECT_ROOT, Settings, SparkSettings, StorageSettings
from lakehouse.errors import LakehouseError
from lakehouse.storage import hadoop_conf, spark_conf

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
DELTA_JAR_PREFIX = "delta-spark_"
DYNAMODB_JAR_PREFIX = "delta-storage-s3-dynamodb-"

LOG_CONFIG = PROJECT_ROOT / "conf" / "log4j2.properties"

# Settings every session gets; configuration (spark.conf) may override any of them.
BASE_CONF: dict[str, str] = {
    "spark.sql.extensions": DELTA_EXTENSION,
    "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
    # Every timestamp in the lake is UTC (CONTRACT section 1.1: createdDateTime is epoch ms UTC).
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG_CONFIG}",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.ui.showConsoleProgress": "false",
    # Schemas are declared, never inferred, and never widened silently.
    "spark.sql.streaming.schemaInference": "false",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    # Time travel must keep working for reproducibility; VACUUM stays explicit (maintain).
    "spark.databricks.delta.retentionDurationCheck.enabled": "true",
}


# Files are read in splits of at most 128 MiB: a 300 MiB table gives three tasks, two cores run
# two, and the third runs alone while a core idles. Locally (few cores, every task the same
# machine) at least two splits per core keep both busy to the end; configuration may say else.
MIN_SPLITS = "spark.sql.files.minPartitionNum"
SPLITS_PER_CORE = 2


class JarsMissingError(LakehouseError, RuntimeError):
    """The pinned JVM jars have not been fetched."""


def resolve_jars_dir(jars_dir: str | os.PathLike[str]) -> Path:
    """The jars folder, relative paths taken from the project root."""
    path = Path(jars_dir).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def local_jars(jars_dir: str | os.PathLike[str]) -> list[str]:
    """The jar files to put on the classpath.

    Raises:
        JarsMissingError: When the folder holds no Delta jar (run ``make jars``).
    """
    folder = resolve_jars_dir(jars_dir)
    jars = sorted(str(p) for p in folder.glob("*.jar"))
    if not any(Path(j).name.startswith(DELTA_JAR_PREFIX) for j in jars):
        raise JarsMissingError(
            f"no Delta jars in {folder}: run `make jars` (Maven copies the versions pinned in "
            "infra/jvm/pom.xml there)"
        )
    return jars


def _require_dynamodb_log_store(jars: list[str]) -> None:
    if not any(Path(j).name.startswith(DYNAMODB_JAR_PREFIX) for j in jars):
        raise JarsMissingError(
            "storage.log_store is dynamodb but .jars has no Delta DynamoDB log store: run "
            "`make jars` (it builds infra/jvm/delta-storage-s3-dynamodb), or set "
            "storage.log_store=default"
        )


def _launched_by_spark_submit() -> bool:
    # spark-submit starts the JVM first and tells the Python driver where its gateway listens.
    return os.environ.get("PYSPARK_GATEWAY_PORT") is not None


def _submitted_app_name() -> str | None:
    """The application name spark-submit was given (``--name``, e.g. an Airflow task's), or
    None for its default, the job file's name."""
    SparkContext._ensure_initialized()
    name = SparkContext._jvm.java.lang.System.getProperty("spark.app.name")
    return None if not name or name.endswith(".py") else name


def _delta_loadable() -> bool:
    """Whether the launched JVM can load Delta's classes: whatever put them on its classpath
    (``--jars``, ``--packages``, a Spark image's ``jars/`` folder, a cluster's class path)."""
    from py4j.protocol import Py4JJavaError

    SparkContext._ensure_initialized()
    jvm = SparkContext._jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    try:
        jvm.java.lang.Class.forName(DELTA_EXTENSION, False, loader)
    except Py4JJavaError:
        return False
    return True


def is_local(master: str) -> bool:
    """Whether the driver is the only JVM: ``local`` or ``local[...]`` (``local-cluster[...]``
    starts executors of its own)."""
    return master == "local" or master.startswith("local[")


def jar_conf(master: str, jars: list[str]) -> dict[str, str]:
    """How a session started here gets the jars: in local mode on the driver's class path,
    read in place (``spark.jars`` would copy them, about 690 MB, most of it the AWS SDK bundle,
    into every session's temporary folder); on a cluster shipped to the executors."""
    if is_local(master):
        return {"spark.driver.extraClassPath": os.pathsep.join(jars)}
    return {"spark.jars": ",".join(jars)}


def build_conf(
    settings: SparkSettings,
    extra: dict[str, str] | None = None,
    *,
    storage: StorageSettings | None = None,
    catalog: dict[str, str] | None = None,
) -> dict[str, str]:
    """The Spark settings a session is built with (base, then object storage (``s3a://``
    endpoint, region, path style, log store), then the catalog's (``lakehouse.catalog``), then
    configuration, then ``extra``)."""
    conf = dict(BASE_CONF)
    if storage is not None:
        conf.update(spark_conf(storage))
    conf.update(catalog or {})
    conf.update(settings.conf)
    conf.update(extra or {})
    return conf


def get_spark(
    settings: SparkSettings | None = None,
    *,
    app_name: str | None = None,
    extra_conf: dict[str, str] | None = None,
    storage: StorageSettings | None = None,
    catalog: dict[str, str] | None = None,
) -> SparkSession:
    """Return the active SparkSession, building a Delta-enabled one if there is none.

    Under ``spark-submit`` the master, memory and jars come from the submit command (see
    ``infra/spark-submit.sh``); otherwise the master comes from configuration and the jars from
    ``spark.jars_dir``.

    Args:
        settings: The ``spark`` section of the configuration; defaults when omitted.
        app_name: Overrides ``settings.app_name``, and the name spark-submit was given.
        extra_conf: Settings applied last (tests use this for small shuffles).
        storage: The ``storage`` section: S3 endpoint, region and log store for ``s3a://``
            paths (``lakehouse.storage``); credentials stay with the AWS provider chain.
        catalog: The metastore's settings (``lakehouse.catalog.spark_conf``); without them
            the session's catalog is Spark's in-memory one, gone when it stops.

    Returns:
        A SparkSession with Delta's SQL extension and catalog configured.
    """
    settings = settings or SparkSettings()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    submitted = _launched_by_spark_submit()
    name = app_name or (_submitted_app_name() if submitted else None) or settings.app_name
    builder = SparkSession.builder.appName(name)
    conf = build_conf(settings, extra_conf, storage=storage, catalog=catalog)
    if not submitted:
        # the master that takes effect: a spark.master in spark.conf or extra_conf (applied
        # last, below) wins over the settings' master
        master = conf.get("spark.master") or settings.master or "local[*]"
        builder = builder.master(master)
        jars = local_jars(settings.jars_dir)
        if storage is not None and storage.log_store == "dynamodb":
            _require_dynamodb_log_store(jars)
        for key, value in jar_conf(master, jars).items():
            builder = builder.config(key, value)
        if master.startswith("local"):
            # Python workers on this machine (mapInPandas scoring) must run this interpreter,
            # the one with the project's packages, not whatever `python3` is first on PATH.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    elif not _delta_loadable():
        raise JarsMissingError(
            "spark-submit was started without Delta on the classpath: use infra/spark-submit.sh, "
            "or pass --jars with the files in .jars/ (make jars), or an image with Delta's jars"
        )
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if spark.sparkContext.master.startswith("local") and MIN_SPLITS not in conf:
        spark.conf.set(MIN_SPLITS, str(SPLITS_PER_CORE * spark.sparkContext.defaultParallelism))
    spark.sparkContext.setLogLevel(settings.log_level)
    log.info("spark session ready: master=%s version=%s", spark.sparkContext.master, spark.version)
    return spark


def session_for(
    settings: Settings,
    *,
    app_name: str | None = None,
    extra_conf: dict[str, str] | None = None,
    metastore: bool = True,
) -> SparkSession:
    """The session of a command or a notebook: Delta, object storage and the lake's catalog
    (tables by name, ``lakehouse.catalog``), all from one configuration.

    Args:
        metastore: Open the catalog's metastore even when it is the embedded one, which one
            process at a time may use (the catalog's readers: ``sql``, ``sql-server``,
            notebooks, ``catalog sync``). False: only a shared one (``catalog.metastore_url``);
            with the embedded one, the pipeline's commands read and write by path, whoever
            holds the catalog.

    On a metastore, the session reads the tables it names by name (``catalog.bind_names``):
    with a shared metastore, the pipeline, training, scoring and ``reproduce`` do too.
    """
    from lakehouse import catalog
    from lakehouse.secrets import metastore_db_password

    shared = bool(settings.catalog.metastore_url)
    conf = {}
    if metastore or shared:
        conf = catalog.spark_conf(settings, metastore_db_password(settings) if shared else None)
    spark = get_spark(
        settings.spark,
        app_name=app_name,
        extra_conf=extra_conf,
        storage=settings.storage,
        catalog=conf,
    )
    if conf and not shared:
        catalog.prepare(spark, settings)
    if conf and settings.catalog.enabled:
        catalog.bind_names(spark, settings)
    return spark


def apply_storage(spark: SparkSession, storage: StorageSettings) -> None:
    """Point a running session's ``s3a://`` file systems at the configured S3 endpoint.

    Takes effect for buckets not yet opened in this JVM (Hadoop caches one file system per
    bucket). The log store (``storage.log_store``) is chosen when a session starts only.
    """
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in hadoop_conf(storage).items():
        hadoop.set(key, value)
