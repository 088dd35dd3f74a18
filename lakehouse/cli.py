"""The ``lakehouse`` command (also ``python -m lakehouse``): CONTRACT section 3.

Every command takes ``--env``, ``--landing``, ``--lake`` and ``--set key=value``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import click

from lakehouse import __version__
from lakehouse.config import ConfigError, Settings, env_overrides, join_uri, load_settings
from lakehouse.contract import PAYMENT_FEEDS
from lakehouse.errors import EXIT_CRASH, EXIT_PROMOTION_REFUSED, LakehouseError, first_line
from lakehouse.log_scrub import scrub
from lakehouse.log_setup import LOG_FORMATS, configure_logging
from lakehouse.monitoring import jobs as job_metrics
from lakehouse.tables import SOURCES

# The models, as every command names them (`train`, `promote`, `rollback`, `score`); the
# registry names them by their configured `registered_name` (`delivery_date`, `fraud`).
MODELS = ("delivery", "fraud")

log = logging.getLogger("lakehouse")

PAYMENT_DAYS = 90
# Every command reads its secrets before it touches data (``lakehouse.secrets.check``), but
# `generate` writes made-up data and needs none, and these tokenize nothing and read no raw
# PII, so they never hold the PII key: the service, the registry's listing and rollback.
NO_SECRETS = frozenset({"generate"})
NO_PII_KEY = frozenset({"serve", "models", "rollback", "sql", "sql-server", "sync"})
# what `lakehouse demo` leaves in the folders it owns, so that it empties no one else's
DEMO_MARKER = "_lakehouse_demo"
# `--set` given as a JSON list in the environment (containers); the command's own --set values
# apply after them (a scheduler adds some: the DAGs' lock wait, the CronJobs' Pushgateway)
OVERRIDES_VAR = "LAKEHOUSE_SET"


def common_options(command: Callable) -> Callable:
    """The options every command takes; the command receives ``settings``."""

    @click.option("--env", "env", default=None, help="Configuration overlay (default: local).")
    @click.option(
        "--landing",
        default=None,
        envvar="LAKEHOUSE_LANDING",
        help="Landing root: a folder or s3a:// URI (LAKEHOUSE_LANDING).",
    )
    @click.option(
        "--lake",
        default=None,
        envvar="LAKEHOUSE_LAKE",
        help="Lake root: a folder or s3a:// URI (LAKEHOUSE_LAKE).",
    )
    @click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Any other configuration value, e.g. --set sessions.holiday_window_days=5 "
        f"({OVERRIDES_VAR}: a JSON list of them, applied first).",
    )
    @click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
    @click.option(
        "--log-format",
        type=click.Choice(LOG_FORMATS),
        default="text",
        show_default=True,
        envvar="LAKEHOUSE_LOG_FORMAT",
        help="Logs on stderr as text or as JSON lines (for log collectors).",
    )
    @functools.wraps(command)
    def wrapper(env, landing, lake, overrides, verbose, log_format, **kwargs):
        try:
            configure_logging(verbose, log_format)
            overrides = [*env_overrides(os.environ.get(OVERRIDES_VAR)), *overrides]
            settings = load_settings(env, landing=landing, lake=lake, overrides=overrides)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from exc
        name = click.get_current_context().info_name
        scope = kwargs.get("source") or kwargs.get("task") or kwargs.get("model")
        with job_metrics.reported(name, settings, scope):
            if name not in NO_SECRETS:
                from lakehouse.secrets import check

                check(settings, pii=name not in NO_PII_KEY, serving=name == "serve")
            return command(settings=settings, **kwargs)

    return wrapper


def writes_lake(command: Callable) -> Callable:
    """Marks a command that writes the lake: it runs holding the lake's writer lock
    (``lakehouse.io.lake_lock``), so a second writer waits ``lock.wait_s`` and then exits
    with ``EXIT_LAKE_LOCKED``. Goes below ``common_options``."""

    @functools.wraps(command)
    def wrapper(settings: Settings, **kwargs):
        with _lake_lock(settings):
            try:
                return command(settings=settings, **kwargs)
            finally:
                _register_new_tables(settings)

    return wrapper


def _register_new_tables(settings: Settings) -> None:
    """Describe the tables the command created (``lakehouse.catalog``: comments and properties,
    in their Delta logs), still under the lock; with a shared metastore, name them too. The
    embedded metastore is left to the catalog's readers (one process at a time may open it: a
    pipeline must not fail or wait because a notebook is open). A failure here does not fail
    a command whose data is written: `lakehouse catalog sync` does it again."""
    if not settings.catalog.enabled or "pyspark" not in sys.modules:
        return
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        return
    from lakehouse import catalog

    try:
        if catalog.is_metastore_session(spark):
            done = catalog.register_missing(spark, settings)
        else:
            done = catalog.describe_all(spark, settings)
        for registration in done:
            log.info("catalog: %s %s", registration.name, registration.action)
    except Exception as exc:
        log.warning(
            "catalog: new tables not described (`lakehouse catalog sync` does it): %s",
            first_line(exc),
        )


def _lake_lock(settings: Settings):
    from lakehouse.io.lake_lock import lake_lock

    name = click.get_current_context().info_name or "lakehouse"
    return lake_lock(settings.lake_root, name, settings.lock, settings.storage)


def _spark(settings: Settings, *, catalog: bool = False):
    """The command's session; ``catalog``: on the metastore even when it is the embedded one
    (the commands that read or rebuild the catalog), else only when it is shared."""
    from lakehouse.spark import session_for

    return session_for(settings, metastore=catalog)


def _print_report(report) -> None:
    """A step's line on stdout as soon as it ends, and a log record with its figures."""
    line = report.summary()
    click.echo(line)
    run = job_metrics.current()
    if run is not None:
        run.add_step(report)
    log.info("%s", line.strip(), extra={"report": report.as_dict()})


