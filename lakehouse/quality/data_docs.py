"""Data Docs: every validation as a Great Expectations HTML page, under the lake.

``<lake>/_data_docs/`` holds one page per suite run, rendered by GX's own Data Docs renderer
(``ValidationResultsPageRenderer``), at ``validations/<layer>/<table>/<day>/<id>.html``, and the
suites' pages at ``expectations/<suite>.html``. ``index.html`` lists the validations newest
first, from ``audit/expectations`` (the record of truth; the pages are its rendering), and is
rewritten by ``lakehouse report`` and at the end of every ``lakehouse run``. The files are
written through Hadoop's file system, so a lake on ``s3a://`` gets them too.

The results carry counts and observed values only (``result_format`` BASIC without samples),
so the pages hold no record's values.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.config import Settings, join_uri
from lakehouse.io.landing import write_text
from lakehouse.quality.expectations import Validation
from lakehouse.tables import EXPECTATIONS, Table

log = logging.getLogger(__name__)

DOCS_FOLDER = "_data_docs"
INDEX_PAGE = "index.html"
INDEX_LIMIT = 500  # validations listed on the index page, newest first


def docs_root(settings: Settings) -> str:
    return join_uri(settings.lake_root, DOCS_FOLDER)


def page_path(table: Table, validated_at: datetime, validation_id: str, suite: str) -> str:
    """A validation page's path inside the docs folder: four folders deep, as GX's page
    template expects (its links go ``../../../../index.html``)."""
    day = validated_at.astimezone(UTC).strftime("%Y%m%d")
    return f"validations/{table.layer}/{table.name}/{day}/{validation_id}-{suite}.html"


def _render(document) -> str:
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView().render(document)


def write_validation_pages(
    spark: SparkSession,
    settings: Settings,
    table: Table,
    validation_id: str,
    validated_at: datetime,
    validations: list[Validation],
) -> list[str]:
    """Render each validation's page (and its suite's page); returns the pages' paths."""
    from great_expectations.render.renderer import (
        ExpectationSuitePageRenderer,
        ValidationResultsPageRenderer,
    )

    root = docs_root(settings)
    written = []
    for validation in validations:
        result = validation.result
        for check in result.results:  # GX's renderer fails on NumPy scalars (see _plain)
            check.result = _plain(check.result)
        result.meta["run_id"] = {
            "run_name": f"{table.key} {validation_id[:8]}",
            "run_time": validated_at.isoformat(),
        }
        page = page_path(table, validated_at, validation_id, validation.suite)
        rendered = ValidationResultsPageRenderer().render(result)
        write_text(spark, join_uri(root, page), _render(rendered))
        written.append(page)
        suite = result.suite_name
        expectations = [r.expectation_config for r in result.results]
        suite_page = ExpectationSuitePageRenderer().render(_suite(suite, expectations))
        write_text(spark, join_uri(root, "expectations", f"{suite}.html"), _render(suite_page))
    return written


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars made Python's (in dicts and lists, recursively). GX's
    renderer formats an observed value through its ``repr``, which NumPy 2 writes as
    ``np.float64(55.22)``: the page would lose the value and log a traceback."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value


def _suite(name: str, expectations):
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name)
    suite.expectations = []
    for config in expectations:
        suite.add_expectation_configuration(config)
    return suite


def write_index(spark: SparkSession, settings: Settings) -> str | None:
    """Rewrite ``index.html`` from ``audit/expectations``; returns its URI, or None when
    nothing was ever validated."""
    from lakehouse.quality.audit import read_expectations

    df = read_expectations(spark, settings)
    if df is None:
        return None
    page = F.col("page") if "page" in df.columns else F.lit(None).cast("string")
    rows = (
        df.withColumn("page", page)
        .groupBy("validation_id", "table", "suite")
        .agg(
            F.max("validated_at").alias("validated_at"),
            F.first("table_version", ignorenulls=True).alias("table_version"),
            F.first("compared_with_version", ignorenulls=True).alias("compared_with_version"),
            F.bool_and("published").alias("published"),
            F.first("batch_id", ignorenulls=True).alias("batch_id")
            if "batch_id" in df.columns
            else F.lit(None).alias("batch_id"),
            F.count(F.lit(1)).alias("checks"),
            F.sum((~F.col("success") & (F.col("severity") == "fail")).cast("int")).alias("failed"),
            F.sum((~F.col("success") & (F.col("severity") != "fail")).cast("int")).alias("warned"),
            F.first("page", ignorenulls=True).alias("page"),
        )
        .orderBy(F.desc("validated_at"), "table", "suite")
        .limit(INDEX_LIMIT)
        .collect()
    )
    uri = join_uri(docs_root(settings), INDEX_PAGE)
    write_text(spark, uri, render_index(rows, settings.lake_root))
    return uri


def _cell(value) -> str:
    return "" if value is None else html.escape(str(value))


def render_index(rows, lake: str) -> str:
    """The index page: one line per validation, newest first, linked to its page."""
    lines = []
    for r in rows:
        state = "failed" if r["failed"] else ("warnings" if r["warned"] else "passed")
        suite = _cell(r["suite"])
        if r["page"]:
            suite = f'<a href="{html.escape(r["page"], quote=True)}">{suite}</a>'
        if r["published"] is False:
            version = f"not published ({_cell(r['compared_with_version'])} stays)"
        else:
            version = _cell(r["table_version"])
        lines.append(
            f'<tr class="{state}"><td>{_cell(r["validated_at"])}</td><td>{_cell(r["table"])}</td>'
            f"<td>{suite}</td><td>{_cell(r['batch_id'])}</td><td>{version}</td>"
            f"<td>{r['checks'] - r['failed'] - r['warned']}/{r['checks']}</td>"
            f"<td>{r['failed']}</td><td>{r['warned']}</td></tr>"
        )
    body = "\n".join(lines) or '<tr><td colspan="8">no validation yet</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Data Docs: {_cell(lake)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ padding: .3em .8em; border-bottom: 1px solid #ddd; text-align: left; }}
tr.failed {{ background: #fde2e2; }} tr.warnings {{ background: #fff4d6; }}
</style></head><body>
<h1>Data Docs</h1>
<p>Lake <code>{_cell(lake)}</code>: the latest {INDEX_LIMIT} validations of the expectation
suites, newest first (all of them are in <code>{EXPECTATIONS.key}</code>).</p>
<table><thead><tr><th>validated at (UTC)</th><th>table</th><th>suite</th><th>batch</th>
<th>table version</th><th>passed</th><th>failed</th><th>warnings</th></tr></thead>
<tbody>
{body}
</tbody></table></body></html>
"""
