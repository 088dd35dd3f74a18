"""``lakehouse sql``: one read-only query on the lake's catalog, printed.

The query runs in a Spark session of its own on the lake's catalog, or, with ``--remote``, on
a running ``lakehouse sql-server`` through Spark Connect (no JVM here; the embedded metastore
admits one process at a time, so while a server holds it, this is how to reach it).
Statements that change data or the catalog are refused: the lake's writers are the commands,
which hold the lake's lock.
"""

from __future__ import annotations

import re

import pandas as pd

from lakehouse.catalog import catalog_error, is_metastore_failure
from lakehouse.config import Settings
from lakehouse.errors import EXIT_USAGE, LakehouseError, first_line

# the statements `lakehouse sql` runs: queries and looking at the catalog
READ_ONLY = frozenset(
    {"select", "with", "show", "describe", "desc", "explain", "values", "from", "table"}
)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


class QueryError(LakehouseError):
    """The query was refused or failed."""


class WriteRefusedError(QueryError):
    """A statement that would change data or the catalog."""

    exit_code = EXIT_USAGE


def first_keyword(query: str) -> str:
    """The statement's first word, lower-cased, comments and brackets skipped."""
    text = _COMMENTS.sub(" ", query).strip().lstrip("(").strip()
    match = re.match(r"[A-Za-z]+", text)
    return match.group(0).lower() if match else ""


def check_read_only(query: str) -> None:
    """Raise WriteRefusedError unless the statement only reads.

    ``EXPLAIN`` of a write is refused too (``EXPLAIN ANALYZE``-like forms would run it).
    """
    keyword = first_keyword(query)
    if keyword not in READ_ONLY:
        raise WriteRefusedError(
            f"`lakehouse sql` runs read-only statements ({', '.join(sorted(READ_ONLY))}); "
            f"got {keyword.upper() or 'nothing'}: tables are written by the lakehouse commands"
        )
    if keyword == "explain":
        check_read_only(
            re.sub(
                r"(?is)^\s*explain(\s+(extended|codegen|cost|formatted))?",
                "",
                _COMMENTS.sub(" ", query),
            )
        )
    stripped = _COMMENTS.sub(" ", query).strip().rstrip(";")
    if ";" in stripped:
        raise WriteRefusedError("one statement at a time")


def run_query(
    settings: Settings, query: str, *, limit: int = 100, remote: str | None = None
) -> pd.DataFrame:
    """Run one read-only statement and return at most ``limit`` rows of its result."""
    check_read_only(query)
    if remote:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.remote(remote).getOrCreate()
    else:
        from lakehouse.catalog import register_missing
        from lakehouse.spark import session_for

        spark = session_for(settings, app_name="lakehouse-sql")
        if settings.catalog.enabled:
            register_missing(spark, settings, with_meaning=False)
    try:
        return spark.sql(query.strip().rstrip(";")).limit(limit).toPandas()
    except LakehouseError:
        raise
    except Exception as exc:
        if not remote and is_metastore_failure(exc):
            raise catalog_error(settings, exc) from exc
        raise QueryError(f"the query failed: {first_line(exc)}") from exc


def render(frame: pd.DataFrame, output: str = "table") -> str:
    """The result as an aligned table, CSV or JSON lines."""
    if output == "csv":
        return frame.to_csv(index=False)
    if output == "json":
        if frame.empty:
            return ""
        return (
            frame.to_json(orient="records", lines=True, date_format="iso", default_handler=str)
            + "\n"
        )
    if frame.empty:
        return "(no rows)\n" if len(frame.columns) else "OK\n"
    return frame.to_string(index=False, max_colwidth=80) + "\n"