def _write_data_docs(spark, settings: Settings) -> None:
    """Rewrite the Data Docs index (``<lake>/_data_docs/index.html``) and print where it is."""
    if not (settings.quality.suites and settings.quality.data_docs):
        return
    from lakehouse.quality.data_docs import write_index

    uri = write_index(spark, settings)
    if uri is not None:
        click.echo(f"Data Docs: {uri}")


def _check_gates(settings: Settings, reports) -> None:
    """Raise ``DataQualityError`` (exit code 65) when the run's data failed a gate and
    ``quality.fail_on_error`` is set; otherwise only warn."""
    from lakehouse.errors import DataQualityError
    from lakehouse.pipeline.gates import gate_failures

    failures = gate_failures(reports, settings.quality)
    run = job_metrics.current()
    if run is not None:
        run.gate_failures = failures
    for failure in failures:
        log.warning("data quality gate failed: %s", failure, extra={"gate": failure})
    if failures and settings.quality.fail_on_error:
        raise DataQualityError(
            f"data quality gate failed: {'; '.join(failures)} "
            "(the run's writes stand; see `lakehouse report`)"
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="lakehouse")
def cli() -> None:
    """Raw event logs to Delta features, models and live predictions."""


@cli.command()
@common_options
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Landing root to write."
)
@click.option(
    "--sessions", "documents", default=20_000, show_default=True, help="Session documents."
)
@click.option("--transactions", default=20_000, show_default=True, help="Payment transactions.")
@click.option("--accounts", default=None, type=int, help="Payment accounts (default: scaled).")
@click.option("--seed", default=42, show_default=True)
@click.option("--anomaly-rate", default=0.02, show_default=True, help="Share of each anomaly.")
@click.option(
    "--start", default="2024-01-01", show_default=True, help="First day of generated events."
)
@click.option("--days", default=365, show_default=True, help="Days of generated events.")
@click.option(
    "--label-days",
    default=None,
    type=click.IntRange(min=0),
    help="Days the fraud-case feed goes on after the payments (default: until every case "
    "is settled; 0: stop with the payments, leaving the latest cases unreported).",
)
@click.option("--workers", default=None, type=int, help="Processes (default: up to 2).")
def generate(
    settings,
    out,
    documents,
    transactions,
    accounts,
    seed,
    anomaly_rate,
    start,
    days,
    label_days,
    workers,
):
    """Write a realistic landing zone (sessions, payments, reference data), anomalies included.

    Sessions span --days from --start; payments cover the first 90 days of it at most, and
    their fraud cases, reported 30-60 days late, go on until every case is settled.
    """
    from lakehouse.generate import (
        generate_payments_landing,
        generate_sessions_landing,
        holiday_years,
        write_reference_data,
    )

    start_date = date.fromisoformat(start)
    # the sessions draw addresses and delivery times from this very reference data
    reference = write_reference_data(out, seed=seed, years=holiday_years(start_date, days))
    summary = generate_sessions_landing(
        out,
        documents=documents,
        seed=seed,
        anomaly_rate=anomaly_rate,
        start=start_date,
        days=days,
        workers=workers,
    )
    payments = generate_payments_landing(
        out,
        transactions=transactions,
        accounts=accounts,
        seed=seed,
        anomaly_rate=anomaly_rate,
        start=start_date,
        days=min(days, PAYMENT_DAYS),
        workers=workers,
        **({} if label_days is None else {"label_days": label_days}),
    )
    click.echo(
        json.dumps(
            {
                "reference": reference,
                "sessions": {"totals": summary["totals"]},
                "payments": {f: p["totals"] for f, p in payments["feeds"].items()},
            },
            indent=2,
            default=str,
        )
    )


