"""Tables by name: every table of the lake is registered as an external Delta table at its
lake path, in one database per layer (``SELECT * FROM gold.delivery_features VERSION AS OF 3``).

The lake stays the truth. The command that creates a table registers it (``lakehouse.cli``
does it for every command that writes the lake), and ``lakehouse catalog sync`` rebuilds the
whole catalog from the lake, so a lost catalog costs nothing. Registering writes nothing to
a table; describing it (its comment, properties and column comments, ``meaning``) makes one
metadata commit when they differ from what the code says, so it runs only under the lake's
writer lock.

Where the catalog lives (``catalog`` settings): Spark's embedded metastore (Derby) in
``<lake>/_catalog``, which one Spark application at a time may open; or a metastore database
shared by every application of a team (``catalog.metastore_url``, PostgreSQL).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.catalog.meaning import Meaning, column_comment, meaning_of
from lakehouse.config import PROJECT_ROOT, Settings, join_uri
from lakehouse.errors import LakehouseError, first_line
from lakehouse.tables import NAMED_TABLES, Table

if TYPE_CHECKING:  # the names and settings above serve JVM-free code too (the service)
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

LAYERS = ("bronze", "silver", "gold", "quarantine", "audit")
LAYER_COMMENTS = {
    "bronze": "Raw records as they arrived, clear-text personal data",
    "silver": "Typed, deduplicated, personal data tokenized",
    "gold": "Features, labels and predictions for the models",
    "quarantine": "Rows Silver rejected, with their reasons, clear-text personal data",
    "audit": "What the pipeline did: batches, refused files, checks, drift, answers",
}
# table properties the catalog sets (SHOW TBLPROPERTIES gold.payments_unified)
PROPERTY_PREFIX = "lakehouse."
CATALOG_FOLDER = "_catalog"
HIVE_NO_GRANTS = "org.apache.hadoop.hive.ql.security.authorization.DefaultHiveAuthorizationProvider"
# a running SQL server's Spark Connect URL, for notebooks and `lakehouse sql --remote`
REMOTE_ENV = "LAKEHOUSE_SQL_REMOTE"
DERBY_LOCKED = ("Another instance of Derby", "Failed to start database")
# how Spark's Hive client says it could not open the metastore (the cause is in its log)
METASTORE_UNREACHABLE = "Unable to instantiate org.apache.hadoop.hive.ql.metadata"


class CatalogError(LakehouseError, RuntimeError):
    """The metastore cannot be opened, or refused an operation."""


def is_delta_table(spark: SparkSession, path: str) -> bool:
    """``lakehouse.io.delta.is_delta_table``, imported when a session exists."""
    from lakehouse.io.delta import is_delta_table as found

    return found(spark, path)


def database(settings: Settings, layer: str) -> str:
    """The database (schema) of a layer: ``gold``, or ``<prefix>gold``."""
    return f"{settings.catalog.database_prefix}{layer}"


def qualified_name(settings: Settings, table: Table) -> str:
    """The name users write: ``gold.delivery_features``."""
    return f"{database(settings, table.layer)}.{table.name}"


def metastore_dir(settings: Settings) -> Path:
    """The embedded metastore's folder: ``<lake>/_catalog`` for a lake on a file system,
    ``catalog.local_dir`` for one on object storage (Derby needs a disk)."""
    if "://" not in settings.lake_root or settings.lake_root.startswith("file:"):
        return Path(join_uri(settings.lake_root.removeprefix("file:"), CATALOG_FOLDER))
    local = Path(settings.catalog.local_dir).expanduser()
    return local if local.is_absolute() else PROJECT_ROOT / local


def spark_conf(settings: Settings, password: str | None = None) -> dict[str, str]:
    """The Spark settings that put a session on the lake's catalog (empty when disabled).

    Args:
        settings: The command's configuration.
        password: The metastore database user's password (``secrets.metastore_db_password``).
    """
    catalog = settings.catalog
    if not catalog.enabled:
        return {}
    folder = metastore_dir(settings)
    conf = {
        "spark.sql.catalogImplementation": "hive",
        # where a managed table would go; the lake's own tables are all external
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        # the metastore creates its schema in a new database, and never asks Hive's tools
        "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
        "spark.hadoop.hive.metastore.schema.verification": "false",
        # Hive's default authorizer grants a new table's owner privileges, whose table the
        # metastore creates on first use on a second connection, waiting on the open
        # transaction that registers the table: on PostgreSQL that waits forever. Spark never
        # enforces Hive's privileges, so none are granted.
        "spark.hadoop.hive.security.authorization.manager": HIVE_NO_GRANTS,
    }
    if catalog.metastore_url:
        conf["spark.hadoop.javax.jdo.option.ConnectionURL"] = catalog.metastore_url
        conf["spark.hadoop.javax.jdo.option.ConnectionDriverName"] = catalog.metastore_driver
        if catalog.metastore_user:
            conf["spark.hadoop.javax.jdo.option.ConnectionUserName"] = catalog.metastore_user
        if password:
            # Spark redacts it in its UI and logs (spark.redaction.regex matches "password")
            conf["spark.hadoop.javax.jdo.option.ConnectionPassword"] = password
    else:
        url = f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true"
        conf["spark.hadoop.javax.jdo.option.ConnectionURL"] = url
    return conf


def prepare(spark: SparkSession, settings: Settings) -> None:
    """Before the embedded metastore opens: its log goes to its folder, not the working one."""
    if not settings.catalog.enabled or settings.catalog.metastore_url:
        return
    folder = metastore_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    system = spark.sparkContext._jvm.java.lang.System
    if system.getProperty("derby.stream.error.file") is None:
        system.setProperty("derby.stream.error.file", str(folder / "derby.log"))


def notebook_session(settings: Settings) -> SparkSession:
    """A notebook's session: on a running ``lakehouse sql-server`` when
    ``LAKEHOUSE_SQL_REMOTE`` names one (``sc://host:15002``: no JVM in the notebook), else a
    local one on the lake's catalog, with every table of the lake named."""
    remote = os.environ.get(REMOTE_ENV)
    if remote:
        from pyspark.sql import SparkSession

        return SparkSession.builder.remote(remote).getOrCreate()
    from lakehouse.spark import session_for

    spark = session_for(settings, app_name="lakehouse-notebook")
    if settings.catalog.enabled:
        register_missing(spark, settings, with_meaning=False)
    return spark


def is_metastore_failure(exc: BaseException) -> bool:
    """Whether the error says the metastore could not be opened (locked, unreachable)."""
    return any(marker in str(exc) for marker in (*DERBY_LOCKED, METASTORE_UNREACHABLE))


def catalog_error(settings: Settings, exc: Exception) -> CatalogError:
    """A metastore failure as a message a user can act on."""
    unreachable = is_metastore_failure(exc)
    if unreachable and not settings.catalog.metastore_url:
        folder = metastore_dir(settings)
        return CatalogError(
            f"the embedded catalog in {folder} is open in another Spark application (Derby "
            "lets one process at a time use it), or could not be opened (see its derby.log): "
            "query through the running `lakehouse sql-server` (lakehouse sql --remote "
            "sc://host:15002), or give the team a shared metastore (catalog.metastore_url)"
        )
    if unreachable:
        return CatalogError(
            "the metastore database (catalog.metastore_url) cannot be reached or refused the "
            f"login (catalog.metastore_user, secrets.metastore_db_password): {first_line(exc)}"
        )
    return CatalogError(f"the catalog refused: {first_line(exc)}")


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _same_location(a: str, b: str) -> bool:
    from lakehouse.io.delta import normal_location

    return normal_location(a) == normal_location(b)


@dataclass(frozen=True)
class Registration:
    """What registering one table did: ``registered`` (new name), ``moved`` (the name pointed
    at another location), ``described`` (comments or properties set), ``unchanged``, ``dropped``
    (its table is gone from the lake) or ``absent`` (no such table in the lake)."""

    name: str
    action: str
    location: str


def ensure_database(spark: SparkSession, settings: Settings, layer: str) -> str:
    """Create the layer's database if it is missing; its location is the layer's folder."""
    name = database(settings, layer)
    spark.sql(
        f"CREATE DATABASE IF NOT EXISTS {_quoted(name)} COMMENT {_literal(LAYER_COMMENTS[layer])} "
        f"LOCATION {_literal(join_uri(settings.lake_root, layer))}"
    )
    return name


def registered_tables(spark: SparkSession, settings: Settings, layer: str) -> set[str]:
    """The table names registered in a layer's database (empty when it has none)."""
    name = database(settings, layer)
    if not spark.catalog.databaseExists(name):
        return set()
    return {row["tableName"] for row in spark.sql(f"SHOW TABLES IN {_quoted(name)}").collect()}


def registered_location(spark: SparkSession, settings: Settings, table: Table) -> str | None:
    """Where the table's name points, as the metastore says (no Delta log is read), or None
    when the name is not registered."""
    from lakehouse.io.delta import catalog_location

    return catalog_location(spark, database(settings, table.layer), table.name)


def _detail(spark: SparkSession, name: str):
    return spark.sql(f"DESCRIBE DETAIL {name}").first()


def properties_for(settings: Settings, table: Table, meaning: Meaning) -> dict[str, str]:
    """The table properties the catalog sets, ``comment`` (the table comment) included."""
    props = {
        "comment": meaning.comment,
        f"{PROPERTY_PREFIX}layer": table.layer,
        f"{PROPERTY_PREFIX}source": meaning.source,
        f"{PROPERTY_PREFIX}owner": settings.catalog.owner,
        f"{PROPERTY_PREFIX}pii": meaning.pii,
        f"{PROPERTY_PREFIX}lake_key": table.key,
    }
    if meaning.pii_columns:
        props[f"{PROPERTY_PREFIX}pii_columns"] = "; ".join(
            f"{column}: {kind}" for column, kind in sorted(meaning.pii_columns.items())
        )
    if meaning.upstream:
        prefix = settings.catalog.database_prefix
        props[f"{PROPERTY_PREFIX}upstream"] = ", ".join(f"{prefix}{u}" for u in meaning.upstream)
    return props


def _comment_for(table: Table, meaning: Meaning, column: str) -> str | None:
    text = column_comment(table, column)
    if text is None and column in meaning.pii_columns:
        return f"personal data: {meaning.pii_columns[column]}"
    return text


def describe(spark: SparkSession, settings: Settings, table: Table) -> bool:
    """Set the table's comment, properties and column comments where they differ from its
    meaning: at most two metadata commits (SET TBLPROPERTIES, CHANGE COLUMNS), none when
    nothing differs. Returns whether anything changed. Run it under the lake's writer lock.

    The meaning lives in the table's Delta log, so it is written by path, with no metastore:
    every catalog that names the table shows it.
    """
    path = settings.table_path(*table)
    name = "delta.`" + path.replace("`", "``") + "`"
    meaning = meaning_of(table)
    detail = _detail(spark, name)
    wanted = properties_for(settings, table, meaning)
    current = dict(detail["properties"] or {})
    current["comment"] = detail["description"]
    changed = False
    stale = {k: v for k, v in wanted.items() if current.get(k) != v}
    if stale:
        pairs = ", ".join(f"{_literal(k)} = {_literal(v)}" for k, v in sorted(stale.items()))
        spark.sql(f"ALTER TABLE {name} SET TBLPROPERTIES ({pairs})")
        changed = True
    columns = []
    for field in spark.read.format("delta").load(path).schema.fields:
        comment = _comment_for(table, meaning, field.name)
        if comment is not None and field.metadata.get("comment") != comment:
            columns.append(f"{_quoted(field.name)} COMMENT {_literal(comment)}")
    if columns:
        spark.sql(f"ALTER TABLE {name} ALTER COLUMN {', '.join(columns)}")
        changed = True
    return changed


def register(
    spark: SparkSession, settings: Settings, table: Table, *, with_meaning: bool = True
) -> Registration:
    """Register one table by name at its lake path (idempotent), and describe it.

    A name that points at another location (the lake moved, another lake used the same
    metastore) is pointed at this one; dropping an external table's name removes no data.
    """
    path = settings.table_path(*table)
    name = qualified_name(settings, table)
    if not is_delta_table(spark, path):
        return Registration(name, "absent", path)
    try:
        ensure_database(spark, settings, table.layer)
        action = "registered"
        location = registered_location(spark, settings, table)
        if location is not None:
            if _same_location(location, path):
                action = "unchanged"
            else:
                spark.sql(f"DROP TABLE IF EXISTS {name}")
                action = "moved"
        if action != "unchanged":
            spark.sql(f"CREATE TABLE {name} USING DELTA LOCATION {_literal(path)}")
        if with_meaning and describe(spark, settings, table) and action == "unchanged":
            action = "described"
    except LakehouseError:
        raise
    except Exception as exc:
        raise catalog_error(settings, exc) from exc
    log.info("catalog: %s %s", name, action, extra={"table": name, "action": action})
    from lakehouse.io.delta import name_tables

    name_tables({path: (database(settings, table.layer), table.name)})
    return Registration(name, action, path)


def bind_names(spark: SparkSession, settings: Settings) -> int:
    """From now on, this process reads the lake's tables by the names the catalog gives them
    (``lakehouse.io.delta.read_table``, Silver's streams): each table whose name points at its
    lake path. A metastore that cannot be reached costs reads by path, with a warning.
    Returns how many tables are named."""
    from lakehouse.io.delta import name_tables

    names = {}
    try:
        for table in NAMED_TABLES:
            path = settings.table_path(*table)
            location = registered_location(spark, settings, table)
            if location is not None and _same_location(location, path):
                names[path] = (database(settings, table.layer), table.name)
    except Exception as exc:
        log.warning("catalog: not reachable, tables are read by path: %s", first_line(exc))
        return 0
    name_tables(names)
    log.info("catalog: %d tables read by name", len(names))
    return len(names)


def is_metastore_session(spark: SparkSession) -> bool:
    """Whether the session's catalog is a metastore (names outlive it), not in-memory."""
    return spark.conf.get("spark.sql.catalogImplementation", "in-memory") == "hive"


def describe_all(spark: SparkSession, settings: Settings) -> list[Registration]:
    """Describe every table the lake holds (what a writing command runs at its end: the
    tables it created get their meaning; the others are checked, and left alone)."""
    done = []
    for table in NAMED_TABLES:
        path = settings.table_path(*table)
        if is_delta_table(spark, path) and describe(spark, settings, table):
            done.append(Registration(qualified_name(settings, table), "described", path))
    return done


def register_missing(
    spark: SparkSession, settings: Settings, *, with_meaning: bool = True
) -> list[Registration]:
    """Register the lake's tables that have no name yet, or whose name points elsewhere (what
    a command just created; another lake's table of the same name). Reads the metastore and
    the tables' folders only, so it is cheap when there is nothing to do."""
    done = []
    for table in NAMED_TABLES:
        path = settings.table_path(*table)
        try:
            location = registered_location(spark, settings, table)
        except Exception as exc:
            raise catalog_error(settings, exc) from exc
        if location is not None and _same_location(location, path):
            continue
        if is_delta_table(spark, path):
            done.append(register(spark, settings, table, with_meaning=with_meaning))
    return done


def sync(
    spark: SparkSession, settings: Settings, *, with_meaning: bool = True
) -> list[Registration]:
    """Rebuild the catalog from the lake: register and describe every table the lake holds,
    drop the names of the project's tables the lake no longer holds. Tables that others
    registered in the layers' databases are left alone."""
    done = []
    for table in NAMED_TABLES:
        registration = register(spark, settings, table, with_meaning=with_meaning)
        if registration.action != "absent":
            done.append(registration)
    ours = {(t.layer, t.name) for t in NAMED_TABLES}
    for layer in LAYERS:
        for name in sorted(registered_tables(spark, settings, layer)):
            if (layer, name) not in ours:
                continue
            table = Table(layer, name)
            if not is_delta_table(spark, settings.table_path(*table)):
                full = qualified_name(settings, table)
                spark.sql(f"DROP TABLE IF EXISTS {full}")
                done.append(Registration(full, "dropped", settings.table_path(*table)))
    return done
