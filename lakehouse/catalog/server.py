"""``lakehouse sql-server``: the lake's catalog over the network, for notebooks and BI tools.

One Spark application serves both endpoints, so both see the same catalog and the embedded
metastore is opened by one process only:

- **Spark Connect** (gRPC, ``catalog.connect_port``): ``SparkSession.builder.remote(
  "sc://host:15002")`` in a notebook, with no JVM on the client;
- **the Thrift server** (HiveServer2 protocol, ``catalog.thrift_port``): JDBC and ODBC
  clients, ``jdbc:hive2://host:10000`` (beeline, DBeaver, Tableau, Power BI).

Neither authenticates its callers: the server binds to loopback unless told otherwise, and a
team puts it behind a network policy or an authenticating proxy. It is meant for reading; the
lake's writers are the commands, which hold the lake's lock. Every ``catalog.sync_interval_s``
it registers the tables that appeared in the lake meanwhile (names only, no table commits).
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass

from pyspark.sql import SparkSession

from lakehouse import catalog
from lakehouse.config import Settings

log = logging.getLogger(__name__)

CONNECT_PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"


def server_conf(host: str, connect_port: int, thrift_port: int) -> dict[str, str]:
    """The Spark settings of the serving application."""
    return {
        "spark.plugins": CONNECT_PLUGIN,
        "spark.connect.grpc.binding.address": host,
        "spark.connect.grpc.binding.port": str(connect_port),
        "spark.hadoop.hive.server2.thrift.bind.host": host,
        "spark.hadoop.hive.server2.thrift.port": str(thrift_port),
    }


@dataclass
class SqlServer:
    """A running SQL server: its session and endpoints."""

    spark: SparkSession
    host: str
    connect_port: int
    thrift_port: int | None

    @property
    def connect_url(self) -> str:
        """What ``SparkSession.builder.remote`` takes."""
        return f"sc://{self.host}:{self.connect_port}"

    @property
    def jdbc_url(self) -> str | None:
        """What a JDBC client takes, or None when the Thrift server is off."""
        return None if self.thrift_port is None else f"jdbc:hive2://{self.host}:{self.thrift_port}"


def start(
    settings: Settings,
    *,
    host: str | None = None,
    connect_port: int | None = None,
    thrift_port: int | None = None,
    thrift: bool = True,
) -> SqlServer:
    """Start the session with Spark Connect, register the lake's tables, start the Thrift
    server (``thrift=False``: Spark Connect only)."""
    from lakehouse.spark import session_for

    host = host or settings.catalog.host
    connect_port = settings.catalog.connect_port if connect_port is None else connect_port
    thrift_port = settings.catalog.thrift_port if thrift_port is None else thrift_port
    spark = session_for(
        settings,
        app_name="lakehouse-sql-server",
        extra_conf=server_conf(host, connect_port, thrift_port),
    )
    registered = catalog.register_missing(spark, settings, with_meaning=False)
    log.info("sql server: %d tables registered at start", len(registered))
    if thrift:
        jvm = spark.sparkContext._jvm
        jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
            spark._jsparkSession.sqlContext()
        )
    return SqlServer(spark, host, connect_port, thrift_port if thrift else None)


def serve_forever(server: SqlServer, settings: Settings, stop: threading.Event) -> None:
    """Register new tables every ``catalog.sync_interval_s`` until ``stop`` is set."""
    while not stop.wait(settings.catalog.sync_interval_s):
        try:
            for registration in catalog.register_missing(
                server.spark, settings, with_meaning=False
            ):
                log.info("sql server: %s %s", registration.name, registration.action)
        except Exception as exc:  # a failed round is retried at the next one
            log.warning("sql server: registering new tables failed: %s", str(exc)[:300])


def run(settings: Settings, **options) -> None:
    """Start the server and serve until SIGTERM or SIGINT, then stop Spark."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = start(settings, **options)
    print(f"spark connect: {server.connect_url}", flush=True)
    if server.jdbc_url:
        print(f"jdbc/odbc: {server.jdbc_url}", flush=True)
    print("ready", flush=True)
    try:
        serve_forever(server, settings, stop)
    finally:
        server.spark.stop()