_source_option = click.option(
    "--source", type=click.Choice(SOURCES), default=None, help="Only this source."
)


def _layer_command(layer: str, doc: str) -> click.Command:
    @common_options
    @_source_option
    @writes_lake
    def command(settings, source):
        from lakehouse.pipeline import run_layer

        spark = _spark(settings)
        reports = run_layer(spark, settings, layer, source, on_report=_print_report)
        _write_data_docs(spark, settings)
        _check_gates(settings, reports)

    command.__doc__ = doc
    return cli.command(name=layer)(command)


_layer_command("ingest", "Landing zone -> Bronze, each new file exactly once.")
_layer_command("silver", "Bronze -> Silver (typed, deduplicated, PII tokenized) + quarantine.")
_layer_command("gold", "Silver -> Gold feature tables (only when a source changed).")


@cli.command()
@common_options
@_source_option
@writes_lake
def run(settings, source):
    """Every step in order, on one Spark session; then the retraining policy (retrain)."""
    from lakehouse.pipeline import run_all

    spark = _spark(settings)
    reports = run_all(spark, settings, source, on_report=_print_report)
    _write_data_docs(spark, settings)
    # a run whose data failed a gate trains nothing on it
    _check_gates(settings, reports)
    if source is None:
        from lakehouse.ml.lifecycle import retrain_by_policy

        outcome = retrain_by_policy(spark, settings)
        for line in outcome.lines:
            click.echo(line)
        _note_policy(outcome)


@cli.command()
@common_options
@_source_option
@click.option(
    "--trigger",
    "trigger_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds between the starts of two cycles (stream.trigger_s).",
)
@click.option(
    "--cycles", type=click.IntRange(min=1), default=None, help="Stop after this many cycles."
)
def stream(settings, source, trigger_s, cycles):
    """Run the pipeline continuously: one cycle (landing -> Bronze -> Silver -> Gold, the
    steps of `run`, exactly once) every --trigger seconds, until SIGTERM or SIGINT, which
    stop it after the current cycle. Each cycle holds the lake's lock while it writes, so
    batch commands can run between cycles. Models are left to `retrain`."""
    import contextlib
    import threading

    from lakehouse.pipeline.stream import run_stream, stop_on_signals

    if trigger_s is not None:
        settings = settings.model_copy(
            update={"stream": settings.stream.model_copy(update={"trigger_s": trigger_s})}
        )
    spark = _spark(settings)
    lock = settings.lock.model_copy(update={"wait_s": settings.stream.lock_wait_s})
    waiting = settings.model_copy(update={"lock": lock})

    @contextlib.contextmanager
    def cycle_scope():
        """A cycle holds the lake's lock, and reports as one run of the job ``stream``
        (its metrics pushed when it ends, as a scheduled command's are)."""
        with job_metrics.reported("stream", settings, source, scheduled=True), _lake_lock(waiting):
            yield

    described: set = set()

    def after_cycle(cycle) -> None:
        # the catalog checks every table's meaning: only worth it when a table appeared
        from lakehouse.io.delta import is_delta_table
        from lakehouse.tables import NAMED_TABLES

        if settings.catalog.enabled:
            present = {t for t in NAMED_TABLES if is_delta_table(spark, settings.table_path(*t))}
            if present - described:
                _register_new_tables(settings)
                described.update(present)
        if cycle.changed:
            _write_data_docs(spark, settings)
        click.echo(cycle.summary())
        _check_gates(settings, cycle.reports)

    def on_report(report) -> None:
        if report.batches:  # a cycle with nothing new prints one line, not one per table
            _print_report(report)

    click.echo(f"streaming every {settings.stream.trigger_s:g} s (SIGTERM stops it)")
    with stop_on_signals(threading.Event()) as stop:
        done = run_stream(
            spark,
            settings,
            lock=cycle_scope,
            stop=stop,
            source=source,
            cycles=cycles,
            on_report=on_report,
            after_cycle=after_cycle,
        )
    click.echo(f"stream stopped after {done} cycle(s)")


def _note_policy(outcome) -> None:
    """The retraining policy's checks and gate decisions, for the job's metrics."""
    run = job_metrics.current()
    if run is None:
        return
    run.drift_checks, run.live_checks = outcome.drift, outcome.live
    if outcome.refused or outcome.promoted:
        run.promoted = not outcome.refused


def _ml_errors():
    """ClickExceptions for the errors a user can act on."""
    from lakehouse.ml.datasets import InsufficientDataError
    from lakehouse.ml.promotion import PromotionError
    from lakehouse.ml.reproduce import ReproductionError
    from lakehouse.ml.serialization import UnsafeModelError

    return (InsufficientDataError, PromotionError, ReproductionError, UnsafeModelError)


def _registered_name(settings: Settings, model: str) -> str:
    """The registry's name for ``model`` (``delivery`` is registered as ``delivery_date``)."""
    return getattr(settings.ml, model).registered_name


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from exc


class PromotionRefused(click.ClickException):
    """The promotion gate refused the challenger: the champion stays (exit code 3)."""

    exit_code = EXIT_PROMOTION_REFUSED


@cli.command()
@common_options
@click.argument("task", type=click.Choice(MODELS))
@click.option("--version", "table_version", type=int, default=None, help="Gold version to read.")
def train(settings, task, table_version):
    """Train, evaluate, log and register a model (it becomes the challenger)."""
    from lakehouse.ml.training import train_model

    try:
        result = train_model(_spark(settings), settings, task, version=table_version)
    except _ml_errors() as exc:
        _fail(exc)
    click.echo(result.summary())


@cli.command()
@common_options
@click.argument("model", type=click.Choice(MODELS), required=False)
@writes_lake
def retrain(settings, model):
    """Retrain MODEL (or every model) if the policy says so, then the promotion gate.

    The policy (ml.retrain): a Gold version newer than the last training run, and no champion
    yet, drift in the rows newer than the champion's training data (recorded in
    audit/feature_drift), or the champion's live performance below its baseline's. Exits 3
    when the gate refused a challenger (the champion stays).
    """
    from lakehouse.ml.lifecycle import retrain_by_policy

    try:
        outcome = retrain_by_policy(_spark(settings), settings, None if model is None else [model])
    except _ml_errors() as exc:
        _fail(exc)
    for line in outcome.lines:
        click.echo(line)
    _note_policy(outcome)
    if outcome.refused:
        raise PromotionRefused(
            f"the gate refused the challenger of {', '.join(outcome.refused)}: the champion stays"
        )


@cli.command()
@common_options
@click.argument("model", type=click.Choice(MODELS))
@click.option("--force", is_flag=True, help="Promote even if the gate refuses (recorded).")
def promote(settings, model, force):
    """Make the challenger champion if it beats the champion on the same held-out rows."""
    from lakehouse.ml.promotion import PromotionRefusedError
    from lakehouse.ml.promotion import promote as promote_model

    run = job_metrics.current()
    try:
        gate, event = promote_model(_spark(settings), settings, model, force=force)
    except PromotionRefusedError as exc:
        if run is not None:
            run.promoted = False
        raise PromotionRefused(str(exc)) from exc
    except _ml_errors() as exc:
        _fail(exc)
    if run is not None:
        run.promoted = event["passed_gate"]  # None: a finished interrupted promotion
    name = _registered_name(settings, model)
    click.echo(f"{event['event']}: {name} v{event['version']} is champion. {gate.describe()}")


@cli.command()
@common_options
@click.argument("model", type=click.Choice(MODELS))
def rollback(settings, model):
    """Move champion back to the previous champion."""
    from lakehouse.ml.promotion import rollback as rollback_model

    try:
        previous, current = rollback_model(settings, model)
    except _ml_errors() as exc:
        _fail(exc)
    click.echo(f"rollback: {_registered_name(settings, model)} champion v{previous} -> v{current}")


@cli.command()
@common_options
@click.argument("run_id")
def reproduce(settings, run_id):
    """Re-read a run's training data by time travel, verify it, retrain, compare metrics."""
    from lakehouse.ml.reproduce import reproduce as reproduce_run

    try:
        report = reproduce_run(_spark(settings), settings, run_id)
    except _ml_errors() as exc:
        _fail(exc)
    click.echo(report.render())
    if not report.ok:
        sys.exit(1)


@cli.command()
@common_options
@click.option("--email", "emails", multiple=True, help="A customer's e-mail (repeatable).")
@click.option("--customer-id", "customer_ids", multiple=True, help="A customer id (repeatable).")
@click.option("--account-id", "account_ids", multiple=True, help="An account id (repeatable).")
@click.option(
    "--file",
    "subjects_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A CSV of subjects for a bulk request: header kind,value (email, customer_id, "
    "account_id).",
)
@writes_lake
def forget(settings, emails, customer_ids, account_ids, subjects_file):
    """Erase data subjects from every table and version, and from the models' artifacts."""
    from lakehouse.erasure import Subject, read_subjects
    from lakehouse.erasure import forget as forget_subjects

    try:
        subjects = [Subject.of("email", v) for v in emails]
        subjects += [Subject.of("customer_id", v) for v in customer_ids]
        subjects += [Subject.of("account_id", v) for v in account_ids]
        if subjects_file is not None:
            subjects += read_subjects(subjects_file)
        report = forget_subjects(_spark(settings), settings, subjects)
    except ValueError as exc:
        _fail(exc)
    for line in report.lines():
        click.echo(line)


@cli.command()
@common_options
@click.option("--dry-run", is_flag=True, help="Only say what would be compacted and deleted.")
@writes_lake
def maintain(settings, dry_run):
    """OPTIMIZE and VACUUM every table, keeping the versions aliased models need."""
    from lakehouse.maintenance import maintain as maintain_lake

    for result in maintain_lake(_spark(settings), settings, dry_run=dry_run):
        click.echo(result.render())


@cli.command()
@common_options
@click.argument("task", type=click.Choice(MODELS))
@click.option("--model-version", default=None, help="Registered version (default: --alias).")
@click.option("--alias", default="champion", show_default=True, help="Alias to score with.")
@click.option("--version", "table_version", type=int, default=None, help="Gold version to score.")
@writes_lake
def score(settings, task, model_version, alias, table_version):
    """Batch predictions for every Gold row with the model the service uses.

    Writes gold/delivery_predictions or gold/fraud_scores: key, prediction, model name and
    version, and the Gold version scored; unchanged inputs write nothing.
    """
    from lakehouse.ml.scoring import ScoringError, score_table

    # (the model runs in Spark's Python workers: lakehouse.spark points them at this
    # interpreter in local mode, infra/spark-submit.sh on a cluster)
    try:
        result = score_table(
            _spark(settings),
            settings,
            task,
            model_version=model_version,
            alias=alias,
            table_version=table_version,
        )
    except ScoringError as exc:
        _fail(exc)
    click.echo(result.summary())


@cli.command()
@common_options
@click.option("--host", default=None, help="Interface to bind (default: serve.host).")
@click.option("--port", default=None, type=int, help="Port (default: serve.port).")
def serve(settings, host, port):
    """The prediction service (delivery dates, fraud scores) over HTTP; no Spark inside.

    Loads the champion of each model, the reference data and account state from the lake,
    then follows the registry: a moved champion is loaded and swapped in without downtime.
    """
    import uvicorn

    from serving.main import create_app
    from serving.request_log import configure_logging

    configure_logging(logging.getLevelName(logging.getLogger().level))
    uvicorn.run(
        create_app(settings=settings),
        host=host or settings.serve.host,
        port=settings.serve.port if port is None else port,
        log_config=None,  # keep the request-id log format set above
        access_log=False,  # the service's middleware logs and counts requests
        loop="uvloop",
        http="httptools",
    )


@cli.command()
@common_options
def models(settings):
    """Registered models: aliases, metrics beside baselines, lineage."""
    from lakehouse.ml.report import render_models

    click.echo(render_models(settings))


@cli.command()
@common_options
@click.argument("table")
@click.option("--limit", default=20, show_default=True, help="Newest versions to show.")
def history(settings, table, limit):
    """A table's versions with their operation metrics, e.g. `history gold/delivery_features`."""
    from lakehouse.reporting import print_history
    from lakehouse.tables import parse_table

    try:
        parsed = parse_table(table)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="TABLE") from exc
    print_history(_spark(settings), settings.table_path(*parsed), parsed.key, limit)


@cli.group(name="catalog")
def catalog_group() -> None:
    """Tables by name: one database per layer (`SELECT * FROM gold.payments_unified`)."""


@catalog_group.command(name="sync")
@common_options
@click.option(
    "--names-only",
    is_flag=True,
    help="Register names only: no comments or properties (no metadata commits).",
)
@writes_lake
def catalog_sync(settings, names_only):
    """Rebuild the catalog from the lake: register and describe every table, drop the names
    of tables the lake no longer holds."""
    from lakehouse import catalog

    spark = _spark(settings, catalog=True)
    try:
        done = catalog.sync(spark, settings, with_meaning=not names_only)
    except catalog.CatalogError as exc:
        _fail(exc)
    for registration in done:
        click.echo(f"{registration.action:<11} {registration.name:<40} {registration.location}")
    click.echo(f"catalog: {len(done)} tables")


@cli.command()
@common_options
@click.argument("query")
@click.option("--limit", default=100, show_default=True, help="Rows to print at most.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="json: one JSON object per line.",
)
@click.option(
    "--remote",
    default=None,
    envvar="LAKEHOUSE_SQL_REMOTE",
    help="A running `lakehouse sql-server`'s Spark Connect URL (sc://host:15002): no JVM "
    "here (LAKEHOUSE_SQL_REMOTE).",
)
def sql(settings, query, limit, output, remote):
    """Run one read-only query on the lake's catalog and print the result, e.g.
    `lakehouse sql "SELECT * FROM gold.delivery_features VERSION AS OF 3 LIMIT 5"`."""
    from lakehouse.catalog.query import QueryError, WriteRefusedError, render, run_query

    try:
        frame = run_query(settings, query, limit=limit, remote=remote)
    except WriteRefusedError as exc:
        raise click.UsageError(str(exc)) from exc
    except QueryError as exc:
        _fail(exc)
    click.echo(render(frame, output), nl=False)


@cli.command(name="sql-server")
@common_options
@click.option("--host", default=None, help="Interface to bind (default: catalog.host).")
@click.option("--connect-port", type=int, default=None, help="Spark Connect port.")
@click.option("--thrift-port", type=int, default=None, help="Thrift (JDBC/ODBC) port.")
@click.option("--no-thrift", is_flag=True, help="Spark Connect only.")
def sql_server(settings, host, connect_port, thrift_port, no_thrift):
    """Serve the lake's catalog: Spark Connect for notebooks, Thrift (JDBC/ODBC) for BI tools,
    until SIGTERM."""
    from lakehouse.catalog.server import run as run_server

    run_server(
        settings,
        host=host,
        connect_port=connect_port,
        thrift_port=thrift_port,
        thrift=not no_thrift,
    )


@cli.group()
def quarantine() -> None:
    """Quarantined rows: what is held, and replaying it after a fix."""


REPLAY_SOURCES = ("sessions", *PAYMENT_FEEDS)  # the sources with a quarantine


def _quarantine_options(command: Callable) -> Callable:
    command = click.option(
        "--batch",
        "batches",
        multiple=True,
        type=int,
        help="Only rows of this Bronze batch (repeatable).",
    )(command)
    command = click.option(
        "--reason", "reasons", multiple=True, help="Only rows quarantined for this reason."
    )(command)
    return click.option(
        "--source",
        type=click.Choice([*REPLAY_SOURCES, "payments"]),
        default=None,
        help="Only this source (payments: its four feeds); default every one.",
    )(command)


def _replay_sources(source: str | None) -> tuple[str, ...]:
    if source is None:
        return REPLAY_SOURCES
    return PAYMENT_FEEDS if source == "payments" else (source,)


@quarantine.command(name="list")
@common_options
@_quarantine_options
def quarantine_list(settings, source, reasons, batches):
    """Rows held in quarantine and released by replays, per source, reason and Bronze batch."""
    from lakehouse.pipeline.replay import Selection, summarize

    selection = Selection(tuple(reasons), tuple(batches))
    rows = summarize(_spark(settings), settings, _replay_sources(source), selection)
    if not rows:
        click.echo("nothing in quarantine")
        return
    click.echo(f"{'source':<24} {'reason':<28} {'batch':>6} {'held':>8} {'released':>9}")
    for r in rows:
        click.echo(
            f"{r['source']:<24} {r['reason']:<28} {r['bronze_batch_id']:>6} "
            f"{r['held']:>8} {r['released']:>9}"
        )


@quarantine.command(name="replay")
@common_options
@_quarantine_options
@writes_lake
def quarantine_replay(settings, source, reasons, batches):
    """Run held rows through the current rules again (after a fix: an alias, a rule, a
    setting); rows that pass enter Silver once, the rest stay held."""
    from lakehouse.pipeline.replay import Selection, replay

    spark = _spark(settings)
    selection = Selection(tuple(reasons), tuple(batches))
    for name in _replay_sources(source):
        for report in replay(spark, settings, name, selection):
            click.echo(report.summary())


@cli.group(name="api-key")
def api_key() -> None:
    """The prediction service's API keys: make one, revoke one (kept hashed)."""


_KEYS_FILE = click.option(
    "--keys-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The service's keys file (serve.auth.keys_file): the entry is written into it.",
)


@api_key.command(name="create")
@click.argument("key_id")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(["predict", "admin"]),
    help="predict: the prediction endpoints; admin: everything (repeatable).",
)
@_KEYS_FILE
@click.option("--replace", is_flag=True, help="Replace a key of the same id (rotation).")
def api_key_create(key_id, roles, keys_file, replace):
    """Make a key for KEY_ID (it names the caller in metrics). The key is printed once, on
    stdout; only its hash is kept: in --keys-file, or printed for a secret's document."""
    import json

    from lakehouse import api_keys

    key = api_keys.new_key()
    item = api_keys.entry(key_id, key, roles)
    if keys_file is None:
        click.echo(
            "Add this entry to the keys document (serve.auth.keys_file or secrets.api_keys):\n"
            + json.dumps(item),
            err=True,
        )
    else:
        entries = api_keys.read_file(keys_file)
        if any(e["id"] == key_id for e in entries) and not replace:
            raise click.UsageError(
                f"{keys_file} already has a key {key_id!r}: --replace rotates it"
            )
        entries = [e for e in entries if e["id"] != key_id] + [item]
        api_keys.write_file(keys_file, entries)
        click.echo(
            f"{key_id} ({', '.join(item['roles'])}) is in {keys_file} ({len(entries)} keys); "
            "the service reads it at start",
            err=True,
        )
    click.echo(key)


@api_key.command(name="revoke")
@click.argument("key_id")
@_KEYS_FILE
def api_key_revoke(key_id, keys_file):
    """Remove KEY_ID's key from --keys-file."""
    from lakehouse import api_keys

    if keys_file is None:
        raise click.UsageError("--keys-file is required (in a secret: edit its document)")
    entries = api_keys.read_file(keys_file)
    kept = [e for e in entries if e["id"] != key_id]
    if len(kept) == len(entries):
        raise click.UsageError(f"{keys_file} has no key {key_id!r}")
    api_keys.write_file(keys_file, kept)
    click.echo(f"{key_id} revoked in {keys_file} ({len(kept)} keys left)", err=True)


@cli.command()
@common_options
@click.option("--rows", default=5, show_default=True, help="Sample rows of each Gold table.")
def report(settings, rows):
    """What the lake holds: tables, versions, counts, conservation, Gold rows, time travel."""
    from lakehouse.reporting import print_lake_report

    ok = print_lake_report(_spark(settings), settings, sample_rows=rows)
    if not ok:
        sys.exit(1)


@cli.command()
@common_options
@writes_lake
def check(settings):
    """After a run: every source's records and files add up, and each Gold table's current
    version passed its expectation suite; exit 65 when not."""
    from lakehouse.errors import DataQualityError
    from lakehouse.reporting import check_lake

    # (under the writer lock: the tables it adds up are read as one state of the lake)
    problems = check_lake(_spark(settings), settings)
    if problems:
        raise DataQualityError(f"lake check failed: {'; '.join(problems)} (see `lakehouse report`)")
    click.echo("lake check passed")


@cli.command()
@common_options
@click.option("--workdir", default="data/demo", show_default=True, type=click.Path(path_type=Path))
@click.option(
    "--sessions", "documents", default=20_000, show_default=True, help="Session documents."
)
@click.option("--transactions", default=20_000, show_default=True, help="Payment transactions.")
@click.option("--seed", default=7, show_default=True)
def demo(settings, workdir, documents, transactions, seed):
    """Generate data, run the pipeline as it arrives in two waves, print the lake."""
    from lakehouse.demo import run_demo
    from lakehouse.io.files import empty_folder, top_level_names, write_marker
    from lakehouse.io.lake_lock import LOCK_FILE
    from lakehouse.storage import is_s3_uri

    # the demo owns its folders (it empties them) unless --landing / --lake say otherwise:
    # then it takes only an empty folder, or one an earlier demo marked as its own
    defaults = load_settings(settings.env)
    given = []
    if settings.landing_root == defaults.landing_root:
        settings = settings.model_copy(update={"landing_root": str(workdir / "landing")})
    elif is_s3_uri(settings.landing_root):
        raise click.UsageError(
            "the demo generates its landing zone on this machine: --landing "
            "must be a local folder (the lake may be on S3)"
        )
    else:
        given.append(settings.landing_root)
    if settings.lake_root == defaults.lake_root:
        settings = settings.model_copy(update={"lake_root": str(workdir / "lake")})
    else:
        given.append(settings.lake_root)
    # a --workdir whose folders are the configured landing zone or lake is not the demo's
    real = {join_uri(defaults.landing_root), join_uri(defaults.lake_root)}
    given += [r for r in (settings.landing_root, settings.lake_root) if join_uri(r) in real]
    with _lake_lock(settings):
        for root in given:
            names = top_level_names(root, settings.storage) - {LOCK_FILE}
            if names and DEMO_MARKER not in names:
                raise click.UsageError(
                    f"{root} holds data the demo did not write ({len(names)} entries): the "
                    "demo empties its folders, so give it an empty folder or an earlier demo's"
                )
        for root in (settings.landing_root, settings.lake_root):
            # (the lock file stays: another demo must not take a fresh one meanwhile)
            empty_folder(root, settings.storage, keep=[LOCK_FILE])
            write_marker(root, DEMO_MARKER, "written by `lakehouse demo`\n", settings.storage)
        ok = run_demo(
            _spark(settings),
            settings,
            workdir,
            documents=documents,
            transactions=transactions,
            seed=seed,
        )
    if not ok:
        sys.exit(1)


@cli.command()
@click.option("--url", required=True, envvar="SERVICE_URL", help="The service (SERVICE_URL).")
@click.option(
    "--api-key", envvar="LAKEHOUSE_API_KEY", default=None, help="A predict key (LAKEHOUSE_API_KEY)."
)
@click.option("--wait-ready", default=120.0, show_default=True, help="Seconds /ready may take.")
@click.option(
    "--record",
    "records",
    multiple=True,
    type=(click.Choice(MODELS), click.Path(exists=True, dir_okay=False, path_type=Path)),
    metavar="MODEL FILE",
    help="Score this JSON record instead of the contract's example (repeatable).",
)
def smoke(url, api_key, wait_ready, records):
    """Smoke-test a deployed service: alive, ready, each answering model scores a record and
    refuses a malformed one. Exit 0 when every check passed, 1 otherwise."""
    import json

    from lakehouse.release.smoke import run_smoke

    given = {model: json.loads(path.read_text()) for model, path in records}
    result = run_smoke(url, api_key, wait_ready_s=wait_ready, records=given)
    for check in result.checks:
        click.echo(check.line())
    click.echo(f"smoke test {'passed' if result.passed else 'FAILED'} against {url}")
    if not result.passed:
        sys.exit(1)


@cli.command(name="canary-judge")
@click.option("--prometheus", required=True, help="Prometheus' base URL.")
@click.option("--baseline", required=True, help='The stable pods\' labels: {pod=~"web-.*"}.')
@click.option("--canary", required=True, help="The canary's labels, likewise.")
@click.option("--window", default="10m", show_default=True, help="How long to watch: 90s, 10m.")
@click.option("--interval", default="15s", show_default=True, help="How often to look.")
@click.option("--max-error-rate", default=0.01, show_default=True, help="5xx share allowed.")
@click.option("--error-margin", default=0.005, show_default=True, help="Over the baseline's.")
@click.option("--p99-floor", default="25ms", show_default=True, help="p99 always allowed.")
@click.option("--p99-ratio", default=1.5, show_default=True, help="p99 vs the baseline's.")
@click.option("--min-requests", default=100, show_default=True, help="Canary traffic needed.")
def canary_judge(
    prometheus,
    baseline,
    canary,
    window,
    interval,
    max_error_rate,
    error_margin,
    p99_floor,
    p99_ratio,
    min_requests,
):
    """Watch a canary against the baseline in Prometheus; exit 0 to promote it, 1 to roll
    it back (errors or latency above the limits, too little traffic, or no Prometheus)."""
    from lakehouse.release.canary import JudgeError, Prometheus, Thresholds, judge, matchers

    try:
        matchers(baseline), matchers(canary)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    limits = Thresholds(
        max_error_rate=max_error_rate,
        error_margin=error_margin,
        p99_floor_s=_seconds(p99_floor),
        p99_ratio=p99_ratio,
        min_requests=min_requests,
    )
    client = Prometheus(prometheus)
    try:
        verdict = judge(
            client,
            baseline,
            canary,
            window_s=int(_seconds(window)),
            interval_s=_seconds(interval),
            limits=limits,
            report=click.echo,
        )
    except JudgeError as exc:
        click.echo(f"ROLL BACK: {exc}")
        sys.exit(1)
    finally:
        client.close()
    if verdict.promote:
        click.echo(f"PROMOTE: canary {verdict.canary.describe()}")
        return
    click.echo("ROLL BACK: " + "; ".join(verdict.reasons))
    sys.exit(1)


def _seconds(text: str) -> float:
    """``250ms``, ``90s``, ``10m``, ``1h`` or a bare number of seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    value = str(text).strip()
    for unit in ("ms", "s", "m", "h"):
        if value.endswith(unit):
            number, scale = value[: -len(unit)], units[unit]
            break
    else:
        number, scale = value, 1.0
    try:
        seconds = float(number) * scale
    except ValueError:
        raise click.UsageError(f"{text!r} is not a duration such as 250ms, 90s or 10m") from None
    if seconds <= 0:
        raise click.UsageError(f"{text!r}: a duration must be positive")
    return seconds


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point.

    An error a user can act on (``LakehouseError``: configuration, missing jars or key, a
    failed step, a failed data-quality gate, ...) ends the command with one line on stderr and
    its exit code; ``-v`` adds the traceback to the log. Anything else is a crash: its
    traceback is logged and the command exits with ``EXIT_CRASH`` (70), so that a scheduler
    tells a bug apart from bad data (65) or a bad command line or configuration (2).
    """
    try:
        cli.main(args=argv, prog_name="lakehouse", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.message = scrub(exc.message)
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except LakehouseError as exc:
        log.debug("%s", type(exc).__name__, exc_info=True)
        click.echo(f"lakehouse: error: {scrub(exc.one_line())}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a crash: the traceback, and an exit code of its own
        log.critical("crash: %s", type(exc).__name__, exc_info=True)
        click.echo(f"lakehouse: crash ({type(exc).__name__}): see the traceback above", err=True)
        sys.exit(EXIT_CRASH)
